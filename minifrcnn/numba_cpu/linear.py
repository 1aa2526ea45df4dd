"""The fully connected layer with its matrix products split among threads (gemm.py).

Read minifrcnn/layers/linear.py first: same maths, same signature, same cache. Nothing here is
compiled: a linear layer is all matrix product. The reference's `x_flat @ w.T` runs on one core,
because `import minifrcnn` makes OpenBLAS single-threaded; with 2000 RoIs VGG16's fc6 is 205
billion multiply-adds, and one core left the other idle. Here every product is cut into one
slab of output columns per thread, as the convolutions' are.
"""

import numpy as np

from ..layers._checks import check_dout
from ..layers.linear import check_linear_inputs, factored_layer
from .gemm import matmul


def linear_forward(x, w, b):
    """x: (N, D) or (N, ...) flattened to (N, D); w: (M, D); b: (M,).
    Returns out: (N, M) = x_flat @ w.T + b, and a cache (x, w) as the reference's."""
    x_flat = check_linear_inputs(x, w, b)
    out = matmul(x_flat, w.T, np.empty((x_flat.shape[0], w.shape[0]), x.dtype))
    out += b
    return out, (x, w)


def linear_backward(dout, cache):
    """dout: (N, M). Returns dx (shape of x), dw: (M, D), db: (M,)."""
    x, w = cache
    dout = check_dout(dout, (x.shape[0], w.shape[0]), x.dtype)
    x_flat = x.reshape(x.shape[0], -1)
    dx = matmul(dout, w, np.empty(x_flat.shape, x.dtype)).reshape(x.shape)
    dw = matmul(dout.T, x_flat, np.empty(w.shape, x.dtype))
    return dx, dw, dout.sum(axis=0)


factored_linear_forward, factored_linear_backward = factored_layer(linear_forward, linear_backward)
