"""What a new user meets when something is wrong: one line naming the option or the file, in
the form "minifrcnn COMMAND: what is wrong", no usage dump, no traceback, nothing half-written."""

import os
import re
import subprocess
import sys

import pytest

from minifrcnn.cli import main
from minifrcnn.cli.demo import MARKER

COMMANDS = ["gradcheck", "info", "synth", "inspect", "proposals", "train", "detect", "evaluate",
            "compress", "demo", "check"]


def run_cli(*args, columns=80):
    """`python -m minifrcnn ARGS` in a terminal `columns` wide; returns the CompletedProcess."""
    env = dict(os.environ, COLUMNS=str(columns))
    return subprocess.run([sys.executable, "-m", "minifrcnn", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.mark.parametrize("args, line", [
    (["train", "data", "--out", "m.npz", "--minutes", "abc"],
     "minifrcnn train: --minutes: must be a positive number, got 'abc'"),
    (["train", "data", "--out", "m.npz", "--iters", "1.5"],
     "minifrcnn train: --iters: must be a positive integer, got '1.5'"),
    (["detect", "m.npz", "a.jpg"],
     "minifrcnn detect: the following arguments are required: --out"),
    (["synth", "out", "--train", "many"],
     "minifrcnn synth: --train: must be a non-negative integer, got 'many'"),
    (["evaluate", "m.npz", "data", "--score-threshold", "2"],
     "minifrcnn evaluate: --score-threshold: must be a number in [0, 1], got '2'"),
])
def test_usage_errors_are_one_line_naming_the_option(args, line):
    completed = run_cli(*args)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr == f"{line} (see minifrcnn {args[0]} --help)\n"


def test_an_unknown_command_is_one_line(capsys):
    with pytest.raises(SystemExit) as leaving:
        main(["trian"])
    assert leaving.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("minifrcnn: ") and "trian" in err and err.count("\n") == 1
    assert "usage" not in err


def test_help_lists_each_command_on_one_line():
    """In an 80-column terminal every command's name and description share a line, and every
    command is listed."""
    completed = run_cli("--help")
    assert completed.returncode == 0
    lines = completed.stdout.splitlines()
    listed = [line.split()[0] for line in lines if re.match(r"^    \S", line)]
    assert listed == COMMANDS
    for line in lines:
        assert len(line) <= 80
        if re.match(r"^    \S", line):
            assert len(line.split()) > 1, f"{line!r}: its description wrapped"
        # A wrapped description would continue on a line indented past the names.
        assert not re.match(r"^ {6,}\S", line), f"{line!r} continues a wrapped description"


def test_demo_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    """The demo overwrites only its own output: a folder holding other files is refused before
    anything runs, and left as it was."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    assert main(["demo", "--out", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"minifrcnn demo: {folder} holds files the demo did not write; give "
                            "a new or empty folder with --out\n")
    assert captured.out == ""
    assert sorted(os.listdir(folder)) == ["thesis.tex"]


def test_demo_may_write_a_new_empty_or_earlier_demo_folder(tmp_path):
    from minifrcnn.cli.demo import is_demo_folder

    assert is_demo_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    assert is_demo_folder(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "model.npz").write_bytes(b"")
    assert not is_demo_folder(earlier)
    (earlier / MARKER).write_text("")
    assert is_demo_folder(earlier)
    (tmp_path / "file").write_text("")
    assert not is_demo_folder(tmp_path / "file")


def test_a_plot_that_cannot_be_written_is_found_before_the_work(tmp_path, capsys):
    """--plot into a folder that does not exist: refused at once, before selective search or
    the model runs (no proposal cache appears), in one line."""
    plot = tmp_path / "no" / "recall.png"
    cache = tmp_path / "cache"
    assert main(["proposals", str(tmp_path), "--plot", str(plot), "--cache", str(cache)]) == 1
    assert capsys.readouterr().err == (f"minifrcnn proposals: --plot {plot}: no folder "
                                       f"{plot.parent}\n")
    assert main(["evaluate", "m.npz", str(tmp_path), "--plot", str(plot),
                 "--cache", str(cache)]) == 1
    assert capsys.readouterr().err == (f"minifrcnn evaluate: --plot {plot}: no folder "
                                       f"{plot.parent}\n")
    assert not cache.exists()


def test_train_resume_without_a_checkpoint_refuses_before_reading_the_data(tmp_path, capsys):
    status = main(["train", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "m.npz"),
                   "--iters", "5", "--resume"])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err == (f"minifrcnn train: --resume: no checkpoint at {tmp_path / 'm.ckpt.npz'}; "
                            "run without --resume to start afresh\n")
    assert os.listdir(tmp_path) == []


def test_train_init_with_a_missing_model_refuses_before_reading_the_data(tmp_path, capsys):
    status = main(["train", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "m.npz"),
                   "--iters", "5", "--init", str(tmp_path / "missing.npz")])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err == f"minifrcnn train: {tmp_path / 'missing.npz'}: no such file\n"
