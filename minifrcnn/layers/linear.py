"""Fully connected (inner product) layer: out = x @ w.T + b.

Weights are stored (out, in) as Caffe and PyTorch store them, so a truncated SVD reads as in the
paper: W ~ U S V^T.
"""

import numpy as np

from ._checks import check_array, check_dout, check_same_dtype


def check_linear_inputs(x, w, b):
    """Check linear_forward's arguments; returns x flattened to (N, D)."""
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be an array (N, D) or (N, ...) with at least 2 dimensions, got {got}")
    x_flat = x.reshape(x.shape[0], -1)
    check_array("x", x_flat, 2, "(N, D)")
    check_array("w", w, 2, "(M, D)")
    check_array("b", b, 1, "(M,)")
    check_same_dtype("w", w, "x", x)
    check_same_dtype("b", b, "x", x)
    m, d = w.shape
    if x_flat.shape[1] != d:
        raise ValueError(
            f"x has {x_flat.shape[1]} features per row (shape {x.shape}) but w expects {d}: "
            f"w must be (M, {x_flat.shape[1]})"
        )
    if b.shape != (m,):
        raise ValueError(f"b must have shape ({m},) for {m} outputs, got {b.shape}")
    return x_flat


def linear_forward(x, w, b):
    """x: (N, D) or (N, d1, d2, ...) flattened to (N, D); w: (M, D); b: (M,).

    Returns out: (N, M) = x_flat @ w.T + b, and a cache. (RoI-pooled features (R, C, PH, PW)
    enter fc6 this way, D = C * PH * PW: 25088 for VGG16.)
    """
    x_flat = check_linear_inputs(x, w, b)
    return x_flat @ w.T + b, (x, w)


def linear_backward(dout, cache):
    """dout: (N, M). Returns dx (shape of x), dw: (M, D), db: (M,)."""
    x, w = cache
    dout = check_dout(dout, (x.shape[0], w.shape[0]), x.dtype)
    x_flat = x.reshape(x.shape[0], -1)
    dx = (dout @ w).reshape(x.shape)
    dw = dout.T @ x_flat
    db = dout.sum(axis=0)
    return dx, dw, db


def factored_layer(linear_forward, linear_backward):
    """The forward/backward pair of a linear layer factored by truncated SVD, built on a linear
    layer's pair: this module's, or a faster twin's with the same signatures (numba_cpu)."""

    def factored_linear_forward(x, w_first, w_second, b):
        """A linear layer factored by truncated SVD (paper section 3.1; minifrcnn.svd): two
        linear layers with nothing between them, the first without a bias.

        x: (N, D) or (N, ...) flattened to (N, D); w_first: (t, D); w_second: (M, t); b: (M,).
        Returns out: (N, M) = (x_flat @ w_first.T) @ w_second.T + b, and a cache. It costs
        t (D + M) multiply-adds per row instead of the D M of the layer w_second @ w_first.
        """
        h, first = linear_forward(x, w_first, np.zeros(len(w_first), w_first.dtype))
        out, second = linear_forward(h, w_second, b)
        return out, (first, second)

    def factored_linear_backward(dout, cache):
        """dout: (N, M). Returns dx (shape of x), dw_first: (t, D), dw_second: (M, t), db: (M,):
        backward through the second layer, then through the first (whose zero bias is not a
        parameter)."""
        first, second = cache
        dh, dw_second, db = linear_backward(dout, second)
        dx, dw_first, _ = linear_backward(dh, first)
        return dx, dw_first, dw_second, db

    return factored_linear_forward, factored_linear_backward


factored_linear_forward, factored_linear_backward = factored_layer(linear_forward, linear_backward)
