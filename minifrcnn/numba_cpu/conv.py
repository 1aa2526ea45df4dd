"""2-D convolution with Numba: the reference's im2col and one GEMM, with the copies compiled.

Read minifrcnn/layers/conv.py first: the maths and the signature are the same. What changes:

- im2col and col2im are compiled loops (`@njit(parallel=True)`) instead of NumPy views and
  strided slices. They treat the zero padding as zeros on the fly instead of building a padded
  copy of x.
- The column matrix is stored the other way round, as Caffe does: one ROW per filter weight and
  one COLUMN per output pixel,

      cols  (C*KH*KW, N*H'*W')   rows ordered (c, kh, kw), columns ordered (n, i, j)
      out   = w_mat @ cols       (F, C*KH*KW) @ (C*KH*KW, N*H'*W') -> (F, N*H'*W')

  so that each (c, kh, kw) row is filled with contiguous writes, and for N = 1 the product is
  already (F, H', W') with no transpose.
- The GEMMs are NumPy's matrix product, called from Python, outside every parallel loop: a BLAS
  call inside `prange` nests BLAS threads inside Numba threads and can hang (numba#2861).

Memory: cols is KH*KW times larger than x, so it is not kept in the cache; the backward pass
rebuilds it, as the reference does, and frees it before building the equally large dcols.
"""

import numpy as np
from numba import njit, prange

from ..layers._checks import check_dout
from ..layers.conv import check_conv_inputs, conv_output_size


@njit(parallel=True, cache=True)
def _im2col(x, kh, kw, stride, pad, out_h, out_w):
    """x: (N, C, H, W) -> cols: (C*KH*KW, N*H'*W').

    cols[(c, a, b), (n, i, j)] = x[n, c, i*stride + a - pad, j*stride + b - pad], or 0 where that
    falls on the padding.

    Parallel over the (n, c) planes of x: plane (n, c) fills rows (c, ., .) in columns (n, ., .)
    only, a block no other plane touches, so the writes are disjoint.
    """
    n_count, c_count, height, width = x.shape
    cols = np.empty((c_count * kh * kw, n_count * out_h * out_w), dtype=x.dtype)
    for nc in prange(n_count * c_count):
        n, c = nc // c_count, nc % c_count
        for a in range(kh):
            for b in range(kw):
                row = (c * kh + a) * kw + b
                for i in range(out_h):
                    h = i * stride + a - pad
                    for j in range(out_w):
                        w = j * stride + b - pad
                        col = (n * out_h + i) * out_w + j
                        if 0 <= h < height and 0 <= w < width:
                            cols[row, col] = x[n, c, h, w]
                        else:
                            cols[row, col] = 0
    return cols


@njit(parallel=True, cache=True)
def _col2im(dcols, n_count, c_count, height, width, kh, kw, stride, pad, out_h, out_w):
    """The adjoint of _im2col: dcols (C*KH*KW, N*H'*W') -> dx (N, C, H, W).

    Every entry of dcols is added to the pixel it was copied from; taps on the padding are
    dropped. A pixel under several overlapping patches receives the sum of their gradients, added
    in the order (a, b) like the reference's col2im.

    Parallel over the (n, c) planes of dx: all the additions into plane (n, c) come from rows
    (c, ., .) and columns (n, ., .) of dcols and are made by the one thread that owns the plane,
    one after another. No two threads ever add into the same pixel.
    """
    dx = np.zeros((n_count, c_count, height, width), dtype=dcols.dtype)
    for nc in prange(n_count * c_count):
        n, c = nc // c_count, nc % c_count
        for a in range(kh):
            for b in range(kw):
                row = (c * kh + a) * kw + b
                for i in range(out_h):
                    h = i * stride + a - pad
                    if h < 0 or h >= height:
                        continue
                    for j in range(out_w):
                        w = j * stride + b - pad
                        if 0 <= w < width:
                            dx[n, c, h, w] += dcols[row, (n * out_h + i) * out_w + j]
    return dx


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve F filters over a batch of images (cross-correlation, as Caffe and PyTorch).

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), zero padding `pad` on every side.
    Returns out: (N, F, H', W') in x's dtype, H' = 1 + (H + 2 pad - KH) // stride (W' likewise),
    and a cache for conv2d_backward of this module.
    """
    stride, pad = check_conv_inputs(x, w, b, stride, pad)
    n, _, height, width = x.shape
    f, _, kh, kw = w.shape
    out_h = conv_output_size(height, kh, stride, pad)
    out_w = conv_output_size(width, kw, stride, pad)

    x = np.ascontiguousarray(x)             # one compiled layout per dtype
    cols = _im2col(x, kh, kw, stride, pad, out_h, out_w)
    out = w.reshape(f, -1) @ cols            # (F, N*H'*W'): the one GEMM
    out += b[:, None]
    out = out.reshape(f, n, out_h, out_w).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(out), (x, w, stride, pad)


def conv2d_backward(dout, cache):
    """Gradients of a convolution. dout: (N, F, H', W').

    Returns dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,), in the forward's dtype:

        db = sum of dout over n, i, j
        dw = dout_mat @ cols.T           (F, N*H'*W') @ (N*H'*W', C*KH*KW)
        dx = col2im(w_mat.T @ dout_mat)  (C*KH*KW, F) @ (F, N*H'*W')
    """
    x, w, stride, pad = cache
    n, c, height, width = x.shape
    f, _, kh, kw = w.shape
    out_h = conv_output_size(height, kh, stride, pad)
    out_w = conv_output_size(width, kw, stride, pad)
    dout = check_dout(dout, (n, f, out_h, out_w), x.dtype)
    # (F, N*H'*W'), columns ordered (n, i, j) like the columns of cols.
    dout_mat = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, -1)

    db = dout_mat.sum(axis=1)
    cols = _im2col(x, kh, kw, stride, pad, out_h, out_w)
    dw = (dout_mat @ cols.T).reshape(w.shape)
    del cols            # cols and dcols are each KH*KW times the size of x: hold one at a time
    dcols = w.reshape(f, -1).T @ dout_mat
    dx = _col2im(dcols, n, c, height, width, kh, kw, stride, pad, out_h, out_w)
    return dx, dw, db
