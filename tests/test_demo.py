"""`minifrcnn demo` end to end, on a handful of images and a few seconds of training."""

import math
import os
import subprocess
import sys

from minifrcnn.demo import run_demo


def test_demo_runs_every_step_and_writes_its_pictures(tmp_path, capsys):
    lines = []
    summary = run_demo(tmp_path / "demo", minutes=0.05, n_train=4, n_test=2, progress=False,
                       log=lines.append)
    paths = summary["paths"]
    assert set(paths) == {"data", "model", "loss curve", "precision-recall", "detections"}
    for name in ("model", "loss curve", "precision-recall", "detections"):
        assert os.path.getsize(paths[name]) > 1000, name
    assert 0 <= summary["mAP"] <= 1 or math.isnan(summary["mAP"])
    assert [line[:4] for line in lines if line[:1].isdigit()] == ["1/4 ", "2/4 ", "3/4 ", "4/4 "]
    assert any("mAP" in line for line in lines)
    # What the command prints at the end: an AP and an object count per class.
    assert set(summary["objects"]) == set(summary["ap"])
    # The library says things only through `log`; printing is the command's job.
    assert capsys.readouterr().out == ""


def test_demo_help():
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "demo", "--help"],
                               capture_output=True, text=True)
    assert completed.returncode == 0
    assert "--out" in completed.stdout and "--minutes" in completed.stdout
