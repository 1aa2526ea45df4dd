"""`minifrcnn demo` end to end, on a handful of images and a few iterations of training."""

import os
import subprocess
import sys

import numpy as np

from minifrcnn.demo import DEMO_ITERS, DEMO_TEST_OPTIONS, departures, run_demo
from minifrcnn.model import CONFIGS
from minifrcnn.train import TrainSettings


def test_demo_runs_every_step_and_repeats_its_numbers_in_its_own_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    runs = []
    for _ in range(2):          # the second run overwrites the first one's files without asking
        lines = []
        summary = run_demo(out, iters=6, n_train=4, n_test=3, progress=False, log=lines.append)
        with np.load(summary["paths"]["model"]) as model:
            weights = {key: model[key] for key in model.files if key != "meta"}
        runs.append((summary, lines, weights))
    (first, lines, weights), (second, _, weights_again) = runs
    paths = first["paths"]
    assert set(paths) == {"data", "model", "checkpoint", "loss curve", "precision-recall",
                          "detections"}
    for name in ("model", "checkpoint", "loss curve", "precision-recall", "detections"):
        assert os.path.getsize(paths[name]) > 1000, name
    assert first["iterations"] == second["iterations"] == 6
    # Bounded by iterations with a fixed seed, the demo repeats itself exactly.
    assert first["ap"].keys() == second["ap"].keys()
    assert np.array_equal(list(first["ap"].values()), list(second["ap"].values()), equal_nan=True)
    assert weights.keys() == weights_again.keys()
    assert all(np.array_equal(weights[key], weights_again[key]) for key in weights)
    assert [line[:4] for line in lines if line[:1].isdigit()] == ["1/4 ", "2/4 ", "3/4 ", "4/4 "]
    assert any(line.startswith("     mAP ") for line in lines)
    assert any("6 iterations" in line for line in lines)
    # Every departure from the paper's recipe is said before the work starts.
    said = lines[1:1 + len(first["departures"])]
    assert [line.strip(" -") for line in said] == first["departures"]
    # What the command prints at the end: an AP and an object count per class.
    assert set(first["objects"]) == set(first["ap"])
    # The library says things only through `log`; printing is the command's job.
    assert capsys.readouterr().out == ""


def test_departures_name_what_the_demo_changes():
    settings = TrainSettings(data="d", out="m.npz", iters=DEMO_ITERS, transpose=True)
    found = departures(settings, CONFIGS["small"], DEMO_TEST_OPTIONS)
    text = "\n".join(found)
    for expected in ("instead of VGG16", "random initial weights", "learning rate 0.02",
                     f"{DEMO_ITERS} iterations", "training scales 160, 192, 224, 256, 288",
                     "colour shuffling", "transposed training images", "averaged over 4 views"):
        assert expected in text, expected
    plain = departures(TrainSettings(data="d", out="m.npz", iters=10, shuffle_colours=False),
                       CONFIGS["small"], {})
    assert not any("colour" in line or "transposed" in line or "views" in line for line in plain)


def test_demo_help():
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "demo", "--help"],
                               capture_output=True, text=True)
    assert completed.returncode == 0
    assert "--out" in completed.stdout and "--iters" in completed.stdout
    assert "--minutes" in completed.stdout
