"""Max pooling with Numba: one fused loop finds each window's maximum and where it is.

Read minifrcnn/layers/maxpool.py first: same windows, same floor output size
H' = 1 + (H - size) // stride, same tie rule. The reference builds a view of every window and
calls argmax; here one compiled loop walks each window once and keeps the best value and its
position together, and the backward pass adds each output's gradient into that position.
"""

import numpy as np
from numba import njit, prange

from ..layers._checks import check_dout
from ..layers.maxpool import check_maxpool_inputs


@njit(parallel=True, cache=True)
def _maxpool_forward(x, size, stride, out_h, out_w):
    """x: (N, C, H, W) -> out: (N, C, H', W') and argmax: (N, C, H', W'), the flat index
    h * W + w of each window's winner in its (H, W) plane.

    Each window is scanned in row-major order from its first cell and a cell wins only if it is
    strictly greater, so ties go to the first cell, as np.argmax does in the reference. A NaN wins
    too (the first one), again like np.argmax: a NaN in the input shows in the output.

    Parallel over the (n, c) planes: every output element belongs to exactly one plane, so the
    writes are disjoint.
    """
    n_count, c_count, _, width = x.shape
    out = np.empty((n_count, c_count, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((n_count, c_count, out_h, out_w), dtype=np.int64)
    for nc in prange(n_count * c_count):
        n, c = nc // c_count, nc % c_count
        plane = x[n, c]
        for i in range(out_h):
            for j in range(out_w):
                h0, w0 = i * stride, j * stride
                best, best_at = plane[h0, w0], h0 * width + w0
                for h in range(h0, h0 + size):
                    for w in range(w0, w0 + size):
                        value = plane[h, w]
                        # `|` and `&`, not `or` and `and`: no branches, twice as fast here.
                        if (value > best) | (np.isnan(value) & (not np.isnan(best))):
                            best, best_at = value, h * width + w
                out[n, c, i, j] = best
                argmax[n, c, i, j] = best_at
    return out, argmax


@njit(parallel=True, cache=True)
def _maxpool_backward(dout, argmax, height, width):
    """dout, argmax: (N, C, H', W') -> dx: (N, C, H, W).

    dx[n, c].flat[argmax[n, c, i, j]] += dout[n, c, i, j] for every window. With overlapping
    windows one cell can win several, and receives the sum.

    Parallel over the (n, c) planes: all the windows of one plane, and so every addition into it,
    are handled by one thread in sequence; two threads never add into the same cell. The windows
    are visited in reverse order (last row first) so that a cell that wins several windows sums
    them in the order the reference does (by the winner's offset inside the window): float32
    results then agree bit for bit.
    """
    n_count, c_count, out_h, out_w = dout.shape
    dx = np.zeros((n_count, c_count, height, width), dtype=dout.dtype)
    for nc in prange(n_count * c_count):
        n, c = nc // c_count, nc % c_count
        for i in range(out_h - 1, -1, -1):
            for j in range(out_w - 1, -1, -1):
                k = argmax[n, c, i, j]
                dx[n, c, k // width, k % width] += dout[n, c, i, j]
    return dx


def maxpool2d_forward(x, size=2, stride=2):
    """x: (N, C, H, W). Returns out: (N, C, H', W') in x's dtype, with
    H' = 1 + (H - size) // stride (W' likewise), and a cache for maxpool2d_backward of this module.
    """
    size, stride = check_maxpool_inputs(x, size, stride)
    out_h = 1 + (x.shape[2] - size) // stride
    out_w = 1 + (x.shape[3] - size) // stride
    out, argmax = _maxpool_forward(np.ascontiguousarray(x), size, stride, out_h, out_w)
    return out, (x.shape, x.dtype, argmax)


def maxpool2d_backward(dout, cache):
    """dout: (N, C, H', W'). Returns dx: (N, C, H, W) in the forward's dtype."""
    x_shape, dtype, argmax = cache
    dout = np.ascontiguousarray(check_dout(dout, argmax.shape, dtype))
    return _maxpool_backward(dout, argmax, x_shape[2], x_shape[3])
