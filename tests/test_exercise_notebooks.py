"""The exercise notebooks (lessons/exercises/): what build.py writes, failing every check as handed
out, and passing every check with the instructor's solutions filled in.

The student notebooks are committed; lessons/exercises/build.py is their one source and writes
the instructor copies (`--solutions DIR`) too. Each instructor copy is executed with nbclient as a
student would run it (kernel python3, working directory lessons/exercises); its execution time is
printed past pytest's capture and attached as the property `execution_seconds`, never asserted.
"""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

EXERCISES_DIR = Path(__file__).resolve().parent.parent / "lessons" / "exercises"
BUILD = EXERCISES_DIR / "build.py"
CHECK_IMPORT = "from minifrcnn.exercises import check"


def load_build():
    spec = importlib.util.spec_from_file_location("exercise_notebooks_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()
FILENAMES = [notebook.filename for notebook in build.NOTEBOOKS]


def run_build(*args):
    completed = subprocess.run([sys.executable, str(BUILD), *map(str, args)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


@pytest.fixture(scope="module")
def instructor_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("instructor")
    run_build("--solutions", directory)
    return directory


def cells_tagged(notebook, tag):
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def check_calls(notebook, with_functions=False):
    """The exercise names of a notebook's check cells, in order (with the names of the functions
    each passes, with_functions)."""
    calls = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith(CHECK_IMPORT):
            call = ast.parse(cell.source).body[-1].value
            name = call.args[0].value
            calls.append((name, tuple(arg.id for arg in call.args[1:])) if with_functions else name)
    return calls


def output_text(cell):
    """Everything a code cell showed: streams, and the text/plain and text/html of its results."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        else:
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


def test_student_notebooks_are_what_build_writes(tmp_path):
    run_build("--out", tmp_path)
    built = sorted(path.name for path in tmp_path.glob("*.ipynb"))
    committed = sorted(path.name for path in EXERCISES_DIR.glob("*.ipynb"))
    assert built == committed == sorted(FILENAMES)
    for name in built:
        expected = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        actual = json.loads((EXERCISES_DIR / name).read_text(encoding="utf-8"))
        assert actual == expected, f"{name} differs from what build.py writes: run {BUILD}"


@pytest.mark.parametrize("name", FILENAMES)
def test_student_notebook_is_clean_and_holds_no_solution(name):
    notebook = nbformat.read(EXERCISES_DIR / name, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: {cell.id} has outputs"
    for cell in cells_tagged(notebook, "skeleton"):
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:]                      # after the docstring
                assert len(body) == 1 and isinstance(body[0], ast.Raise), \
                    f"{name}: {node.name} in cell {cell.id} is more than a skeleton"


@pytest.mark.parametrize("name", FILENAMES)
def test_instructor_copy_differs_only_in_its_skeleton_cells(name, instructor_dir):
    student = nbformat.read(EXERCISES_DIR / name, as_version=4)
    instructor = nbformat.read(instructor_dir / name, as_version=4)
    assert [cell.id for cell in student.cells] == [cell.id for cell in instructor.cells]
    for mine, theirs in zip(student.cells, instructor.cells):
        if "skeleton" in mine.metadata.get("tags", []):
            assert mine.source != theirs.source
        else:
            assert mine == theirs, f"{name}: cell {mine.id} differs outside the skeletons"


@pytest.mark.parametrize("name", FILENAMES)
def test_student_notebook_fails_every_exercise_with_not_implemented(name):
    from minifrcnn.exercises import grade_file

    notebook = nbformat.read(EXERCISES_DIR / name, as_version=4)
    submission = grade_file(EXERCISES_DIR / name)
    assert [r.name for r in submission.results] == check_calls(notebook)
    for result in submission.results:
        assert not result.passed, f"{name}: the skeleton of {result.name} passed"
        assert "NotImplementedError" in result.feedback, result.feedback


@pytest.mark.parametrize("name", FILENAMES)
def test_instructor_copy_passes_every_check(name, instructor_dir):
    from minifrcnn.exercises import grade_file

    notebook = nbformat.read(instructor_dir / name, as_version=4)
    submission = grade_file(instructor_dir / name)
    assert [r.name for r in submission.results] == check_calls(notebook)
    for result in submission.results:
        assert result.passed and result.cases > 0, result.feedback


@pytest.mark.parametrize("name", FILENAMES)
def test_instructor_copy_runs_top_to_bottom(name, instructor_dir, run_notebook):
    notebook = nbformat.read(instructor_dir / name, as_version=4)
    run_notebook(notebook, EXERCISES_DIR, 120, f"instructor {name}")

    check_cells = cells_tagged(notebook, "check")
    assert len(check_cells) == len(check_calls(notebook))
    for cell in check_cells:
        shown = output_text(cell)
        assert "passed" in shown and "FAILED" not in shown, f"{name}: {cell.id} shows\n{shown}"
    # Each question's answer, given away in its <details> block, is what the cell computes.
    expected = {exercise.name.replace("_", "-") + "-predict": exercise.expected
                for notebook_spec in build.NOTEBOOKS if notebook_spec.filename == name
                for exercise in notebook_spec.exercises}
    for cell in cells_tagged(notebook, "predict"):
        shown = output_text(cell)
        for text in expected[cell.id]:
            assert text in shown, f"{name}: {cell.id} printed\n{shown}\nnot {text!r}"


def test_each_exercise_is_in_exactly_one_notebook():
    from minifrcnn.exercises import EXERCISES

    where, passes = {}, {}
    for name in FILENAMES:
        notebook = nbformat.read(EXERCISES_DIR / name, as_version=4)
        for exercise, functions in check_calls(notebook, with_functions=True):
            where.setdefault(exercise, []).append(name)
            passes[exercise] = functions
    assert sorted(where) == sorted(exercise.name for exercise in EXERCISES)
    for exercise in EXERCISES:
        assert where[exercise.name] == [exercise.notebook], (exercise.name, where[exercise.name])
        assert passes[exercise.name] == exercise.function_names, exercise.name
