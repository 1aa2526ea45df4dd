"""README.md is a promise to a new user: its two commands and its code must be the real ones."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in command for command in commands), "each command is one line"
    assert "minifrcnn demo" in commands[0]
    assert "tests/run.sh" in commands[1]


def test_ci_runs_the_readme_test_command_word_for_word():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci.splitlines()


def test_python_examples_run():
    """Every ```python block of the README runs as written."""
    blocks = re.findall(r"```python\n(.*?)\n```", README, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_picture_exists():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / path).is_file(), path


def shown_output(command):
    """The lines README shows under `$ COMMAND` in a code block."""
    block = README.split(f"```\n$ {command}\n", 1)[1].split("\n```", 1)[0]
    return block.splitlines()


def test_gradcheck_output_is_the_real_one():
    """README's gradcheck block is what the command prints: the same lines, rows and summary.
    The error column is the rounding noise of float64 finite differences, whose last digits may
    differ with the CPU and the BLAS build, so those numbers need only agree within a factor 3."""
    import math
    import subprocess
    import sys

    shown = shown_output("minifrcnn gradcheck")
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "gradcheck"],
                               capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    printed = completed.stdout.rstrip("\n").splitlines()
    assert len(printed) == len(shown)
    number = re.compile(r"\d\.\d\de-\d\d")
    for shown_line, printed_line in zip(shown, printed):
        assert number.sub("#", shown_line) == number.sub("#", printed_line)
        for a, b in zip(number.findall(shown_line), number.findall(printed_line)):
            assert abs(math.log10(float(a) / float(b))) < math.log10(3), (shown_line, printed_line)


def test_demo_output_shows_the_demos_own_settings():
    """README's demo block (under `$ minifrcnn demo`) must be the current demo's: its list of
    departures from the paper and its number of iterations. Its mAP comes from a real run (a
    test cannot afford one); the demo's own test shows that a run repeats its numbers."""
    from minifrcnn.demo import DEMO_ITERS, DEMO_TEST_OPTIONS, DEMO_TRAIN_OPTIONS, departures
    from minifrcnn.model import CONFIGS
    from minifrcnn.train import TrainSettings

    shown = shown_output("minifrcnn demo")
    settings = TrainSettings(data="minifrcnn-demo/data", out="minifrcnn-demo/model.npz",
                             iters=DEMO_ITERS, **DEMO_TRAIN_OPTIONS)
    expected = [f"  - {line}" for line in departures(settings, CONFIGS["small"], DEMO_TEST_OPTIONS)]
    assert shown[1:1 + len(expected)] == expected
    assert f"2/4  training the small model for {DEMO_ITERS} iterations" in "\n".join(shown)
    assert any(f"after {DEMO_ITERS} iterations" in line for line in shown)
