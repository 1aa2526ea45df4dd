"""The quick modes of benchmarks/paper/ (the paper's experiments in miniature): each runs, writes
its md, json and png to a temporary folder, never over the committed results."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def run_quick(script):
    committed = {p.name: p.read_bytes() for p in RESULTS.glob("paper_*")}
    completed = subprocess.run([sys.executable, f"benchmarks/paper/{script}", "--quick"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert {p.name: p.read_bytes() for p in RESULTS.glob("paper_*")} == committed
    out = Path(completed.stdout.strip().splitlines()[-1].split("written to ")[1].split(" in ")[0])
    assert out != RESULTS
    return out, completed.stdout


def test_speed_vs_rcnn_quick():
    out, stdout = run_quick("speed_vs_rcnn.py")
    data = json.loads((out / "paper_speed.json").read_text())
    (row,) = data["rows"]
    assert row["proposals"] == 50 and row["speedup"] > 1 and row["speedup_svd"] > 1
    assert (out / "paper_speed.png").stat().st_size > 0
    assert "| 50 |" in (out / "paper_speed.md").read_text()


def test_hierarchical_sampling_quick():
    out, stdout = run_quick("hierarchical_sampling.py")
    data = json.loads((out / "paper_sampling.json").read_text())
    assert data["iters"] == {"N=2, R=128": 6, "N=128, R=128": 2}
    for run in data["runs"].values():
        assert all(np.isfinite(run["loss"])) and run["seconds"] == sorted(run["seconds"])
    assert data["step_cost_ratio"] > 1
    assert (out / "paper_sampling.png").stat().st_size > 0


def test_more_proposals_quick():
    out, stdout = run_quick("more_proposals.py")
    data = json.loads((out / "paper_proposals.json").read_text())
    kinds = [row["kind"] for row in data["rows"]]
    assert kinds.count("selective search") == 5 and kinds.count("dense") == 3 and "both" in kinds
    by_setting = {row["setting"]: row for row in data["rows"]}
    # More boxes never lower recall: the first 25 are among the first 50, and so on.
    recalls = [by_setting[f"selective search, first {n}"]["recall_05"] for n in (25, 50, 100, 200)]
    assert recalls == sorted(recalls)
    assert by_setting["selective search + dense"]["recall_05"] >= \
        by_setting["selective search, all"]["recall_05"]
    assert all(0 <= row["mAP"] <= 1 for row in data["rows"])
    assert (out / "paper_proposals.png").stat().st_size > 0


def test_svm_vs_softmax_quick():
    out, stdout = run_quick("svm_vs_softmax.py")
    data = json.loads((out / "paper_svm.json").read_text())
    assert 0 <= data["softmax"]["mAP"] <= 1
    (run,) = data["svm"]
    assert run["seed"] == 0 and 0 <= run["mAP"] <= 1
    assert set(run["ap"]) == set(data["classes"]) == set(data["softmax"]["ap"])
    # Hard negative mining only ever adds negatives.
    for c in {m["class"] for m in run["mining"]}:
        counts = [m["negatives"] for m in run["mining"] if m["class"] == c]
        assert counts == sorted(counts)
    assert "| **mAP** |" in (out / "paper_svm.md").read_text()
    assert (out / "paper_svm.png").stat().st_size > 0


def per_seed(data, arms):
    """{arm: [mAP of each seed]} of a training experiment's json."""
    return {arm: [run[arm]["mAP"] for run in data["runs"]] for arm in arms}


def test_multitask_quick():
    out, stdout = run_quick("multitask.py")
    data = json.loads((out / "paper_multitask.json").read_text())
    assert data["seeds"] == [0, 1] and data["iters"] == 3
    arms = ["classification only", "multi-task, no box regression at test", "stage-wise",
            "multi-task"]
    maps = per_seed(data, arms)
    assert all(0 <= value <= 1 for values in maps.values() for value in values)
    text = (out / "paper_multitask.md").read_text()
    assert all(f"| {arm} |" in text for arm in arms) and "±" in text
    assert (out / "paper_multitask.png").stat().st_size > 0


def test_finetune_layers_quick():
    out, stdout = run_quick("finetune_layers.py")
    data = json.loads((out / "paper_finetune.json").read_text())
    maps = per_seed(data, ["fc6", "conv2_1", "conv1_1"])
    assert all(len(values) == 2 for values in maps.values())
    assert all(run[arm]["seconds_per_iteration"] > 0 for run in data["runs"] for arm in maps)
    assert "| fc6 and up |" in (out / "paper_finetune.md").read_text()


def test_scales_quick():
    out, stdout = run_quick("scales.py")
    data = json.loads((out / "paper_scales.json").read_text())
    arms = [f"train {a}, test {b}" for a in ("1 scale", "5 scales") for b in ("1 scale", "5 scales")]
    for run in data["runs"]:
        assert set(arms) <= set(run)
        assert all(run[arm]["seconds_per_image"] > 0 for arm in arms)
    assert "| 5 scales | 5 scales |" in (out / "paper_scales.md").read_text()
    assert (out / "paper_scales.png").stat().st_size > 0
