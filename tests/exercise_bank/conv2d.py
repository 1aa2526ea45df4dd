"""conv2d_forward(x, w, b, stride, pad) -> (out, cache): cross-correlation of x (N, C, H, W) with
w (F, C, KH, KW) plus b (F,), zero padding `pad` on every side, H' = 1 + (H + 2 pad - KH) // stride;
conv2d_backward(dout, cache) -> (dx, dw, db)."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "conv2d"


def _pad(x, pad):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


# ---- correct alternative 1: loops ------------------------------------------------------------

def _loops_forward(x, w, b, stride, pad, plus_one=True, pad_all_axes=False, flip=False,
                   out_dtype=True):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    extra = 1 if plus_one else 0
    out_h = extra + (h + 2 * pad - kh) // stride
    out_w = extra + (wd + 2 * pad - kw) // stride
    x_pad = np.pad(x, pad) if pad_all_axes else _pad(x, pad)
    kernel = w[:, :, ::-1, ::-1] if flip else w
    out = np.zeros((n, f, out_h, out_w), dtype=x.dtype if out_dtype else np.float64)
    for i in range(n):
        for k in range(f):
            for r in range(out_h):
                for s in range(out_w):
                    total = b[k]
                    for ch in range(c):
                        patch = x_pad[i, ch, r * stride:r * stride + kh, s * stride:s * stride + kw]
                        total += np.sum(patch * kernel[k, ch])
                    out[i, k, r, s] = total
    return out, (x, w, b, stride, pad)


def _loops_backward(dout, cache, accumulate=True, use_stride=True, crop_negative=False,
                    db_axes=(0, 2, 3)):
    x, w, _, stride, pad = cache
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    out_h, out_w = dout.shape[2:]
    step = stride if use_stride else 1
    x_pad = _pad(x, pad)
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for i in range(n):
        for k in range(f):
            for r in range(out_h):
                for s in range(out_w):
                    rows = slice(r * step, r * step + kh)
                    cols = slice(s * step, s * step + kw)
                    g = dout[i, k, r, s]
                    dw[k] += g * x_pad[i, :, rows, cols]
                    if accumulate:
                        dx_pad[i, :, rows, cols] += g * w[k]
                    else:
                        dx_pad[i, :, rows, cols] = g * w[k]
    db = dout.sum(axis=db_axes)
    if crop_negative:
        dx = dx_pad[:, :, pad:-pad, pad:-pad]
    else:
        dx = dx_pad[:, :, pad:pad + h, pad:pad + wd]
    return dx, dw, db


def conv2d_forward_loops(x, w, b, stride, pad):
    return _loops_forward(x, w, b, stride, pad)


def conv2d_backward_loops(dout, cache):
    return _loops_backward(dout, cache)


# ---- correct alternative 2: im2col with index arrays, the columns kept in the cache ----------

def _patch_indices(c, kh, kw, out_h, out_w, stride):
    """Row and column indices into the padded image for every (patch pixel, output pixel)."""
    ch = np.repeat(np.arange(c), kh * kw)                       # (C*KH*KW,)
    di = np.tile(np.repeat(np.arange(kh), kw), c)
    dj = np.tile(np.arange(kw), kh * c)
    oi = stride * np.repeat(np.arange(out_h), out_w)            # (H'*W',)
    oj = stride * np.tile(np.arange(out_w), out_h)
    return ch[:, None], di[:, None] + oi[None, :], dj[:, None] + oj[None, :]


def conv2d_forward_im2col(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out_h = (h + 2 * pad - kh) // stride + 1
    out_w = (wd + 2 * pad - kw) // stride + 1
    ch, rows, cols = _patch_indices(c, kh, kw, out_h, out_w, stride)
    x_cols = _pad(x, pad)[:, ch, rows, cols]                    # (N, C*KH*KW, H'*W')
    out = np.matmul(w.reshape(f, -1), x_cols) + b[:, None]      # (N, F, H'*W')
    cache = {"x_cols": x_cols, "w": w, "x_shape": x.shape, "index": (ch, rows, cols), "pad": pad}
    return out.reshape(n, f, out_h, out_w), cache


def conv2d_backward_im2col(dout, cache):
    x_cols, w = cache["x_cols"], cache["w"]
    n, c, h, wd = cache["x_shape"]
    pad = cache["pad"]
    f = w.shape[0]
    d = dout.reshape(n, f, -1)                                  # (N, F, H'*W')
    db = d.sum(axis=(0, 2))
    dw = np.einsum("nfp,nkp->fk", d, x_cols).reshape(w.shape)
    dcols = np.matmul(w.reshape(f, -1).T, d)                    # (N, C*KH*KW, H'*W')
    dx_pad = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=dcols.dtype)
    ch, rows, cols = cache["index"]
    ch, rows, cols = np.broadcast_arrays(ch, rows, cols)
    for i in range(n):
        np.add.at(dx_pad[i], (ch, rows, cols), dcols[i])
    return dx_pad[:, :, pad:pad + h, pad:pad + wd], dw, db


# ---- correct alternative 3: dx as a full convolution of the dilated dout with the flipped
# kernel (the textbook derivation), dw as a correlation of the input with the dilated dout ----

def _dilate(dout, stride):
    n, f, out_h, out_w = dout.shape
    d = np.zeros((n, f, (out_h - 1) * stride + 1, (out_w - 1) * stride + 1), dtype=dout.dtype)
    d[:, :, ::stride, ::stride] = dout
    return d


def _correlate(a, k):
    """Valid cross-correlation, stride 1: a (N, C, H, W), k (F, C, KH, KW) -> (N, F, H', W')."""
    kh, kw = k.shape[2:]
    out_h, out_w = a.shape[2] - kh + 1, a.shape[3] - kw + 1
    out = np.zeros((a.shape[0], k.shape[0], out_h, out_w), dtype=a.dtype)
    for p in range(kh):
        for q in range(kw):
            out += np.einsum("nchw,fc->nfhw", a[:, :, p:p + out_h, q:q + out_w], k[:, :, p, q])
    return out


def conv2d_forward_textbook(x, w, b, stride, pad):
    full = _correlate(_pad(x, pad), w)
    out = full[:, :, ::stride, ::stride] + b[None, :, None, None]
    return out, (x, w, stride, pad)


def _textbook_backward(dout, cache, flip=True):
    x, w, stride, pad = cache
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    d = _dilate(dout, stride)                                   # (N, F, DH, DW)
    kernel = w[:, :, ::-1, ::-1] if flip else w
    d_full = np.pad(d, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dx_used = _correlate(d_full, kernel.transpose(1, 0, 2, 3))  # (N, C, DH + KH - 1, ...)
    # Rows and columns of the padded input that no window reached get no gradient.
    dx_pad = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=dx_used.dtype)
    dx_pad[:, :, :dx_used.shape[2], :dx_used.shape[3]] = dx_used
    x_used = _pad(x, pad)[:, :, :d.shape[2] + kh - 1, :d.shape[3] + kw - 1]
    dw = _correlate(x_used.transpose(1, 0, 2, 3), d.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    db = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, pad:pad + h, pad:pad + wd], dw, db


def conv2d_backward_textbook(dout, cache):
    return _textbook_backward(dout, cache)


CORRECT = {
    "loops": (conv2d_forward_loops, conv2d_backward_loops),
    "im2col_index_arrays": (conv2d_forward_im2col, conv2d_backward_im2col),
    "textbook_flipped_kernel": (conv2d_forward_textbook, conv2d_backward_textbook),
}


# ---- mutants --------------------------------------------------------------------------------

def forward_no_plus_one(x, w, b, stride, pad):
    return _loops_forward(x, w, b, stride, pad, plus_one=False)


def forward_pad_all_axes(x, w, b, stride, pad):
    return _loops_forward(x, w, b, stride, pad, pad_all_axes=True)


def forward_flipped(x, w, b, stride, pad):
    return _loops_forward(x, w, b, stride, pad, flip=True)


def forward_float64(x, w, b, stride, pad):
    return _loops_forward(x, w, b, stride, pad, out_dtype=False)


def backward_kernel_not_flipped(dout, cache):
    return _textbook_backward(dout, cache, flip=False)


def backward_dx_assign(dout, cache):
    return _loops_backward(dout, cache, accumulate=False)


def backward_crop_negative(dout, cache):
    return _loops_backward(dout, cache, crop_negative=True)


def backward_db_per_image(dout, cache):
    return _loops_backward(dout, cache, db_axes=(1, 2, 3))


def backward_ignores_stride(dout, cache):
    return _loops_backward(dout, cache, use_stride=False)


MUTANTS = {
    "no_plus_one": Mutant((forward_no_plus_one, conv2d_backward_loops),
                          "H' = (H + 2 pad - KH) // stride without the + 1"),
    "pad_all_axes": Mutant((forward_pad_all_axes, conv2d_backward_loops),
                           "np.pad(x, pad) pads N and C too: images and channels shift"),
    "forward_flipped_kernel": Mutant((forward_flipped, conv2d_backward_loops),
                                     "true convolution (kernel flipped) instead of "
                                     "cross-correlation"),
    "forward_float64": Mutant((forward_float64, conv2d_backward_loops),
                              "out = np.zeros((N, F, H', W')): float64 output for float32 input"),
    "dx_kernel_not_flipped": Mutant((conv2d_forward_textbook, backward_kernel_not_flipped),
                                    "dx as a full convolution of dout with the kernel not flipped"),
    "dx_assign": Mutant((conv2d_forward_loops, backward_dx_assign),
                        "dx_pad[window] = instead of += : overlapping windows overwrite"),
    "crop_negative_pad": Mutant((conv2d_forward_loops, backward_crop_negative),
                                "dx cropped as dx_pad[pad:-pad]: empty when pad == 0"),
    "db_per_image": Mutant((conv2d_forward_loops, backward_db_per_image),
                           "db summed over (F, H', W') per image instead of over (N, H', W')"),
    "backward_ignores_stride": Mutant((conv2d_forward_loops, backward_ignores_stride),
                                      "the backward windows start at r, not r * stride"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'no_plus_one':              'out',
    'pad_all_axes':             'out',
    'forward_flipped_kernel':   'out',
    'forward_float64':          'out',
    'dx_kernel_not_flipped':    'dx',
    'dx_assign':                'dx',
    'crop_negative_pad':        'dx',
    'db_per_image':             'db',
    'backward_ignores_stride':  'dx',
}
