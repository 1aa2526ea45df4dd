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
rebuilds it, as the reference does. cols and dcols are scratch: they live only inside one call
and never reach the caller. So they share one buffer, kept between calls (see _scratch) instead
of being allocated afresh each time: on the benchmark machine a fresh 14 MB array per step cost
more than the copies themselves (the memory comes back from the kernel as new pages, each
faulted in on first write, and is handed back on free), and made the GEMMs 3-5 times slower.

Threads: each GEMM is cut into independent slabs of columns, one per thread (gemm.py).
"""

import threading

import numpy as np
from numba import njit, prange

from ..layers._checks import check_dout
from ..layers.conv import check_conv_inputs, conv_output_size
from .gemm import matmul


_local = threading.local()


def _scratch(shape, dtype):
    """An uninitialised array of this shape and dtype, for use within one call only.

    The memory is one flat buffer per dtype, kept from call to call and grown when a larger one
    is asked for, so a training step reuses the same pages instead of faulting in fresh ones.
    The buffer belongs to the calling thread (threading.local): two Python threads running
    convolutions at once never share one. The price: the largest cols seen so far stays
    allocated (KH*KW times the largest conv input).
    """
    size = int(np.prod(shape))
    if not hasattr(_local, "buffers"):
        _local.buffers = {}                    # dtype -> flat buffer, for this thread only
    dtype = np.dtype(dtype)
    buf = _local.buffers.get(dtype)
    if buf is None or buf.size < size:
        buf = _local.buffers[dtype] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


@njit(cache=True)
def _valid_range(b, stride, pad, width, out_w):
    """The output columns j in [j0, j1) whose tap w = j*stride + b - pad lies in 0 <= w < width
    (the others fall on the zero padding). Both ends are clipped to [0, out_w]."""
    j0 = min(out_w, max(0, (pad - b + stride - 1) // stride))   # first j with w >= 0 (ceil)
    j1 = min(out_w, (width - 1 + pad - b) // stride + 1) if width - 1 + pad - b >= 0 else 0
    return j0, max(j0, j1)                                      # empty when j1 <= j0


@njit(parallel=True, cache=True)
def _im2col(x, kh, kw, stride, pad, out_h, out_w, cols):
    """x: (N, C, H, W) -> cols: (C*KH*KW, N*H'*W'), written into the given array and returned.
    Every entry is written, so cols may come uninitialised.

    cols[(c, a, b), (n, i, j)] = x[n, c, i*stride + a - pad, j*stride + b - pad], or 0 where that
    falls on the padding.

    Parallel over the (n, c) planes of x: plane (n, c) fills rows (c, ., .) in columns (n, ., .)
    only, a block no other plane touches, so the writes are disjoint.
    """
    n_count, c_count, height, width = x.shape
    for nc in prange(n_count * c_count):
        n, c = nc // c_count, nc % c_count
        for a in range(kh):
            for b in range(kw):
                dst = cols[(c * kh + a) * kw + b]               # row (c, a, b), 1-D
                # The columns j whose tap w = j*stride + b - pad lands inside the image form one
                # range [j0, j1): zeros before and after it, a plain copy within it. No test per
                # element; for stride 1 the copy is one slice assignment, which the compiler
                # turns into a vectorised copy (4 times faster than an element-wise `if`).
                j0, j1 = _valid_range(b, stride, pad, width, out_w)
                for i in range(out_h):
                    h = i * stride + a - pad
                    start = (n * out_h + i) * out_w           # column of (n, i, 0)
                    if h < 0 or h >= height:
                        dst[start:start + out_w] = 0
                        continue
                    dst[start:start + j0] = 0
                    if stride == 1:
                        dst[start + j0:start + j1] = x[n, c, h, j0 + b - pad:j1 + b - pad]
                    else:
                        src = x[n, c, h]
                        for j in range(j0, j1):
                            dst[start + j] = src[j * stride + b - pad]
                    dst[start + j1:start + out_w] = 0
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
    # np.empty, and each thread zeroes the planes it owns: the zero-fill is split between the
    # threads and each plane is still hot in cache when the additions start.
    dx = np.empty((n_count, c_count, height, width), dtype=dcols.dtype)
    for nc in prange(n_count * c_count):
        n, c = nc // c_count, nc % c_count
        dx[n, c] = 0
        for a in range(kh):
            for b in range(kw):
                src = dcols[(c * kh + a) * kw + b]             # row (c, a, b), 1-D
                j0, j1 = _valid_range(b, stride, pad, width, out_w)   # taps off the padding
                for i in range(out_h):
                    h = i * stride + a - pad
                    if h < 0 or h >= height:
                        continue
                    dst = dx[n, c, h]                           # image row h, 1-D
                    start = (n * out_h + i) * out_w
                    for j in range(j0, j1):
                        dst[j * stride + b - pad] += src[start + j]
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
    cols = _scratch((w[0].size, n * out_h * out_w), x.dtype)
    _im2col(x, kh, kw, stride, pad, out_h, out_w, cols)
    w_mat = w.reshape(f, -1)
    out = matmul(w_mat, cols, np.empty((f, cols.shape[1]), x.dtype))    # the one GEMM
    out += b[:, None]
    # (F, N, H', W') -> (N, F, H', W'). For N = 1 this is only a reshape: no copy.
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
    # (F, N*H'*W'), columns ordered (n, i, j) like the columns of cols (no copy for N = 1).
    dout_mat = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, -1)

    db = dout_mat.sum(axis=1)
    cols = _scratch((c * kh * kw, n * out_h * out_w), x.dtype)
    _im2col(x, kh, kw, stride, pad, out_h, out_w, cols)
    dw = matmul(dout_mat, cols.T, np.empty((f, cols.shape[0]), x.dtype)).reshape(w.shape)
    # cols is no longer needed: dcols, of the same shape, takes over its buffer.
    dcols = matmul(w.reshape(f, -1).T, dout_mat, out=cols)
    dx = _col2im(dcols, n, c, height, width, kh, kw, stride, pad, out_h, out_w)
    return dx, dw, db
