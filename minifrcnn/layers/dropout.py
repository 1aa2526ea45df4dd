"""Inverted dropout (after fc6 and fc7 in Fast R-CNN, p = 0.5).

At train time each unit is dropped with probability p and the kept ones are scaled by 1/(1-p),
so the expected activation is unchanged and test time needs no rescaling: it is the identity.
"""

import numpy as np

from ._checks import FLOAT_DTYPES, check_dout


def dropout_forward(x, p, train, rng=None):
    """x: any shape; p: probability of dropping a unit, 0 <= p < 1; train: bool;
    rng: np.random.Generator (required when train is True, so a run can be repeated).

    Returns out (shape and dtype of x) and a cache: the scaled mask (None at test time), x's shape
    and dtype.
    """
    if not isinstance(x, np.ndarray) or x.dtype not in FLOAT_DTYPES:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be a float32 or float64 NumPy array, got {got}")
    if not 0 <= p < 1:
        raise ValueError(f"p is the probability of dropping a unit and must lie in [0, 1), got {p!r}")
    if not train:
        return x, (None, x.shape, x.dtype)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"dropout at train time needs rng, a np.random.Generator, got {rng!r}")
    keep = rng.random(x.shape) >= p
    mask = (keep / (1 - p)).astype(x.dtype)    # 0 for dropped units, 1/(1-p) for kept ones
    return x * mask, (mask, x.shape, x.dtype)


def dropout_backward(dout, cache):
    """dout: shape of x. Returns dx = dout * mask (dout itself at test time)."""
    mask, shape, dtype = cache
    dout = check_dout(dout, shape, dtype)
    return dout if mask is None else dout * mask
