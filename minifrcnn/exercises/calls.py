"""Running a student's functions on the checker's inputs, and bringing back what they returned.

The checker describes each case as a list of `Call`s: which function, with which arguments. A
forward pass's cache never leaves the process that made it: a later call names it as
`Previous(step, index)`. Each call gives an `Outcome`: what came back (arrays copied, anything
else reduced to its type name) and which arguments the function changed in place, or why nothing
came back (an exception, sys.exit, the time limit).

`execute` runs in the student's own process: inside the notebook for `check()`, and inside the
worker (`minifrcnn.exercises.worker`) when `minifrcnn check` grades a file.
"""

import linecache
import signal
import threading
import traceback
import types
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Previous:
    """Argument: element `index` of what call number `step` returned (e.g. a forward's cache)."""

    step: int
    index: int


@dataclass(frozen=True)
class Rng:
    """Argument: a fresh np.random.Generator seeded with `seed`, made where the call runs."""

    seed: int


@dataclass(frozen=True)
class Entry:
    """Argument: a stand-in for one image's RoI database entry (minifrcnn.data.minibatch.RoiEntry)
    with just the fields sample_rois reads: max_overlaps (P,) and labels (P,)."""

    max_overlaps: np.ndarray
    labels: np.ndarray


class Probe:
    """Argument: the scalar function f(x) = sum(a sin(b x)) + c sum(x^3) that numerical_gradient
    differentiates. a, b: arrays of x's shape; c: a number. Curved enough (its second derivative
    is far from 0) that a forward difference misses by ~h, where a central one is within ~h^2."""

    def __init__(self, a, b, c):
        self.a, self.b, self.c = np.asarray(a, np.float64), np.asarray(b, np.float64), float(c)

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        return float(np.sum(self.a * np.sin(self.b * x)) + self.c * np.sum(x ** 3))

    def __repr__(self):
        return "f(x) = sum(a * sin(b * x)) + c * sum(x ** 3)"


@dataclass(frozen=True)
class Call:
    """One call of a student's function: function(*args). names: the arguments' names, for
    messages. opaque: positions of a returned tuple that stay behind (a forward's cache)."""

    function: str
    args: tuple
    names: tuple
    opaque: tuple = ()


@dataclass(frozen=True)
class Opaque:
    """Something a function returned that is not an array or a number: only its type travels."""

    type_name: str


@dataclass
class Outcome:
    """What one call gave. raised is None when it returned: then value holds the returned value
    (arrays copied, tuples as tuples, other objects as Opaque) and changed the names of the
    arguments it modified in place. Otherwise raised is one of "exception", "exit", "time limit",
    "crash", "returns" (an earlier call returned too little to make this one) and message says
    what happened and where."""

    function: str
    value: object = None
    changed: tuple = ()
    raised: str = None
    message: str = ""


class TimeLimit(BaseException):
    """Raised inside a student's function that runs past the time limit (a BaseException, so a
    bare `except Exception` in the student's code does not swallow it)."""


def freeze(value, opaque=()):
    """A copy of a returned value that later changes cannot touch: arrays copied, NumPy scalars as
    0-d arrays (their dtype kept), tuples and lists as tuples; anything else becomes Opaque."""
    if isinstance(value, (tuple, list)):
        return tuple(Opaque(type(v).__name__) if i in opaque else freeze(v)
                     for i, v in enumerate(value))
    if isinstance(value, np.ndarray):
        return Opaque("object array") if value.dtype.hasobject else value.copy()
    if isinstance(value, np.generic):
        return np.asarray(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return Opaque(type(value).__name__)


def _materialise(arg, returned):
    """The argument a function receives: a fresh copy of every array, so the originals stay
    as the checker made them and an in-place change can be seen."""
    if isinstance(arg, Previous):
        return returned[arg.step][arg.index]
    if isinstance(arg, Rng):
        return np.random.default_rng(arg.seed)
    if isinstance(arg, Entry):
        return types.SimpleNamespace(max_overlaps=arg.max_overlaps.copy(), labels=arg.labels.copy())
    if isinstance(arg, np.ndarray):
        return arg.copy()
    return arg


def _changed(arg, given):
    if isinstance(arg, np.ndarray):
        return not (isinstance(given, np.ndarray) and given.shape == arg.shape
                    and np.array_equal(given, arg, equal_nan=True))
    if isinstance(arg, Entry):
        return _changed(arg.max_overlaps, given.max_overlaps) or _changed(arg.labels, given.labels)
    return False


def _where(error):
    """'line 7 in conv2d_forward: out = x @ w' for the innermost frame outside this package
    and NumPy, the student's line that raised."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "minifrcnn/exercises" not in f.filename.replace("\\", "/")
              and "/numpy/" not in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    frame = frames[-1]
    line = frame.line or linecache.getline(frame.filename, frame.lineno).strip()
    return f" (line {frame.lineno} in {frame.name}: {line})" if line else f" (in {frame.name})"


class _Alarm:
    """A time limit on a block, where the platform allows one in this thread (SIGALRM: Linux
    and macOS, main thread). Elsewhere the block runs unbounded, and the worker process's own
    limit (minifrcnn check) is what stops it."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.armed = bool(seconds) and hasattr(signal, "setitimer") \
            and threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.armed:
            def expire(signum, frame):
                raise TimeLimit()
            self.previous = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def execute(functions, calls, time_limit=None):
    """Run calls in order with the student's functions ({name: callable}); stop after the first
    that does not return. Returns a list of Outcome, one per call made."""
    outcomes, returned = [], []
    for call in calls:
        try:
            given = [_materialise(arg, returned) for arg in call.args]
        except IndexError:
            earlier = calls[len(returned) - 1].function
            outcomes.append(Outcome(call.function, raised="returns",
                                    message=f"{call.function} could not be called: {earlier} must "
                                            f"return a pair (out, cache)"))
            break
        try:
            with _Alarm(time_limit):
                value = functions[call.function](*given)
        except TimeLimit:
            outcomes.append(Outcome(call.function, raised="time limit",
                                    message=f"{call.function} did not return within {time_limit:g} s"))
            break
        except SystemExit as error:
            outcomes.append(Outcome(call.function, raised="exit",
                                    message=f"{call.function} called sys.exit({error.code!r})"))
            break
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            text = str(error).splitlines()[0][:300] if str(error) else ""
            outcomes.append(Outcome(call.function, raised="exception",
                                    message=f"{call.function} raised {type(error).__name__}"
                                            f"{': ' + text if text else ''}{_where(error)}"))
            break
        returned.append(value if isinstance(value, (tuple, list)) else (value,))
        changed = tuple(name for name, arg, g in zip(call.names, call.args, given) if _changed(arg, g))
        outcomes.append(Outcome(call.function, freeze(value, call.opaque), changed))
    return outcomes
