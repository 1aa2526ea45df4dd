"""Input checks shared by the layers.

A layer that receives a wrongly shaped array should say so in words a student can act on
("x must be a 4-D array (N, C, H, W), got shape (3, 32, 32)") instead of failing three lines
later with a broadcasting error, or worse, returning a silently wrong result.
"""

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_array(name, a, ndim, layout):
    """Require a float32/float64 array with `ndim` dimensions; `layout` names them, e.g. "(N, C, H, W)"."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array {layout}, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array {layout}, got shape {a.shape}")
    if a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got dtype {a.dtype}")


def check_same_dtype(name, a, ref_name, ref):
    if a.dtype != ref.dtype:
        raise ValueError(
            f"{name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}: use one dtype for both"
        )


def check_positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def check_non_negative_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    return int(v)


def check_pair(name, v):
    """An int or a pair of ints, each positive, returned as a (h, w) tuple."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (v, v)
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise ValueError(f"{name} must be a positive int or a pair (h, w) of them, got {v!r}")
    return check_positive_int(f"{name}[0]", v[0]), check_positive_int(f"{name}[1]", v[1])


def check_positive_number(name, v, allow_zero=False):
    """A finite real number > 0 (or >= 0 with allow_zero), returned as a float."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) \
            or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} number, got {v!r}")
    return float(v)


def check_labels(labels, rows, num_classes):
    """labels: (R,) integers in [0, num_classes)."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.shape[0] != rows:
        got = labels.shape if isinstance(labels, np.ndarray) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D array of {rows} class indices, got {got}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if rows and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] for {num_classes} classes, got {bad}"
        )


def check_same_shape(name, a, ref_name, ref):
    if not isinstance(a, np.ndarray) or a.shape != ref.shape:
        got = a.shape if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {got}")


def check_dout(dout, shape, dtype):
    """The upstream gradient must have the shape of the forward output. It is returned in the
    forward input's dtype, so gradients come back in the dtype the layer was run in."""
    if not isinstance(dout, np.ndarray) or dout.shape != tuple(shape):
        got = dout.shape if isinstance(dout, np.ndarray) else type(dout).__name__
        raise ValueError(f"dout must have the forward output's shape {tuple(shape)}, got {got}")
    if not np.issubdtype(dout.dtype, np.floating):
        raise ValueError(f"dout must be float32 or float64, got dtype {dout.dtype}")
    return dout.astype(dtype, copy=False)
