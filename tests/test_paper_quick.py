"""The quick modes of benchmarks/paper/ (the paper's experiments in miniature): each runs, writes
its md, json and png to a temporary folder, never over the committed results."""

import json
import subprocess
import sys
from pathlib import Path

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
