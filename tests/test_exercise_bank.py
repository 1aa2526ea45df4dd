"""The proof that the checker works: every mutant in tests/exercise_bank (a typical student
mistake) fails its check, caught by the property recorded for it, with feedback naming the
failing case; every correct alternative passes; and hostile submissions graded by
`minifrcnn check` fail without hurting the grader."""

import importlib
import json
import sys
from pathlib import Path

import pytest

from minifrcnn.cli import main
from minifrcnn.exercises import EXERCISES, check, grade_file

sys.path.insert(0, str(Path(__file__).parent))

from exercise_bank.hostile import HOSTILE  # noqa: E402

BANK = {e.name: importlib.import_module(f"exercise_bank.{e.name}") for e in EXERCISES}
MUTANTS = [(name, label) for name, module in BANK.items() for label in module.MUTANTS]
CORRECT = [(name, label) for name, module in BANK.items() for label in module.CORRECT]


def test_the_bank_is_big_enough():
    for name, module in BANK.items():
        assert len(module.MUTANTS) >= 6, name
        assert len(module.CORRECT) >= 2, name
        assert set(module.CAUGHT_BY) == set(module.MUTANTS), name


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name,label", MUTANTS, ids=[f"{n}-{m}" for n, m in MUTANTS])
def test_every_mutant_fails_caught_by_its_property(name, label):
    mutant = BANK[name].MUTANTS[label]
    result = check(name, *mutant.functions)
    assert not result.passed, f"{name}/{label} ({mutant.mistake}) passed {result.cases} cases"
    assert result.failed_property == BANK[name].CAUGHT_BY[label]
    # The feedback names the failing case: its inputs, and what was wrong with them.
    feedback = result.feedback
    assert "FAILED" in feedback and "The case (" in feedback
    assert all(f"  {input_name} = " in feedback for input_name in result.case.inputs)
    assert result.failure.message in feedback


@pytest.mark.parametrize("name,label", CORRECT, ids=[f"{n}-{m}" for n, m in CORRECT])
def test_every_correct_alternative_passes(name, label):
    result = check(name, *BANK[name].CORRECT[label])
    assert result.passed, result.feedback
    assert result.cases >= 150


# --- hostile submissions, graded in a worker --------------------------------------------------

def grade_source(tmp_path, source, **kwargs):
    path = tmp_path / "submission.py"
    path.write_text(source)
    return grade_file(path, time_limit=2, **kwargs)


@pytest.mark.parametrize("name", ["INFINITE_LOOP", "SYS_EXIT", "PATCH_NUMPY", "PATCH_CHECKER",
                                  "HUGE_ALLOCATION", "PRINTS", "OS_KILL"])
def test_a_hostile_submission_fails_and_the_grader_survives(tmp_path, name, capfd):
    submission = grade_source(tmp_path, HOSTILE[name])
    assert not submission.passed
    if name == "PATCH_CHECKER":
        # It replaces every function of minifrcnn.exercises in the worker, the worker's own
        # replies included: the worker stops answering, and the submission is an error.
        assert submission.error and not submission.results
    else:
        (result,) = submission.results
        assert result.name == "relu" and not result.passed
    # Nothing the submission printed reaches the grader's output.
    out, err = capfd.readouterr()
    assert "PASSED" not in out + err
    # The grader still grades: the library's own functions pass in this process afterwards.
    from minifrcnn import layers
    assert check("relu", layers.relu_forward, layers.relu_backward).passed


def test_hostile_failures_say_what_happened(tmp_path):
    expected = {"INFINITE_LOOP": ("time limit", "within 2 s"),
                "SYS_EXIT": ("runs", "sys.exit(0)"),
                "HUGE_ALLOCATION": ("runs", "MemoryError"),
                "OS_KILL": ("runs", "exit status -9")}
    for name, (prop, words) in expected.items():
        (result,) = grade_source(tmp_path, HOSTILE[name]).results
        assert result.failed_property == prop, name
        assert words in result.failure.message, (name, result.failure.message)


def test_exit_at_import_is_an_error_of_that_submission_only(tmp_path):
    submission = grade_source(tmp_path, HOSTILE["EXIT_AT_IMPORT"])
    assert not submission.passed and "loading the submission" in submission.error


@pytest.mark.parametrize("name", ["IMPORTS_LIBRARY", "IMPORTS_LIBRARY_ALIASED"])
def test_importing_the_reference_gets_no_points(tmp_path, name):
    (result,) = grade_source(tmp_path, HOSTILE[name]).results
    assert not result.passed and "minifrcnn's own relu_" in result.flagged
    assert "NO POINTS" in result.feedback


def test_a_folder_of_submissions_with_broken_ones(tmp_path, capsys):
    """Batch grading: good, wrong, hostile and unreadable files side by side; each gets its own
    verdict, the table and the gradebook list them all, the exit status says not all passed."""
    folder = tmp_path / "class"
    folder.mkdir()
    relu = BANK["relu"]
    (folder / "alice.py").write_text(
        "import numpy as np\n\ndef relu_forward(x):\n    return np.maximum(x, 0), x\n\n"
        "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n")
    (folder / "bob.py").write_text(
        "import numpy as np\n\ndef relu_forward(x):\n    return np.maximum(x, 0), x\n\n"
        "def relu_backward(dout, cache):\n    return dout * (cache >= 0)\n")
    (folder / "carol.py").write_text(HOSTILE["SYS_EXIT"])
    (folder / "dave.py").write_text("def relu_forward(x):\n    return (\n")      # syntax error
    (folder / "erin.ipynb").write_text("{not json")
    (folder / "notes.txt").write_text("not a submission")
    assert relu.CAUGHT_BY["backward_ge"] == "dx"
    status = main(["check", str(folder), "--csv", str(tmp_path / "grades.csv"), "--time-limit", "2"])
    out = capsys.readouterr().out
    assert status == 1
    rows = {line.split()[0].rsplit("/", 1)[-1]: line for line in out.splitlines() if "/class/" in line}
    assert set(rows) == {"alice.py", "bob.py", "carol.py", "dave.py", "erin.ipynb"}
    assert "passed" in rows["alice.py"]
    assert "FAILED" in rows["bob.py"] and "dx" in rows["bob.py"]
    assert "FAILED" in rows["carol.py"] and "sys.exit" in rows["carol.py"]
    assert "ERROR" in rows["dave.py"] and "SyntaxError" in rows["dave.py"]
    assert "ERROR" in rows["erin.ipynb"] and "not a Jupyter notebook" in rows["erin.ipynb"]
    gradebook = (tmp_path / "grades.csv").read_text().splitlines()
    assert gradebook[0].startswith("submission,numerical_gradient,relu,")
    assert len(gradebook) == 6
    by_name = {line.split(",")[0].rsplit("/", 1)[-1]: line.split(",") for line in gradebook[1:]}
    relu_column = gradebook[0].split(",").index("relu")
    assert by_name["alice.py"][relu_column] == "1" and by_name["bob.py"][relu_column] == "0"


def test_check_json_and_exit_status(tmp_path, capsys):
    good = tmp_path / "good.py"
    good.write_text("import numpy as np\n\ndef iou(a, b):\n"
                    "    from minifrcnn.exercises import check  # the checker itself is allowed\n"
                    "    a = np.asarray(a, np.float64); b = np.asarray(b, np.float64)\n"
                    "    w = np.minimum(a[:, None, 2], b[:, 2]) - np.maximum(a[:, None, 0], b[:, 0]) + 1\n"
                    "    h = np.minimum(a[:, None, 3], b[:, 3]) - np.maximum(a[:, None, 1], b[:, 1]) + 1\n"
                    "    inter = np.clip(w, 0, None) * np.clip(h, 0, None)\n"
                    "    area = lambda c: (c[:, 2] - c[:, 0] + 1) * (c[:, 3] - c[:, 1] + 1)\n"
                    "    return inter / (area(a)[:, None] + area(b) - inter)\n")
    assert main(["check", str(good), "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    (result,) = report["results"]
    assert result["exercise"] == "iou" and result["passed"] and result["seed"] == 2015
    assert result["cases"] >= 200 and "passed" in result["feedback"]


def test_a_file_called_numpy_beside_a_submission_cannot_replace_numpy(tmp_path):
    """A classmate's numpy.py in the same folder is not what `import numpy` finds in the worker;
    a helper module of the submission's own still is."""
    (tmp_path / "numpy.py").write_text("raise SystemExit('fake numpy')\n")
    (tmp_path / "helpers.py").write_text("def positive(x):\n    return x > 0\n")
    (tmp_path / "student.py").write_text(
        "import numpy as np\nfrom helpers import positive\n\n"
        "def relu_forward(x):\n    return np.maximum(x, 0), x\n\n"
        "def relu_backward(dout, cache):\n    return dout * positive(cache)\n")
    submission = grade_file(tmp_path / "student.py")
    assert submission.passed, submission.error or submission.results[0].feedback
