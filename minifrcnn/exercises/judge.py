"""Comparing what a student's function returned with what it should have, in words a student can
act on: which quantity, where it differs most, by how much, and what usually causes such a
difference, without showing the reference code."""

from dataclasses import dataclass, field

import numpy as np

from .calls import Opaque

# Largest difference allowed, relative to max(1, the largest expected magnitude). Summation order
# alone moves float32 results by ~1e-6 and float64 ones by ~1e-15.
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-8}
# Against central differences (step 1e-6 in float64) the numeric side itself is off by ~1e-9.
FD_TOLERANCE = 1e-6


@dataclass
class Case:
    """One input of a check: inputs {name: value} as the student's functions receive them (and as
    the feedback shows them), label: the edge case's description ("" for a generated one), and
    anything else the grader needs to judge it."""

    inputs: dict
    label: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Failure:
    """Why a case failed: the property (a quantity such as "dx", or "runs", "returns", "time
    limit", "input unchanged"), what is wrong, the expected and actual values, and a hint."""

    property: str
    message: str
    expected: object = None
    actual: object = None
    hint: str = ""
    expected_source: str = "the reference"
    fatal: bool = False      # a time limit or a crash: not worth shrinking


def describe(value):
    """A short description of a value for a message: 'float32 array (2, 3)', 'None', 'tuple of 2'."""
    if value is None:
        return "None"
    if isinstance(value, Opaque):
        return f"a {value.type_name}"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}" if value.ndim else f"a {value.dtype} number"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"


def unpack(value, count, function, names):
    """The `count` values a function must return (count == 1: the value itself), or a Failure of
    property "returns" naming what came back instead."""
    what = names[0] if count == 1 else "(" + ", ".join(names) + ")"
    if count == 1:
        if value is None or isinstance(value, Opaque) or isinstance(value, tuple):
            return None, Failure("returns", f"{function} returned {describe(value)}, expected {what}")
        return (value,), None
    if not isinstance(value, tuple) or len(value) != count:
        return None, Failure("returns", f"{function} returned {describe(value)}, expected {what}")
    return value, None


def _generic_hint(actual, expected):
    a, e = actual.astype(np.float64).ravel(), expected.astype(np.float64).ravel()
    if not np.any(e) and np.any(a):
        return "nothing should come out here (all zeros expected)."
    if np.allclose(a, -e, rtol=1e-4, atol=1e-9):
        return "yours is the expected value with its sign flipped."
    if np.any(e):
        factor = float(a @ e / (e @ e))
        if abs(factor - 1) > 1e-3 and np.allclose(a, factor * e, rtol=1e-4, atol=1e-9 * np.abs(e).max()):
            return (f"yours is the expected value times {factor:.4g}: a missing or extra factor "
                    f"(a division by the number of rows, a 2, a square).")
    if np.allclose(a, 0):
        return "yours is all zeros."
    return ""


def compare(prop, actual, expected, *, dtype=None, tol=None, hint=None, source="the reference"):
    """A Failure if `actual` is not `expected` (an array or number) within tolerance, else None.

    dtype: the dtype actual must have (None: not checked). tol: relative to max(1, max|expected|);
    default by dtype (TOLERANCE). hint(actual, expected) -> str: the exercise's own diagnosis,
    tried before the generic one."""
    expected = np.asarray(expected)
    if actual is None or isinstance(actual, (Opaque, tuple)):
        return Failure(prop, f"{prop} is {describe(actual)}, expected {describe(expected)}",
                       expected=expected)
    actual_arr = np.asarray(actual)
    if not (np.issubdtype(actual_arr.dtype, np.number) or actual_arr.dtype == bool):
        return Failure(prop, f"{prop} is {describe(actual_arr)}, expected numbers", expected=expected)
    if actual_arr.shape != expected.shape:
        if actual_arr.size == expected.size and actual_arr.size > 1:
            extra = " (the same number of elements: a reshape or a transpose gone wrong?)"
        else:
            extra = ""
        return Failure(prop, f"{prop} has shape {actual_arr.shape}, expected {expected.shape}{extra}",
                       expected=expected, actual=actual_arr,
                       hint=(hint(actual_arr, expected) if hint else "") or "")
    if dtype is not None and actual_arr.dtype != np.dtype(dtype):
        return Failure(prop, f"{prop} has dtype {actual_arr.dtype}, expected {np.dtype(dtype)}",
                       hint=f"{np.dtype(dtype)} in, {np.dtype(dtype)} out: compute in any precision "
                            f"you like, but return the input's dtype.")
    a = actual_arr.astype(np.float64)
    e = expected.astype(np.float64)
    if a.size == 0:
        return None
    bad_finite = np.isfinite(e) & ~np.isfinite(a)
    if np.any(bad_finite):
        index = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        return Failure(prop, f"{prop} has {a[index]} at index {index}, expected {e[index]:.6g}",
                       expected=expected, actual=actual_arr, expected_source=source,
                       hint="an overflow or a division by zero: exp() of a large number, log(0), "
                            "0 / 0?")
    tol = TOLERANCE.get(np.dtype(dtype) if dtype is not None else expected.dtype, 1e-8) \
        if tol is None else tol
    scale = max(1.0, float(np.abs(e[np.isfinite(e)]).max(initial=0.0)))
    diff = np.where(np.isfinite(e), np.abs(a - e), np.where(a == e, 0.0, np.inf))
    if diff.max() <= tol * scale:
        return None
    index = np.unravel_index(int(diff.argmax()), diff.shape)
    index = tuple(int(i) for i in index)
    wrong = int(np.count_nonzero(diff > tol * scale))
    where = f" at index {index}" if index else ""
    message = (f"{prop} differs from {source}{where}: yours {a[index]:.6g}, expected {e[index]:.6g} "
               f"({wrong} of {a.size} values differ by more than {tol * scale:.1e})")
    text = (hint(actual_arr, expected) if hint else "") or _generic_hint(a, e)
    return Failure(prop, message, expected=expected, actual=actual_arr, hint=text,
                   expected_source=source)


def format_value(value, limit=120):
    """A value as the feedback shows it: small arrays in full, large ones by shape and range."""
    if isinstance(value, np.ndarray):
        if value.size <= limit:
            body = np.array2string(value, precision=4, suppress_small=True, max_line_width=100,
                                   threshold=limit + 1)
            return f"{value.dtype} {value.shape}\n{body}" if value.ndim else f"{body} ({value.dtype})"
        return (f"{value.dtype} {value.shape}, values from {value.min():.4g} to {value.max():.4g} "
                f"(too large to show)")
    return repr(value)
