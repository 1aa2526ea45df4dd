"""Deliberately simple reference layers: explicit Python loops, for tiny shapes only.

These are the independent reference the NumPy layers of `minifrcnn.layers` are tested against.
They share no code and no trick with the library: no im2col, no sliding_window_view, not even a
padded copy of the input. Each backward pass is derived on its own terms: visit every output once,
and ADD its upstream gradient to everything that produced it. They are slow (several nested
loops), which is fine for inputs of a few hundred numbers.

Conventions, as in the library:
- every forward returns `(out, cache)` and every backward takes `(dout, cache)`, so `gradcheck`
  can check a reference as easily as a layer;
- shapes: features (N, C, H, W), conv weights (F, C, KH, KW), linear weights (M, D).

Every reference computes in float64 whatever dtype comes in, so the same reference can judge a
layer run in float64 (to ~1e-9) and in float32 (to float32 rounding); see `assert_close`.
"""

import numpy as np
import pytest


# How closely a loss (a sum over many terms) must match its float64 reference: float64 to about
# 1e-9, float32 to float32 rounding.
LOSS_TOLERANCES = [pytest.param(np.float64, 1e-9, 1e-12, id="float64"),
                   pytest.param(np.float32, 1e-5, 1e-6, id="float32")]


def assert_close(actual, expected, dtype, name="result"):
    """Assert that a layer's output `actual` matches the float64 reference `expected`.

    The layer must keep the input dtype; float64 must agree to 1e-9 relative, float32 to float32
    rounding (1e-5 relative). The absolute tolerance is scaled by the largest reference value, so
    an entry that is a near-cancelling sum is judged against the size of what was summed.
    """
    dtype = np.dtype(dtype)
    assert actual.dtype == dtype, f"{name}: expected dtype {dtype}, got {actual.dtype}"
    assert actual.shape == expected.shape, f"{name}: expected shape {expected.shape}, got {actual.shape}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=name)


# --- convolution ----------------------------------------------------------------------------------

def _conv_taps(x_shape, w_shape, i, j, stride, pad):
    """The (c, a, e, row, col) of every weight w[:, c, a, e] that meets the input pixel
    x[:, c, row, col] at output position (i, j). Taps that fall on the zero padding are left out:
    they multiply a zero, so they add nothing to the output and receive no gradient."""
    _, channels, height, width = x_shape
    _, _, kh, kw = w_shape
    for c, a, e in np.ndindex(channels, kh, kw):
        row = i * stride + a - pad
        col = j * stride + e - pad
        if 0 <= row < height and 0 <= col < width:
            yield c, a, e, row, col


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Naive convolution (cross-correlation), one output number at a time.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,). Returns out: (N, F, H', W') in float64, with
    H' = 1 + (H + 2 pad - KH) // stride and W' = 1 + (W + 2 pad - KW) // stride, and a cache:

        out[n, f, i, j] = b[f] + sum over (c, a, e) of w[f, c, a, e] * x[n, c, i*stride + a - pad,
                                                                       j*stride + e - pad]
    where pixels outside x count as zero.
    """
    x, w, b = (np.asarray(v, dtype=np.float64) for v in (x, w, b))
    n_images, _, height, width = x.shape
    filters, _, kh, kw = w.shape
    out_h = 1 + (height + 2 * pad - kh) // stride
    out_w = 1 + (width + 2 * pad - kw) // stride
    out = np.zeros((n_images, filters, out_h, out_w))
    for n, f, i, j in np.ndindex(out.shape):
        total = b[f]
        for c, a, e, row, col in _conv_taps(x.shape, w.shape, i, j, stride, pad):
            total += w[f, c, a, e] * x[n, c, row, col]
        out[n, f, i, j] = total
    return out, (x, w, stride, pad)


def conv2d_backward(dout, cache):
    """Naive convolution gradients. dout: (N, F, H', W') -> dx: (N, C, H, W), dw: (F, C, KH, KW),
    db: (F,), all float64.

    Each output out[n, f, i, j] is b[f] plus a sum of products w * x; its upstream gradient g
    therefore adds g to db[f], g * x to the weight of each product and g * w to its pixel.
    """
    x, w, stride, pad = cache
    dout = np.asarray(dout, dtype=np.float64)
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[0])
    for n, f, i, j in np.ndindex(dout.shape):
        g = dout[n, f, i, j]
        db[f] += g
        for c, a, e, row, col in _conv_taps(x.shape, w.shape, i, j, stride, pad):
            dw[f, c, a, e] += g * x[n, c, row, col]
            dx[n, c, row, col] += g * w[f, c, a, e]
    return dx, dw, db


# --- max pooling ----------------------------------------------------------------------------------

def maxpool2d_forward(x, size=2, stride=2):
    """Naive max pooling over size x size windows moved by `stride` (windows overlap when
    stride < size). x: (N, C, H, W) -> out: (N, C, H', W') in float64, H' = 1 + (H - size) // stride.

    Each window is scanned row by row, and a cell replaces the current best only when it is
    strictly larger, so on a tie the first cell in row-major order wins. The cache records the
    (row, col) of every window's winner.
    """
    x = np.asarray(x, dtype=np.float64)
    n_images, channels, height, width = x.shape
    out_h = 1 + (height - size) // stride
    out_w = 1 + (width - size) // stride
    out = np.zeros((n_images, channels, out_h, out_w))
    winners = np.zeros((n_images, channels, out_h, out_w, 2), dtype=np.int64)
    for n, c, i, j in np.ndindex(out.shape):
        best, winner = -np.inf, None
        for a, e in np.ndindex(size, size):      # row-major: a is the row, e the column
            row, col = i * stride + a, j * stride + e
            if winner is None or x[n, c, row, col] > best:
                best, winner = x[n, c, row, col], (row, col)
        out[n, c, i, j] = best
        winners[n, c, i, j] = winner
    return out, (x.shape, winners)


def maxpool2d_backward(dout, cache):
    """Naive max-pool gradient. dout: (N, C, H', W') -> dx: (N, C, H, W) in float64.

    Each window's gradient goes to its winner and is ADDED there: with overlapping windows one
    cell can win several windows and must receive the sum of their gradients.
    """
    x_shape, winners = cache
    dout = np.asarray(dout, dtype=np.float64)
    dx = np.zeros(x_shape)
    for n, c, i, j in np.ndindex(dout.shape):
        row, col = winners[n, c, i, j]
        dx[n, c, row, col] += dout[n, c, i, j]
    return dx


# --- fully connected ------------------------------------------------------------------------------

def linear_forward(x, w, b):
    """Naive fully connected layer. x: (N, D) or (N, d1, d2, ...) read as (N, D) in row-major
    order, w: (M, D), b: (M,). Returns out: (N, M) in float64,
    out[n, m] = b[m] + sum over d of x[n, d] * w[m, d], and a cache."""
    x_flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    w, b = (np.asarray(v, dtype=np.float64) for v in (w, b))
    out = np.zeros((x_flat.shape[0], w.shape[0]))
    for n, m in np.ndindex(out.shape):
        total = b[m]
        for d in range(x_flat.shape[1]):
            total += x_flat[n, d] * w[m, d]
        out[n, m] = total
    return out, (x_flat, w, np.shape(x))


def linear_backward(dout, cache):
    """Naive fully connected gradients. dout: (N, M) -> dx (the shape x had), dw: (M, D), db: (M,),
    all float64. Each product x[n, d] * w[m, d] in out[n, m] sends dout[n, m] * w[m, d] to x and
    dout[n, m] * x[n, d] to w."""
    x_flat, w, x_shape = cache
    dout = np.asarray(dout, dtype=np.float64)
    dx = np.zeros_like(x_flat)
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[0])
    for n, m in np.ndindex(dout.shape):
        g = dout[n, m]
        db[m] += g
        for d in range(x_flat.shape[1]):
            dx[n, d] += g * w[m, d]
            dw[m, d] += g * x_flat[n, d]
    return dx.reshape(x_shape), dw, db


# --- ReLU -----------------------------------------------------------------------------------------

def relu_forward(x):
    """Naive ReLU, element by element. x: any shape -> out = x where x > 0, else 0 (float64)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        if x[index] > 0:
            out[index] = x[index]
    return out, x


def relu_backward(dout, cache):
    """Naive ReLU gradient: dout passes where x > 0 and is 0 elsewhere (x = 0 included)."""
    x = cache
    dx = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        if x[index] > 0:
            dx[index] = dout[index]
    return dx
