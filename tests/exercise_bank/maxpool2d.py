"""maxpool2d_forward(x, size, stride) -> (out, cache), H' = 1 + (H - size) // stride, windows may
overlap, ties go to the first cell in row-major order; maxpool2d_backward(dout, cache) -> dx, each
output's gradient added to its window's winning cell."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "maxpool2d"


# ---- correct alternative 1: loops, the winner found again in the backward pass ---------------

def _loops_forward(x, size, stride, plus_one=True, origin_step=None, out_dtype=True):
    n, c, h, w = x.shape
    extra = 1 if plus_one else 0
    out_h = extra + (h - size) // stride
    out_w = extra + (w - size) // stride
    step = stride if origin_step is None else origin_step
    out = np.zeros((n, c, out_h, out_w), dtype=x.dtype if out_dtype else np.float64)
    for i in range(n):
        for k in range(c):
            for r in range(out_h):
                for s in range(out_w):
                    window = x[i, k, r * step:r * step + size, s * step:s * step + size]
                    out[i, k, r, s] = window.max()
    return out, (x, size, stride)


def _winner_first(window):
    """(row, col) of the first maximum in row-major order: a strict > keeps the earliest."""
    best = (0, 0)
    for a in range(window.shape[0]):
        for b in range(window.shape[1]):
            if window[a, b] > window[best]:
                best = (a, b)
    return best


def _loops_backward(dout, cache, accumulate=True, winner=_winner_first, every_cell=False):
    x, size, stride = cache
    n, c, out_h, out_w = dout.shape
    dx = np.zeros_like(x)
    for i in range(n):
        for k in range(c):
            for r in range(out_h):
                for s in range(out_w):
                    r0, s0 = r * stride, s * stride
                    g = dout[i, k, r, s]
                    if every_cell:
                        dx[i, k, r0:r0 + size, s0:s0 + size] += g
                        continue
                    a, b = winner(x[i, k, r0:r0 + size, s0:s0 + size])
                    if accumulate:
                        dx[i, k, r0 + a, s0 + b] += g
                    else:
                        dx[i, k, r0 + a, s0 + b] = g
    return dx


def maxpool2d_forward_loops(x, size, stride):
    return _loops_forward(x, size, stride)


def maxpool2d_backward_loops(dout, cache):
    return _loops_backward(dout, cache)


# ---- correct alternative 2: windows gathered by index arrays, flat winners in the cache ------

def _window_index(h, w, size, stride, out_h, out_w):
    """Flat index r * W + s into an (H, W) plane of every window cell: (H', W', size*size)."""
    rows = stride * np.arange(out_h)[:, None] + np.arange(size)[None, :]   # (H', size)
    cols = stride * np.arange(out_w)[:, None] + np.arange(size)[None, :]   # (W', size)
    flat = rows[:, None, :, None] * w + cols[None, :, None, :]             # (H', W', size, size)
    return flat.reshape(out_h, out_w, size * size)


def _gathered_forward(x, size, stride, unravel_swapped=False):
    n, c, h, w = x.shape
    out_h = (h - size) // stride + 1
    out_w = (w - size) // stride + 1
    index = _window_index(h, w, size, stride, out_h, out_w)
    planes = x.reshape(n, c, h * w)
    windows = planes[:, :, index]                              # (N, C, H', W', size*size)
    k = np.argmax(windows, axis=-1)
    out = np.take_along_axis(windows, k[..., None], axis=-1)[..., 0]
    if unravel_swapped:
        a, b = k % size, k // size
        winners = (stride * np.arange(out_h)[:, None] + a) * w + stride * np.arange(out_w) + b
    else:
        index = np.broadcast_to(index, windows.shape)
        winners = np.take_along_axis(index, k[..., None], axis=-1)[..., 0]
    return out, {"shape": x.shape, "winners": winners}


def maxpool2d_forward_gather(x, size, stride):
    return _gathered_forward(x, size, stride)


def maxpool2d_backward_gather(dout, cache):
    n, c, h, w = cache["shape"]
    dx = np.zeros((n, c, h * w), dtype=dout.dtype)
    planes = np.arange(n * c).reshape(n, c, 1, 1)
    np.add.at(dx.reshape(-1), (planes * (h * w) + cache["winners"]).ravel(), dout.ravel())
    return dx.reshape(n, c, h, w)


# ---- correct alternative 3: a first-maximum one-hot mask per window -------------------------

def maxpool2d_forward_mask(x, size, stride):
    n, c, h, w = x.shape
    out_h = 1 + (h - size) // stride
    out_w = 1 + (w - size) // stride
    out = np.empty((n, c, out_h, out_w), dtype=x.dtype)
    masks = {}
    for r in range(out_h):
        for s in range(out_w):
            window = x[:, :, r * stride:r * stride + size, s * stride:s * stride + size]
            flat = window.reshape(n, c, -1)
            out[:, :, r, s] = flat.max(axis=2)
            first = flat.argmax(axis=2)
            masks[r, s] = (np.arange(size * size) == first[..., None]).reshape(window.shape)
    return out, (x.shape, size, stride, masks)


def maxpool2d_backward_mask(dout, cache):
    x_shape, size, stride, masks = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for (r, s), mask in masks.items():
        g = dout[:, :, r, s][:, :, None, None]
        dx[:, :, r * stride:r * stride + size, s * stride:s * stride + size] += mask * g
    return dx


CORRECT = {
    "loops": (maxpool2d_forward_loops, maxpool2d_backward_loops),
    "gather_index": (maxpool2d_forward_gather, maxpool2d_backward_gather),
    "first_max_mask": (maxpool2d_forward_mask, maxpool2d_backward_mask),
}


# ---- mutants --------------------------------------------------------------------------------

def forward_no_plus_one(x, size, stride):
    return _loops_forward(x, size, stride, plus_one=False)


def forward_origin_times_size(x, size, stride):
    return _loops_forward(x, size, stride, origin_step=size)


def forward_float64(x, size, stride):
    return _loops_forward(x, size, stride, out_dtype=False)


def backward_assign(dout, cache):
    return _loops_backward(dout, cache, accumulate=False)


def backward_every_cell(dout, cache):
    return _loops_backward(dout, cache, every_cell=True)


def _winner_last(window):
    best = (0, 0)
    for a in range(window.shape[0]):
        for b in range(window.shape[1]):
            if window[a, b] >= window[best]:
                best = (a, b)
    return best


def backward_last_tie(dout, cache):
    return _loops_backward(dout, cache, winner=_winner_last)


def forward_equals_max(x, size, stride):
    out, cache = _loops_forward(x, size, stride)
    return out, (cache, out)


def backward_equals_max(dout, cache):
    (x, size, stride), out = cache
    out_h, out_w = dout.shape[2:]
    dx = np.zeros_like(x)
    for r in range(out_h):
        for s in range(out_w):
            rows = slice(r * stride, r * stride + size)
            cols = slice(s * stride, s * stride + size)
            mask = x[:, :, rows, cols] == out[:, :, r, s][:, :, None, None]
            dx[:, :, rows, cols] += mask * dout[:, :, r, s][:, :, None, None]
    return dx


def forward_unravel_swapped(x, size, stride):
    return _gathered_forward(x, size, stride, unravel_swapped=True)


MUTANTS = {
    "no_plus_one": Mutant((forward_no_plus_one, maxpool2d_backward_loops),
                          "H' = (H - size) // stride without the + 1"),
    "windows_at_i_times_size": Mutant((forward_origin_times_size, maxpool2d_backward_loops),
                                      "window r starts at r * size instead of r * stride"),
    "forward_float64": Mutant((forward_float64, maxpool2d_backward_loops),
                              "out = np.zeros((N, C, H', W')): float64 output for float32 input"),
    "backward_assign": Mutant((maxpool2d_forward_loops, backward_assign),
                              "dx[winner] = g instead of += g: a cell winning two overlapping "
                              "windows keeps one gradient"),
    "gradient_to_every_cell": Mutant((maxpool2d_forward_loops, backward_every_cell),
                                     "the gradient sent to every cell of the window"),
    "ties_last_cell": Mutant((maxpool2d_forward_loops, backward_last_tie),
                             ">= in the scan: on ties the last cell wins, not the first"),
    "ties_every_max": Mutant((forward_equals_max, backward_equals_max),
                             "mask x == max: every tied cell gets the gradient"),
    "unravel_swapped": Mutant((forward_unravel_swapped, maxpool2d_backward_gather),
                              "the window's flat argmax unravelled as (k % size, k // size)"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'no_plus_one':              'out',
    'windows_at_i_times_size':  'out',
    'forward_float64':          'out',
    'backward_assign':          'dx',
    'gradient_to_every_cell':   'dx',
    'ties_last_cell':           'dx',
    'ties_every_max':           'dx',
    'unravel_swapped':          'dx',
}
