"""How long each lesson takes to execute, top to bottom, as tests/test_lessons.py runs it.

    python benchmarks/bench_lessons.py               # every lesson once: 2-3 min on 2 idle cores
    python benchmarks/bench_lessons.py --repeats 3   # medians of 3 runs
    python benchmarks/bench_lessons.py 06 07         # only lessons 06 and 07, printed, not stored

Each run executes one notebook with nbclient in a fresh "python3" kernel whose working directory
is lessons/, exactly as the test does, and records:
- wall seconds, from the kernel's start to its shutdown (the figure the 60 s budget is about);
- CPU seconds of the kernel process (user + system, all its threads): less sensitive than wall
  time to other processes on the machine, though not immune (a busy machine slows threads that
  wait for each other);
- the share of the machine's CPU time that other processes took meanwhile (Linux only), so a slow
  figure measured beside other work can be recognised as such;
- the slowest cells.

The lessons' own numbers do not depend on any of this: every training run in them is bounded by
iterations and seeds, never by wall time. The results go to results/lessons.md and
results/lessons.json (medians over the repeats); timing belongs here, never in the unit tests.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_S = 60.0        # DESIGN.md: each lesson executes in 60 s or less on 2 idle cores
BUSY_SHARE = 0.25      # above this share of the CPUs taken by others, a time is not judged


def cpu_reading():
    """(seconds all CPUs have been busy, wall clock) from Linux's /proc/stat; None elsewhere."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(ticks) - ticks[3] - ticks[4]          # everything but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK"), time.perf_counter()


def cpu_model():
    """The processor's name from /proc/cpuinfo, or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions():
    """The versions that decide how fast a lesson runs."""
    from importlib.metadata import PackageNotFoundError, version
    found = {"python": platform.python_version()}
    for name in ("minifrcnn", "numpy", "numba", "scipy", "matplotlib", "nbclient", "ipykernel"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def run_lesson(path, timeout=600):
    """Execute one notebook in a fresh kernel. Returns a dict of wall_s, cpu_s, others_share and
    the slowest cells [(index, seconds, first line)], or raises nbclient's CellExecutionError."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=timeout,
                            resources={"metadata": {"path": str(LESSONS)}})
    children_before = os.times()
    reading_before = cpu_reading()
    start = time.perf_counter()
    client.execute()                 # starts the kernel, runs every cell, shuts the kernel down
    wall = time.perf_counter() - start
    reading_after = cpu_reading()
    children_after = os.times()
    # The kernel is a child process, reaped at shutdown: its CPU time is now in our children's.
    cpu = ((children_after.children_user + children_after.children_system)
           - (children_before.children_user + children_before.children_system))
    others = None
    if reading_before and reading_after:
        busy = reading_after[0] - reading_before[0]          # this script itself only waits
        others = max(0.0, (busy - cpu) / (wall * os.cpu_count()))
    cells = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and {"iopub.execute_input", "shell.execute_reply"} <= set(timing):
            began, ended = (datetime.datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                            for key in ("iopub.execute_input", "shell.execute_reply"))
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
            cells.append((index, (ended - began).total_seconds(), first_line[:60]))
    cells.sort(key=lambda item: -item[1])
    return {"wall_s": wall, "cpu_s": cpu, "others_share": others, "slowest_cells": cells[:3]}


def summarise(name, runs):
    walls = [run["wall_s"] for run in runs]
    cpus = [run["cpu_s"] for run in runs]
    shares = [run["others_share"] for run in runs if run["others_share"] is not None]
    median_run = sorted(runs, key=lambda run: run["wall_s"])[len(runs) // 2]
    return {"lesson": name, "wall_s": statistics.median(walls), "wall_s_runs": walls,
            "cpu_s": statistics.median(cpus), "cpu_s_runs": cpus,
            "others_share": max(shares) if shares else None,
            # The budget is about idle cores: a run beside other work is not judged against it.
            "within_budget": (None if shares and max(shares) > BUSY_SHARE
                              else statistics.median(walls) <= BUDGET_S),
            "slowest_cells": median_run["slowest_cells"]}


def markdown(result):
    lines = [f"Lessons executed top to bottom with nbclient, a fresh kernel each, as "
             f"`tests/test_lessons.py` runs them; median of {result['repeats']} run(s). "
             f"Machine: {result['machine']['cpu_model']}, {result['machine']['cpu_count']} CPUs, "
             f"{result['machine']['platform']}; "
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
             + f". Measured {result['date']}.",
             "",
             "| lesson | wall s | kernel CPU s | others' CPU share | within 60 s | slowest cell |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in result["lessons"]:
        share = "-" if row["others_share"] is None else f"{row['others_share']:.0%}"
        slowest = row["slowest_cells"][0] if row["slowest_cells"] else None
        cell = "-" if slowest is None else f"cell {slowest[0]}, {slowest[1]:.1f} s"
        verdict = {True: "yes", False: "**no**",
                   None: "not judged: machine busy"}[row["within_budget"]]
        lines.append(f"| {row['lesson']} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {share} | "
                     f"{verdict} | {cell} |")
    lines += ["", f"Total: {sum(row['wall_s'] for row in result['lessons']):.0f} s wall. "
              "The budget (DESIGN.md) is 60 s per lesson on 2 idle cores; a run during which other "
              f"processes took more than {BUSY_SHARE:.0%} of the CPUs is not judged against it: "
              "beside other work the multithreaded steps slow down far more than their share.",
              ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*",
                        help="run only the lessons whose file names contain one of these")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each lesson (default 1)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for lessons.md and lessons.json (default: benchmarks/results "
                             "when every lesson runs; a subset is only printed without --out)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    paths = sorted(LESSONS.glob("*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if any(part in p.name for part in args.lessons)]
    if not paths:
        parser.error(f"no lesson in {LESSONS} matches {args.lessons}")

    runs = {path.name: [] for path in paths}
    for repeat in range(args.repeats):
        # Rotate the order between repeats, so no lesson always runs first (cold disk caches).
        order = paths[repeat % len(paths):] + paths[:repeat % len(paths)]
        for path in order:
            run = run_lesson(path, timeout=args.timeout)
            runs[path.name].append(run)
            share = ("" if run["others_share"] is None
                     else f", others took {run['others_share']:.0%} of the CPUs")
            print(f"[{repeat + 1}/{args.repeats}] {path.name}: {run['wall_s']:.1f} s wall, "
                  f"{run['cpu_s']:.1f} s CPU{share}", flush=True)

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "repeats": args.repeats,
        "budget_s": BUDGET_S,
        "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                    "platform": f"{platform.system()} {platform.machine()}",
                    "threads": {k: os.environ.get(k) for k in
                                ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                                if os.environ.get(k)}},
        "versions": versions(),
        "lessons": [summarise(path.name, runs[path.name]) for path in paths],
    }
    table = markdown(result)
    print()
    print(table)
    out = args.out or (None if args.lessons else RESULTS)
    if out is not None and not args.no_write:
        args.out = out
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "lessons.md").write_text(table)
        (args.out / "lessons.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out / 'lessons.md'} and {args.out / 'lessons.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
