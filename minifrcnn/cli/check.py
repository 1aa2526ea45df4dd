"""`minifrcnn check`: grade exercise submissions (.py files, notebooks, folders of them), each in
a worker process of its own, and print a table (or JSON, or a CSV for a gradebook)."""

import csv
import json
import sys

from ._common import fail, non_negative_int, positive_float, positive_int, table


def add_commands(commands):
    p = commands.add_parser(
        "check",
        help="grade exercise files",
        description="Grade students' exercises: every exercise function found by name in each "
        "FILE (.py or .ipynb; a folder means every such file in it) is run in a separate worker "
        "process on the checker's cases, with a time limit per call and a memory limit where "
        "the operating system offers one, and judged here against the library's reference. A "
        "submission that imports the library's own version of a function it must write gets no "
        "points for that exercise. Exits 0 only when everything found passes.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="a .py file, a notebook or a folder")
    p.add_argument("--exercise", action="append", metavar="NAME",
                   help="grade only this exercise (repeatable), e.g. --exercise conv2d")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the generated cases (default: the fixed DEFAULT_SEED, 2015)")
    p.add_argument("--time-limit", type=positive_float, default=10.0, metavar="SECONDS",
                   help="longest one call of a student's function may run (default 10)")
    p.add_argument("--memory-mb", type=positive_int, default=4096, metavar="MB",
                   help="address-space limit of each worker where the OS offers one (default 4096)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--csv", metavar="OUT", help="also write a gradebook CSV: one row per "
                   "submission, 1 or 0 per exercise (empty: not found), and the total")
    p.add_argument("--feedback", action="store_true",
                   help="print each failure's full feedback under the table")
    p.set_defaults(run=run_check)


def _first_failure(result):
    if result.passed:
        return ""
    text = result.flagged or f"{result.failure.property}: {result.failure.message}"
    return text if len(text) <= 100 else text[:97] + "..."


def _verdict(result):
    return "passed" if result.passed else ("no points" if result.flagged else "FAILED")


def _as_json(submission):
    return {
        "submission": submission.path, "passed": submission.passed, "error": submission.error,
        "notes": submission.notes,
        "results": [{"exercise": r.name, "passed": r.passed, "cases": r.cases, "seed": r.seed,
                     "property": r.failed_property, "flagged": r.flagged,
                     "seconds": round(r.seconds, 3), "feedback": r.feedback}
                    for r in submission.results],
    }


def write_gradebook(path, submissions, exercises):
    """One row per submission: 1 (passed), 0 (failed or flagged) or empty (not found) per
    exercise, then the number passed."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *exercises, "passed", "error"])
        for s in submissions:
            verdicts = {r.name: int(r.passed) for r in s.results}
            writer.writerow([s.path, *(verdicts.get(name, "") for name in exercises),
                             sum(verdicts.values()), s.error])


def run_check(args):
    from tqdm import tqdm

    from ..exercises import EXERCISES
    from ..exercises.grading import grade_files, submission_paths

    names = [e.name for e in EXERCISES]
    unknown = sorted(set(args.exercise or []) - set(names))
    if unknown:
        return fail("check", f"unknown exercise {', '.join(unknown)}; choose from "
                             f"{', '.join(names)}", status=2)
    paths = submission_paths(args.files)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        return fail("check", f"no such file: {', '.join(missing)}", status=2)
    if not paths:
        return fail("check", "no .py or .ipynb files in " + ", ".join(args.files), status=2)
    with tqdm(total=len(paths), desc="grading", unit="file", file=sys.stderr,
              disable=len(paths) < 2 or None) as bar:
        submissions = grade_files(paths, seed=args.seed, time_limit=args.time_limit,
                                  memory_mb=args.memory_mb, exercises=args.exercise,
                                  progress=lambda s: bar.update())
    if args.csv:
        try:
            write_gradebook(args.csv, submissions, args.exercise or names)
        except OSError as error:
            return fail("check", error)
    if args.json:
        print(json.dumps([_as_json(s) for s in submissions], indent=1))
    else:
        rows = []
        for s in submissions:
            if s.error:
                rows.append((s.path, "-", "ERROR", "", s.error[:100]))
            elif not s.results:
                rows.append((s.path, "-", "nothing found", "", "no exercise function defined"))
            rows += [(s.path, r.name, _verdict(r), r.cases, _first_failure(r)) for r in s.results]
        print("\n".join(table(("submission", "exercise", "result", "cases", "first failure"), rows)))
        seed = submissions[0].results[0].seed if submissions and submissions[0].results else None
        graded = sum(len(s.results) for s in submissions)
        passed = sum(r.passed for s in submissions for r in s.results)
        print(f"\n{passed} of {graded} exercises passed in {len(submissions)} submission(s)"
              + (f" (seed {seed})" if seed is not None else ""))
        for s in submissions:
            for note in s.notes:
                print(f"note: {s.path}: {note}")
        if args.feedback:
            for s in submissions:
                for r in s.results:
                    if not r.passed:
                        print(f"\n== {s.path}\n{r.feedback}")
    ok = all(s.passed for s in submissions)
    return 0 if ok else 1
