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
