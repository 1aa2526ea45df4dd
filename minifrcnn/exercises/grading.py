"""Grading submissions: `minifrcnn check FILE...` and its library side.

Each submission (.py file, or .ipynb notebook) is loaded into a worker process of its own
(minifrcnn.exercises.worker) with a time limit on every call and a memory limit where the
operating system offers one. The worker only runs the student's functions on the inputs the
grader sends and returns what they gave; every verdict is computed here, in a process where the
submission's code never runs. A submission that loops, exits, crashes or patches NumPy fails
its own exercises and nothing else.

From a notebook only the code cells' top-level imports, functions, classes and assignments of
literal constants are taken: the cells that try the functions out or call check() are skipped.
"""

import ast
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import wire
from .calls import Outcome
from .catalog import EXERCISES
from .engine import DEFAULT_SEED, TIME_LIMIT, Result, run_check
from .graders import GRADERS
from .judge import Failure

MEMORY_MB = 4096            # address-space limit of a worker, where the OS offers one
SUBMISSION_SUFFIXES = (".py", ".ipynb")
LIBRARY = "minifrcnn"
ALLOWED_MODULES = ("minifrcnn.exercises",)     # the checker itself may be imported

OWNER = {name: exercise.name for exercise in EXERCISES for name in exercise.function_names}


class SubmissionError(ValueError):
    """A file that cannot be read as a submission (not .py or .ipynb, unreadable, bad JSON); the
    message says why, not which file (the caller has the path)."""


# --- what a submission contains -------------------------------------------------------------

def _kept(node):
    """Whether a notebook's top-level statement defines something (kept) or does work (skipped)."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        try:
            ast.literal_eval(node.value)
            return True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
    return False


def notebook_code(text):
    """The definitions of a notebook's code cells as one module's source, and notes on the cells
    that could not be read (a syntax error)."""
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError) as error:
        raise SubmissionError(f"not a Jupyter notebook: {error}") from None
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise SubmissionError("not a Jupyter notebook: its cells are not a list of cells")
    parts, notes = [], []
    for number, cell in enumerate(cells, 1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        # IPython's magics and shell escapes are not Python.
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError as error:
            notes.append(f"cell {number} has a syntax error (line {error.lineno}): {error.msg}")
            continue
        # A statement's lines, its decorators included.
        kept = ["\n".join(lines[min([node.lineno] + [d.lineno for d in
                                                     getattr(node, "decorator_list", [])]) - 1:
                                 node.end_lineno])
                for node in tree.body if _kept(node)]
        if kept:
            parts.append(f"# cell {number}\n" + "\n\n".join(kept))
    return "\n\n".join(parts) + "\n", notes


def submission_code(path):
    """(source, notes) of a .py file or a notebook."""
    path = Path(path)
    if path.suffix not in SUBMISSION_SUFFIXES:
        raise SubmissionError("a submission is a .py file or a .ipynb notebook")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SubmissionError(f"cannot read it ({error})") from None
    if path.suffix == ".ipynb":
        return notebook_code(text)
    return text, []


def library_uses(source):
    """{exercise: message} for each exercise one of whose functions the source takes from
    minifrcnn instead of writing it: `from minifrcnn.layers import conv2d_forward`,
    `import minifrcnn.layers as L` then `L.conv2d_forward`, and the like. Read from the source
    text; nothing is run."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    aliases, flags = set(), {}

    def flag(name, how):
        exercise = OWNER.get(name)
        if exercise and exercise not in flags:
            flags[exercise] = f"uses minifrcnn's own {name} ({how}) instead of writing it"

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] == LIBRARY and not node.module.startswith(ALLOWED_MODULES):
            for alias in node.names:
                flag(alias.name, f"from {node.module} import {alias.name}")
                aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == LIBRARY and not alias.name.startswith(ALLOWED_MODULES):
                    aliases.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            called = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            text = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if called in ("__import__", "import_module") and any(t.split(".")[0] == LIBRARY
                                                                   for t in text):
                for exercise in EXERCISES:
                    flags.setdefault(exercise.name, f"imports minifrcnn dynamically ({called})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in OWNER:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                flag(node.attr, f"{ast.unparse(node)}")
    return flags


# --- the worker -------------------------------------------------------------------------------

class WorkerRunner:
    """Runs calls in a worker process that has loaded one submission. The process is started on
    first use and again after a call killed it (a time limit, sys.exit at import, a crash)."""

    in_process = False

    def __init__(self, source, filename, cwd, time_limit=TIME_LIMIT, memory_mb=MEMORY_MB):
        self.source, self.filename, self.cwd = source, filename, cwd
        self.time_limit, self.memory_mb = time_limit, memory_mb
        self.process = None
        self.found, self.load_error = (), None
        self.empty = tempfile.mkdtemp(prefix="minifrcnn-worker-")

    def _reader(self, stream, replies):
        try:
            while (message := wire.receive(stream)) is not None:
                replies.put(message)
        except (OSError, ValueError):
            pass
        replies.put(None)

    def start(self):
        self.close()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        # Started in an empty folder (the worker moves to the submission's afterwards): Python
        # puts the starting folder first on sys.path, where a classmate's numpy.py must not be.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "minifrcnn.exercises.worker", str(self.memory_mb),
             str(self.time_limit), self.cwd],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.empty, env=env)
        self.replies = queue.Queue()
        threading.Thread(target=self._reader, args=(self.process.stdout, self.replies),
                         daemon=True).start()
        try:
            wire.send(self.process.stdin, {"code": self.source, "filename": self.filename,
                                           "names": tuple(OWNER)})
        except OSError:
            reply = None                          # the worker died before reading its first request
        else:
            reply = self._wait(self.time_limit + 30)
        if not isinstance(reply, dict):
            self.found, self.load_error = (), "loading the submission " + (
                "took longer than the time limit" if reply == "time limit" else
                "ended the worker process, or broke its replies (sys.exit at the top level, "
                "a crash, patching minifrcnn.exercises?)")
            self.close()
            return
        self.found = tuple(reply["found"])
        # The worker runs the file as a call named "load": "load raised ...", "load called ...".
        self.load_error = None if reply["error"] is None else \
            "loading the submission " + reply["error"].removeprefix("load ")

    def _wait(self, seconds):
        try:
            return self.replies.get(timeout=seconds)
        except queue.Empty:
            self.close()
            return "time limit"

    def run(self, calls):
        if self.process is None or self.process.poll() is not None:
            self.start()
            if self.process is None:
                return [Outcome(calls[0].function, raised="crash", message=self.load_error)]
        try:
            wire.send(self.process.stdin, tuple(calls))
        except OSError:
            self.close()
            return [Outcome(calls[0].function, raised="crash",
                            message="the worker process had ended before the call")]
        # The worker stops a Python loop itself after time_limit; this is the backstop for code
        # that does not return to the interpreter (a long NumPy call, a blocked signal).
        reply = self._wait(self.time_limit * len(calls) + 5)
        if reply == "time limit":
            return [Outcome(calls[0].function, raised="time limit",
                            message=f"{calls[0].function} did not return within the time limit "
                                    f"({self.time_limit:g} s per call): the worker was stopped")]
        if reply is None:
            status = self.process.wait() if self.process else None
            self.close()
            return [Outcome(calls[0].function, raised="crash",
                            message=f"the worker process ended while running {calls[0].function} "
                                    f"(exit status {status}): os._exit, a signal, or a crash")]
        if not (isinstance(reply, tuple) and all(isinstance(o, Outcome) for o in reply)):
            return [Outcome(calls[0].function, raised="crash", message="the worker sent a reply "
                                                                       "that is not a result")]
        return list(reply)

    def close(self, finished=False):
        """Stop the worker; finished: for good (its empty starting folder is removed)."""
        if finished:
            shutil.rmtree(self.empty, ignore_errors=True)
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process = None


@dataclass
class Submission:
    """The grade of one file: a Result per exercise found in it (in EXERCISES' order), or an
    error when the file could not be loaded at all. notes: cells skipped and the like."""

    path: str
    results: list = field(default_factory=list)
    error: str = ""
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        """Every exercise found passed (and something was found)."""
        return not self.error and bool(self.results) and all(r.passed for r in self.results)


def _failed(name, message, seed, flagged=""):
    return Result(name, False, 0, seed, failure=Failure("found" if not flagged else "imports",
                                                        message), in_process=False, flagged=flagged)


def grade_file(path, *, seed=None, time_limit=TIME_LIMIT, memory_mb=MEMORY_MB, exercises=None):
    """Grade one submission in a worker process; returns a Submission.

    exercises: names to grade (default: every exercise whose functions the file defines).
    A SubmissionError for a file that is not a submission."""
    seed = DEFAULT_SEED if seed is None else int(seed)
    path = Path(path)
    source, notes = submission_code(path)
    submission = Submission(str(path), notes=notes)
    runner = WorkerRunner(source, str(path), str(path.parent.resolve()), time_limit, memory_mb)
    try:
        runner.start()
        if runner.load_error:
            submission.error = runner.load_error
            return submission
        flags = library_uses(source)
        for exercise in EXERCISES:
            if exercises is not None and exercise.name not in exercises:
                continue
            names = exercise.function_names
            present = [n for n in names if n in runner.found]
            if not present:
                continue
            if len(present) < len(names):
                missing = ", ".join(n for n in names if n not in present)
                submission.results.append(_failed(exercise.name, f"{missing} not found: the "
                                                  f"exercise needs {', '.join(names)}", seed))
            elif exercise.name in flags:
                submission.results.append(_failed(exercise.name, flags[exercise.name], seed,
                                                  flagged=flags[exercise.name]))
            else:
                submission.results.append(run_check(GRADERS[exercise.name], runner, seed=seed))
    finally:
        runner.close(finished=True)
    return submission


def submission_paths(paths):
    """Files to grade: each FILE as given, each folder's .py and .ipynb files (sorted, not in
    hidden folders such as .ipynb_checkpoints)."""
    found = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUBMISSION_SUFFIXES
                            and p.is_file() and not any(part.startswith(".") for part in
                                                        p.relative_to(path).parts))
        else:
            found.append(path)
    return found


def grade_files(paths, *, seed=None, time_limit=TIME_LIMIT, memory_mb=MEMORY_MB, exercises=None,
                progress=None):
    """Grade many submissions, one worker each: one that cannot be graded (not a submission,
    unreadable) gets a Submission with its error and the others go on. progress: an optional
    callable called with each Submission as it is done."""
    done = []
    for path in submission_paths(paths):
        try:
            submission = grade_file(path, seed=seed, time_limit=time_limit, memory_mb=memory_mb,
                                    exercises=exercises)
        except SubmissionError as error:
            submission = Submission(str(path), error=str(error))
        except Exception as error:        # a fault of the checker's: this file only, said so
            submission = Submission(str(path), error=f"the checker could not grade it "
                                                     f"({type(error).__name__}: {error})")
        done.append(submission)
        if progress is not None:
            progress(submission)
    return done
