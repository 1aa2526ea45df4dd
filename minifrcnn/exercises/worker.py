"""The worker process of `minifrcnn check`: it loads one submission and runs its functions on the
inputs the grader sends, and nothing else. The verdict is computed in the grader
(minifrcnn.exercises.grading), so a submission that patches NumPy, the checker or minifrcnn here
changes only its own process.

    python -m minifrcnn.exercises.worker MEMORY_MB TIME_LIMIT FOLDER

It is started in an empty folder and moves to the submission's FOLDER only once NumPy and the
worker are loaded, with FOLDER at the end of sys.path: a submission can import a module of its own
from there, but a file called numpy.py beside it cannot stand in for NumPy.

Requests arrive on stdin, replies leave on the original stdout (wire format); the submission's
own stdin, stdout and stderr are pointed at the null device before it is loaded, so what it
prints cannot reach the grader's table or be mistaken for a reply.
"""

import linecache
import os
import sys


def _private_streams():
    """The pipes to the grader, kept on duplicated descriptors; 0, 1 and 2 go to the null device."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    return requests, replies


def _limit_memory(megabytes):
    """Cap the address space where the operating system offers it (resource: Linux, macOS)."""
    try:
        import resource
    except ImportError:
        return
    limit = megabytes * 2 ** 20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass


def main(argv):
    requests, replies = _private_streams()
    memory_mb, time_limit, folder = int(argv[0]), float(argv[1]), argv[2]
    from . import wire
    from .calls import execute

    os.chdir(folder)
    sys.path.append(folder)

    load = wire.receive(requests)           # {"code": text, "filename": name, "names": [...]}
    # Tracebacks can then quote the student's line, a notebook's included.
    linecache.cache[load["filename"]] = (len(load["code"]), None,
                                         load["code"].splitlines(True), load["filename"])
    _limit_memory(memory_mb)
    namespace = {"__name__": "__submission__", "__file__": load["filename"]}
    outcome = execute({"load": lambda: exec(compile(load["code"], load["filename"], "exec"),
                                            namespace)},
                      [wire.Call("load", (), ())], time_limit)[0]
    found = tuple(name for name in load["names"] if callable(namespace.get(name)))
    wire.send(replies, {"found": found, "error": None if outcome.raised is None else outcome.message})
    functions = {name: namespace[name] for name in found}
    while (calls := wire.receive(requests)) is not None:
        wire.send(replies, tuple(execute(functions, calls, time_limit)))


if __name__ == "__main__":
    main(sys.argv[1:])
