"""2-D convolution (cross-correlation, as in Caffe and PyTorch) by im2col and one matrix product.

Every output pixel is a dot product between one filter and the input patch under it. im2col
copies each patch into a row of a matrix, so the whole layer becomes a single GEMM:

    cols  (N*H'*W', C*KH*KW)   one row per output pixel, one column per weight of a filter
    w_mat (F, C*KH*KW)         one row per filter
    out   = cols @ w_mat.T + b  -> (N*H'*W', F) -> (N, F, H', W')

with the output size (syllabus: W2 = (W1 - F + 2P) / S + 1, rounded down):

    H' = 1 + (H + 2 pad - KH) // stride,   W' = 1 + (W + 2 pad - KW) // stride
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import (
    check_array,
    check_dout,
    check_non_negative_int,
    check_positive_int,
    check_same_dtype,
)


def conv_output_size(size, kernel, stride, pad):
    """H' = 1 + (H + 2 pad - KH) // stride (rows left over at the far edge are not used)."""
    return 1 + (size + 2 * pad - kernel) // stride


def im2col(x, kh, kw, stride, pad):
    """Patches of x as rows of a matrix.

    x: (N, C, H, W)  ->  cols: (N*H'*W', C*KH*KW), rows ordered (n, i, j), columns (c, kh, kw),
    which is the order of w.reshape(F, -1) for w of shape (F, C, KH, KW).
    """
    n, c = x.shape[:2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    # windows[n, c, i, j, a, b] = x_pad[n, c, i*stride + a, j*stride + b]: a view, no copy yet.
    windows = sliding_window_view(x_pad, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    out_h, out_w = windows.shape[2:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, c * kh * kw)


def col2im(dcols, x_shape, kh, kw, stride, pad):
    """The adjoint of im2col: add every patch gradient back to the pixels it was copied from.

    dcols: (N*H'*W', C*KH*KW)  ->  dx: (N, C, H, W). A pixel under several overlapping patches
    receives the sum of their gradients.
    """
    n, c, h, w = x_shape
    out_h = conv_output_size(h, kh, stride, pad)
    out_w = conv_output_size(w, kw, stride, pad)
    d = dcols.reshape(n, out_h, out_w, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (N, C, KH, KW, H', W')
    dx_pad = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    # One strided slice per kernel offset (a, b): within a slice every pixel appears once, so `+=`
    # is safe; pixels shared by neighbouring patches are summed across the KH*KW iterations.
    for a in range(kh):
        for b in range(kw):
            dx_pad[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] += d[:, :, a, b]
    return dx_pad[:, :, pad:pad + h, pad:pad + w]


def check_conv_inputs(x, w, b, stride, pad):
    """The argument checks of conv2d_forward, shared with its Numba and CUDA twins (which pass
    stand-ins with the shapes and dtypes of device arrays). Returns stride, pad as ints."""
    check_array("x", x, 4, "(N, C, H, W)")
    check_array("w", w, 4, "(F, C, KH, KW)")
    check_array("b", b, 1, "(F,)")
    check_same_dtype("w", w, "x", x)
    check_same_dtype("b", b, "x", x)
    stride = check_positive_int("stride", stride)
    pad = check_non_negative_int("pad", pad)
    _, c, h, wd = x.shape
    f, wc, kh, kw = w.shape
    if wc != c:
        raise ValueError(f"w has {wc} input channels but x has {c}: w must be (F, {c}, KH, KW)")
    if b.shape != (f,):
        raise ValueError(f"b must have shape ({f},) for {f} filters, got {b.shape}")
    if kh > h + 2 * pad or kw > wd + 2 * pad:
        raise ValueError(
            f"kernel {kh}x{kw} is larger than the padded input {h + 2 * pad}x{wd + 2 * pad}"
        )
    return stride, pad


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve F filters over a batch of images.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), zero padding `pad` on every side.
    Returns out: (N, F, H', W') with H' = 1 + (H + 2 pad - KH) // stride, and a cache for the
    backward pass:

        out[n, f, i, j] = b[f] + sum_{c, a, b'} w[f, c, a, b'] * x_pad[n, c, i*stride + a, j*stride + b']
    """
    stride, pad = check_conv_inputs(x, w, b, stride, pad)
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out_h = conv_output_size(h, kh, stride, pad)
    out_w = conv_output_size(wd, kw, stride, pad)

    cols = im2col(x, kh, kw, stride, pad)
    out = cols @ w.reshape(f, -1).T + b                      # (N*H'*W', F)
    out = out.reshape(n, out_h, out_w, f).transpose(0, 3, 1, 2)
    # The cache keeps x, not cols: cols is KH*KW times larger than x, and keeping it for every
    # layer of VGG16 would not fit in memory. The backward pass rebuilds it.
    cache = (x, w, stride, pad)
    return np.ascontiguousarray(out), cache


def conv2d_backward(dout, cache):
    """Gradients of a convolution.

    dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,):

        db = sum of dout over n, i, j
        dw = dout_mat.T @ cols           (each weight meets every patch pixel it multiplied)
        dx = col2im(dout_mat @ w_mat)    (each pixel collects from every patch it was copied into)
    """
    x, w, stride, pad = cache
    f, _, kh, kw = w.shape
    n, _, h, wd = x.shape
    out_shape = (n, f, conv_output_size(h, kh, stride, pad), conv_output_size(wd, kw, stride, pad))
    dout = check_dout(dout, out_shape, x.dtype)
    dout_mat = dout.transpose(0, 2, 3, 1).reshape(-1, f)    # (N*H'*W', F), rows ordered like cols
    cols = im2col(x, kh, kw, stride, pad)
    db = dout_mat.sum(axis=0)
    dw = (dout_mat.T @ cols).reshape(w.shape)
    dx = col2im(dout_mat @ w.reshape(f, -1), x.shape, kh, kw, stride, pad)
    return np.ascontiguousarray(dx), dw, db
