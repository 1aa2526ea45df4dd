"""2-D convolution on the GPU: direct kernels, the same signatures as minifrcnn.layers.conv.

Where the reference builds im2col columns and calls one GEMM, the kernels here compute each output
straight from its definition, one thread per element, which reads like the formula:

    forward  out[n, f, i, j]   one thread each: b[f] + filter f . patch under (i, j)
    dw       dw[f, c, ka, kb]  one thread each: sum over n, i, j of dout * the input it multiplied
    db       db[f]             one thread each: sum of dout[:, f]
    dx       dx[n, c, h, w]    one thread each: a gather over the outputs whose patch covers (h, w)

The input gradient is a gather, not a scatter: im2col's adjoint (col2im) adds every patch back
onto the input, and done one thread per patch that would need atomic adds (neighbouring patches
overlap). With one thread per input cell, each cell sums its own contributions in a fixed order,
so dx needs no atomics and is the same bit for bit from run to run.

Clarity first: no shared-memory tiling, so these are far from cuDNN's speed.
"""

from ..layers._checks import (
    check_dout,
    check_same_dtype,
)
from ..layers.conv import check_conv_inputs, conv_output_size
from . import _runtime as rt


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolve F filters over a batch of images on the GPU.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), zero padding `pad` on every side. Returns
    out: (N, F, H', W') with H' = 1 + (H + 2 pad - KH) // stride, and a cache for the backward pass.

    NumPy arrays in give a NumPy array out. If x is a numba.cuda device array, out is one too and
    stays on the GPU; w and b may be either (NumPy ones are copied to the GPU on each call).
    Thread mapping: one thread per element of out.
    """
    on_device = rt.is_device_array(x)
    stride, pad = check_conv_inputs(*(rt.shape_proxy(a) for a in (x, w, b)), stride, pad)
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out_h = conv_output_size(h, kh, stride, pad)
    out_w = conv_output_size(wd, kw, stride, pad)

    from .kernels import conv2d_forward_kernel

    x_dev, w_dev, b_dev = rt.to_device(x), rt.to_device(w), rt.to_device(b)
    out = rt.device_empty((n, f, out_h, out_w), x.dtype)
    rt.launch(conv2d_forward_kernel, out.size, x_dev, w_dev, b_dev, stride, pad, out)
    # The cache keeps the device copies of x and w, so the backward pass does not copy them again.
    return rt.to_host_if(on_device, out), (x_dev, w_dev, stride, pad)


def conv2d_backward(dout, cache):
    """Gradients of a convolution on the GPU.

    dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,), as NumPy arrays
    when dout is a NumPy array and as device arrays when it is a device array. A device dout must
    already have the forward pass's dtype (a NumPy one is converted, as in the reference).

    Thread mapping: one thread per element of dx (a gather, see the module docstring), one per
    element of dw, one per element of db. Every sum runs in a fixed order: no atomics.
    """
    x_dev, w_dev, stride, pad = cache
    on_device = rt.is_device_array(dout)
    n, c, h, wd = x_dev.shape
    f, _, kh, kw = w_dev.shape
    out_shape = (n, f, conv_output_size(h, kh, stride, pad), conv_output_size(wd, kw, stride, pad))
    if on_device:
        check_dout(rt.shape_proxy(dout), out_shape, dout.dtype)
        check_same_dtype("dout", dout, "the forward input x", x_dev)
    else:
        dout = check_dout(dout, out_shape, x_dev.dtype)

    from .kernels import conv2d_db_kernel, conv2d_dw_kernel, conv2d_dx_kernel

    dout_dev = rt.to_device(dout)
    dx = rt.device_empty((n, c, h, wd), x_dev.dtype)
    dw = rt.device_empty((f, c, kh, kw), x_dev.dtype)
    db = rt.device_empty((f,), x_dev.dtype)
    rt.launch(conv2d_dx_kernel, dx.size, dout_dev, w_dev, stride, pad, dx)
    rt.launch(conv2d_dw_kernel, dw.size, x_dev, dout_dev, stride, pad, dw)
    rt.launch(conv2d_db_kernel, db.size, dout_dev, db)
    return tuple(rt.to_host_if(on_device, a) for a in (dx, dw, db))

