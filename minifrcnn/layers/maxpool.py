"""Max pooling over size x size windows moved by `stride`.

Windows overlap when stride < size (AlexNet's 3x3 windows with stride 2). The output size is
rounded down, as in PyTorch (Caffe rounds up; fast-rcnn-spec.md records the decision):

    H' = 1 + (H - size) // stride,   W' = 1 + (W - size) // stride
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import check_array, check_dout, check_positive_int


def check_maxpool_inputs(x, size, stride):
    """The argument checks of maxpool2d_forward, shared with its Numba twin. Returns size, stride."""
    check_array("x", x, 4, "(N, C, H, W)")
    size = check_positive_int("size", size)
    stride = check_positive_int("stride", stride)
    if size > x.shape[2] or size > x.shape[3]:
        raise ValueError(f"window size {size} is larger than the input {x.shape[2]}x{x.shape[3]}")
    return size, stride


def maxpool2d_forward(x, size=2, stride=2):
    """x: (N, C, H, W). Returns out: (N, C, H', W') and a cache.

    out[n, c, i, j] = max over a, b in [0, size) of x[n, c, i*stride + a, j*stride + b].
    The cache keeps, for each output, which cell of its window won (row-major, the first one on
    ties), so the backward pass can send the gradient there.
    """
    size, stride = check_maxpool_inputs(x, size, stride)
    windows = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    windows = windows.reshape(*windows.shape[:4], size * size)   # (N, C, H', W', size*size)
    arg = windows.argmax(axis=-1)                                # np.argmax keeps the first maximum
    out = np.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
    return out, (x.shape, x.dtype, arg, size, stride)


def maxpool2d_backward(dout, cache):
    """dout: (N, C, H', W'). Returns dx: (N, C, H, W).

    Each output's gradient goes to the cell that won its window. With overlapping windows one
    cell can win several windows, and then it must receive the *sum*: assigning instead of adding
    is the classic bug that non-overlapping tests never see.
    """
    x_shape, dtype, arg, size, stride = cache
    dout = check_dout(dout, arg.shape, dtype)
    out_h, out_w = arg.shape[2:]
    dx = np.zeros(x_shape, dtype=dtype)
    # For each offset (a, b) inside the window, the windows whose winner sits there form one
    # strided slice of dx with no repeated cell, so `+=` on the slice is exact; overlaps between
    # windows are summed across iterations.
    for a in range(size):
        for b in range(size):
            won = arg == a * size + b
            dx[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] += dout * won
    return dx
