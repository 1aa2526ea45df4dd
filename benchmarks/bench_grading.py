"""How long `minifrcnn check` takes to grade a notebook of vectorised solutions to every exercise.

    python benchmarks/bench_grading.py              # 3 runs, medians: about 1 min on 2 idle cores
    python benchmarks/bench_grading.py --quick      # one run of one exercise, to a temporary folder

The notebook is the six instructor notebooks (lessons/exercises/build.py --solutions) put together
into one, graded by `minifrcnn.exercises.grade_file` as `minifrcnn check` grades it: a worker
process of its own, every exercise found, the default seed. Target (issue 15): at most 30 s on 2
cores. Reported: the whole file's wall time (worker start and notebook reading included), and each
exercise's share, medians over the runs; results/grading.md and results/grading.json.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from minifrcnn.exercises import EXERCISES, grade_file

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 30.0


def solutions_notebook(folder):
    """One notebook holding every instructor notebook's cells, written into folder."""
    spec = importlib.util.spec_from_file_location("exercise_build", ROOT / "lessons/exercises/build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    cells = []
    for notebook in build.NOTEBOOKS:
        for cell in build.build(notebook, solutions=True).cells:
            cell = dict(cell, id=f"{notebook.filename[:2]}-{cell['id']}")
            cells.append(nbformat.from_dict(cell))
    path = Path(folder) / "all_solutions.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def measure(path, repeats, exercises=None):
    totals, per_exercise = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        submission = grade_file(path, exercises=exercises)
        totals.append(time.perf_counter() - start)
        if not submission.passed:
            raise SystemExit("the solutions did not pass:\n" +
                             "\n".join(r.feedback for r in submission.results if not r.passed))
        for r in submission.results:
            per_exercise.setdefault(r.name, []).append((r.seconds, r.cases))
    return totals, per_exercise


def report(totals, per_exercise, repeats):
    median = statistics.median(totals)
    lines = [
        "# Grading a notebook of vectorised solutions (`minifrcnn check`)",
        "",
        f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; `python benchmarks/bench_grading.py` "
        f"(medians of {repeats} runs).",
        "",
        f"**Whole notebook: {median:.1f} s** (target: at most {TARGET_S:.0f} s; runs: "
        + ", ".join(f"{t:.1f}" for t in totals) + " s). It includes starting the worker and "
        "reading the notebook.",
        "",
        "| exercise | cases | seconds |",
        "| --- | ---: | ---: |",
    ]
    for name, runs in per_exercise.items():
        lines.append(f"| {name} | {runs[0][1]} | {statistics.median(s for s, _ in runs):.2f} |")
    return "\n".join(lines) + "\n", {
        "date": str(datetime.date.today()), "cpus": os.cpu_count(), "repeats": repeats,
        "total_seconds": totals, "median_seconds": median, "target_seconds": TARGET_S,
        "exercises": {name: {"cases": runs[0][1], "seconds": [s for s, _ in runs]}
                      for name, runs in per_exercise.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs to take the median of (3)")
    parser.add_argument("--quick", action="store_true",
                        help="one run of the relu exercise, results to a temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    exercises = ["relu"] if args.quick else None
    out = Path(tempfile.mkdtemp()) if args.quick else args.out
    with tempfile.TemporaryDirectory() as folder:
        path = solutions_notebook(folder)
        totals, per_exercise = measure(path, repeats, exercises)
    if not args.quick and set(per_exercise) != {e.name for e in EXERCISES}:
        raise SystemExit(f"graded {sorted(per_exercise)}, expected every exercise")
    text, data = report(totals, per_exercise, repeats)
    out.mkdir(parents=True, exist_ok=True)
    (out / "grading.md").write_text(text)
    (out / "grading.json").write_text(json.dumps(data, indent=1) + "\n")
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
