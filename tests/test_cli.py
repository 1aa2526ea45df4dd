"""The `minifrcnn` command line: `gradcheck` (the command a student runs to see every backward
pass proven), and `info`, `synth` and `inspect` as a user would call them.

Run both as a real process (`python -m minifrcnn ...`, what a user types) and in-process through
minifrcnn.cli.main (fast, and lets a test swap in a broken layer).
"""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import minifrcnn.gradcheck
import minifrcnn.layers
from minifrcnn.cli import main

ALL_LAYERS = ["conv2d", "relu", "maxpool2d", "linear", "dropout", "roi_pool",
              "softmax_cross_entropy", "smooth_l1_loss", "multitask_loss", "fast_rcnn",
              "linear_svd", "fast_rcnn_svd"]


def run_cli(*args):
    """Run `python -m minifrcnn ARGS` as a separate process; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "minifrcnn", *args],
                          capture_output=True, text=True, timeout=60)


def table_rows(stdout):
    """The rows of the printed table, each as (layer, shapes, max rel error, result).

    The table starts after the dashed rule under the header and ends at the first blank line;
    columns are separated by two or more spaces.
    """
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    header = re.split(r"\s{2,}", lines[rule - 1].strip())
    assert header == ["layer", "shapes", "max rel error", "result"]
    rows = []
    for line in lines[rule + 1:]:
        if not line.strip():
            break
        rows.append(tuple(re.split(r"\s{2,}", line.strip())))
    return rows


def test_gradcheck_command_passes_and_prints_a_row_per_check():
    """A real `python -m minifrcnn gradcheck`: exit 0, one row per suite case, every layer
    named, every row 'pass' with a small error, and a summary line."""
    completed = run_cli("gradcheck")
    assert completed.returncode == 0, completed.stderr
    rows = table_rows(completed.stdout)
    cases = minifrcnn.gradcheck.suite_cases(np.random.default_rng(0))
    assert [row[0] for row in rows] == [case.layer for case in cases]
    assert [row[1] for row in rows] == [case.shapes for case in cases]
    assert set(row[0] for row in rows) == set(ALL_LAYERS)
    for layer, shapes, error, result in rows:
        assert result == "pass", f"{layer} {shapes}"
        assert float(error) < 1e-6
    assert f"{len(rows)} of {len(rows)} checks passed" in completed.stdout
    assert "FAIL" not in completed.stdout
    assert completed.stderr == ""


@pytest.mark.parametrize("seed", ["0", "1", "7"])
def test_gradcheck_in_process_for_several_seeds(capsys, seed):
    """main(["gradcheck", "--seed", S]) returns 0, names the seed and lists every layer."""
    assert main(["gradcheck", "--seed", seed]) == 0
    out = capsys.readouterr().out
    assert f"seed {seed}" in out
    rows = table_rows(out)
    assert len(rows) == len(minifrcnn.gradcheck.suite_cases(np.random.default_rng(int(seed))))
    assert set(row[0] for row in rows) == set(ALL_LAYERS)
    assert all(row[3] == "pass" for row in rows)


def test_layer_option_limits_the_rows(capsys):
    """--layer roi_pool prints only RoI pooling's checks (the suite has two of them)."""
    assert main(["gradcheck", "--layer", "roi_pool"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == ["roi_pool", "roi_pool"]


def test_layer_option_is_repeatable(capsys):
    """--layer twice runs both layers and nothing else."""
    assert main(["gradcheck", "--layer", "relu", "--layer", "smooth_l1_loss"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == ["relu", "smooth_l1_loss"]


def test_unknown_layer_exits_2_with_a_message_and_no_traceback():
    """A typo in --layer is a usage error: exit status 2, the bad name and the valid choices on
    stderr, no Python traceback, no table."""
    completed = run_cli("gradcheck", "--layer", "roi_pooling")
    assert completed.returncode == 2
    assert "unknown layer roi_pooling" in completed.stderr
    for layer in ALL_LAYERS:
        assert layer in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert "max rel error" not in completed.stdout


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed: must be a non-negative integer, got '-1'"),
    (["--tol", "nan"], "--tol: must be a positive number, got 'nan'"),
    (["--tol", "0"], "--tol: must be a positive number, got '0'"),
])
def test_bad_seed_or_tolerance_is_a_usage_error(args, message):
    """A negative seed or a tolerance that is not a positive number: exit status 2 and a message
    naming the option, no traceback."""
    completed = run_cli("gradcheck", *args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_unknown_layer_in_process(capsys):
    assert main(["gradcheck", "--layer", "nope"]) == 2
    captured = capsys.readouterr()
    assert "unknown layer nope" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("args, expected", [
    (["--help"], ["gradcheck", "usage: minifrcnn"]),
    (["gradcheck", "--help"], ["--seed", "--tol", "--layer", "usage: minifrcnn gradcheck"]),
])
def test_help_exits_0(args, expected):
    """`minifrcnn --help` and `minifrcnn gradcheck --help` print usage and exit 0."""
    completed = run_cli(*args)
    assert completed.returncode == 0
    for text in expected:
        assert text in completed.stdout


def test_no_command_prints_help_and_exits_0(capsys):
    assert main([]) == 0
    assert "gradcheck" in capsys.readouterr().out


def test_help_in_process_exits_0(capsys):
    """argparse's --help leaves through SystemExit(0)."""
    with pytest.raises(SystemExit) as leaving:
        main(["gradcheck", "--help"])
    assert leaving.value.code == 0
    assert "--layer" in capsys.readouterr().out


def test_impossible_tolerance_fails_every_check():
    """--tol 1e-30: no finite-difference check can be that close, so every row reads FAIL and
    the exit status is non-zero; the failures are explained below the table."""
    completed = run_cli("gradcheck", "--tol", "1e-30", "--layer", "relu")
    assert completed.returncode != 0
    rows = table_rows(completed.stdout)
    assert rows and all(row[3] == "FAIL" for row in rows)
    assert "0 of 1 checks passed" in completed.stdout
    assert "gradcheck FAILED" in completed.stdout


def wrong_relu_backward(dout, cache):
    """MISTAKE: lets the gradient through everywhere, as if ReLU were the identity."""
    return dout


def test_broken_layer_fails_its_row_only(monkeypatch, capsys):
    """With a wrong ReLU backward swapped into the suite, the relu row reads FAIL, and so do the
    whole network's, compressed or not (they are built of ReLUs); the others still pass, the exit
    status is 1, and the failure is explained (worst element, both values)."""
    monkeypatch.setattr(minifrcnn.layers, "relu_backward", wrong_relu_backward)
    assert main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    rows = table_rows(out)
    result = {row[0]: row[3] for row in rows}
    broken = ("relu", "fast_rcnn", "fast_rcnn_svd")
    assert all(result[layer] == "FAIL" for layer in broken)
    assert all(row[3] == "pass" for row in rows if row[0] not in broken)
    assert f"{len(rows) - len(broken)} of {len(rows)} checks passed" in out
    assert "gradcheck FAILED" in out
    assert "worst at" in out


def test_gradcheck_of_the_numba_kernels_passes(capsys):
    """`--backend numba` checks the Numba twins (run in float64) the same way."""
    assert main(["gradcheck", "--backend", "numba", "--layer", "conv2d", "--layer", "maxpool2d",
                 "--layer", "roi_pool"]) == 0
    out = capsys.readouterr().out
    assert "Gradient check of the numba layers" in out
    assert "6 of 6 checks passed" in out


def test_gradcheck_on_an_unavailable_backend_is_a_usage_error(capsys):
    from minifrcnn.backend import available_backends

    if "cuda" in available_backends():
        pytest.skip("a GPU is visible here")
    assert main(["gradcheck", "--backend", "cuda"]) == 2
    assert "backend 'cuda' cannot run here" in capsys.readouterr().err


def test_synth_then_inspect_round_trip(tmp_path, capsys):
    """`minifrcnn synth` writes a dataset that `minifrcnn inspect` reads clean, with the per-class
    counts synth reported (normal + difficult) and the split sizes asked for."""
    from minifrcnn.data.synth import write_synthetic_voc

    out = tmp_path / "shapes"
    assert main(["synth", str(out), "--train", "8", "--test", "4", "--seed", "3"]) == 0
    assert "wrote 12 images" in capsys.readouterr().out
    expected = write_synthetic_voc(tmp_path / "again", 8, 4, seed=3, progress=False)
    totals = {}
    for split, count in (("trainval", 8), ("test", 4)):
        assert main(["inspect", str(out), "--split", split, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["images"] == summary["valid_images"] == count
        for name, counts in summary["objects"].items():
            totals[name] = totals.get(name, 0) + counts["normal"] + counts["difficult"]
    assert totals == {name: n for name, n in expected["objects"].items() if n}


def test_inspect_of_a_broken_dataset_exits_1_naming_the_file(tmp_path):
    """A malformed annotation: exit status 1, the file named, no traceback."""
    out = tmp_path / "shapes"
    assert main(["synth", str(out), "--train", "2", "--test", "1"]) == 0
    (out / "Annotations" / "000001.xml").write_text("<annotation><object>")
    completed = run_cli("inspect", str(out))
    assert completed.returncode == 1
    assert "000001.xml" in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


@pytest.mark.parametrize("command", ["synth", "inspect", "proposals", "train", "detect",
                                     "evaluate", "demo"])
def test_commands_have_help(command):
    completed = run_cli(command, "--help")
    assert completed.returncode == 0 and f"usage: minifrcnn {command}" in completed.stdout
    # argparse does not %-format descriptions: a doubled percent sign would show as "%%".
    assert "%%" not in completed.stdout


@pytest.mark.parametrize("args, message", [
    (["detect", "model.npz", "a.jpg"], "the following arguments are required: --out"),
    (["detect", "model.npz", "a.jpg", "--out", "d", "--nms", "1.5"], "must be a number in [0, 1]"),
    (["evaluate", "model.npz"], "the following arguments are required: DATA"),
    (["demo", "--minutes", "0"], "must be a positive number"),
])
def test_detection_commands_usage_errors(args, message):
    completed = run_cli(*args)
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_proposals_command_computes_then_reuses_the_cache(tmp_path, capsys):
    """`minifrcnn proposals` computes every image once, then loads them from the cache."""
    out = tmp_path / "shapes"
    assert main(["synth", str(out), "--train", "2", "--test", "1"]) == 0
    capsys.readouterr()
    plot = tmp_path / "recall.png"
    assert main(["proposals", str(out), "--split", "test", "--plot", str(plot)]) == 0
    first = capsys.readouterr().out
    assert "computed 1" in first and "IoU>=0.7" in first and plot.is_file()
    assert main(["proposals", str(out), "--split", "test", "--no-recall"]) == 0
    assert "loaded 1 from cache" in capsys.readouterr().out


def test_proposals_of_a_missing_dataset_exits_1_without_traceback(tmp_path):
    completed = run_cli("proposals", str(tmp_path / "nowhere"))
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr + completed.stdout
