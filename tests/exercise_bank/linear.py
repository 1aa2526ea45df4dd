"""linear_forward(x, w, b) -> (out, cache): x (N, D) or (N, d1, d2, ...) flattened to (N, D),
w (M, D), b (M,), out = x_flat @ w.T + b; linear_backward(dout, cache) -> (dx (shape of x), dw
(M, D), db (M,))."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "linear"


# ---- correct alternatives -------------------------------------------------------------------

def linear_forward_matmul(x, w, b):
    x_flat = x.reshape(x.shape[0], -1)
    return x_flat @ w.T + b, (x, w)


def linear_backward_matmul(dout, cache):
    x, w = cache
    x_flat = x.reshape(x.shape[0], -1)
    dx = (dout @ w).reshape(x.shape)
    dw = dout.T @ x_flat
    db = dout.sum(axis=0)
    return dx, dw, db


def linear_forward_loops(x, w, b):
    n, m = x.shape[0], w.shape[0]
    x_flat = x.reshape(n, -1)
    out = np.zeros((n, m), dtype=x.dtype)
    for i in range(n):
        for j in range(m):
            out[i, j] = np.dot(x_flat[i], w[j]) + b[j]
    return out, {"x_flat": x_flat, "x_shape": x.shape, "w": w}


def linear_backward_loops(dout, cache):
    x_flat, w = cache["x_flat"], cache["w"]
    n, m = dout.shape
    dx = np.zeros_like(x_flat)
    dw = np.zeros_like(w)
    db = np.zeros(m, dtype=w.dtype)
    for i in range(n):
        dx[i] += dout[i] @ w
        dw += np.outer(dout[i], x_flat[i])
        db += dout[i]
    return dx.reshape(cache["x_shape"]), dw, db


def linear_forward_einsum(x, w, b):
    x_flat = np.reshape(x, (len(x), w.shape[1]))
    return np.einsum("nd,md->nm", x_flat, w) + b[None, :], (x_flat, x.shape, w)


def linear_backward_einsum(dout, cache):
    x_flat, x_shape, w = cache
    dx = np.einsum("nm,md->nd", dout, w).reshape(x_shape)
    dw = np.einsum("nm,nd->md", dout, x_flat)
    db = np.einsum("nm->m", dout)
    return dx, dw, db


CORRECT = {
    "matmul": (linear_forward_matmul, linear_backward_matmul),
    "loops": (linear_forward_loops, linear_backward_loops),
    "einsum": (linear_forward_einsum, linear_backward_einsum),
}


# ---- mutants --------------------------------------------------------------------------------

def backward_dx_flat(dout, cache):
    x, w = cache
    x_flat = x.reshape(x.shape[0], -1)
    return dout @ w, dout.T @ x_flat, dout.sum(axis=0)


def backward_db_mean(dout, cache):
    x, w = cache
    x_flat = x.reshape(x.shape[0], -1)
    return (dout @ w).reshape(x.shape), dout.T @ x_flat, dout.mean(axis=0)


def backward_dw_transposed(dout, cache):
    x, w = cache
    x_flat = x.reshape(x.shape[0], -1)
    return (dout @ w).reshape(x.shape), x_flat.T @ dout, dout.sum(axis=0)


def _channels_last(x):
    return x.transpose(0, *range(2, x.ndim), 1) if x.ndim > 2 else x


def forward_channels_last(x, w, b):
    x_flat = _channels_last(x).reshape(x.shape[0], -1)
    return x_flat @ w.T + b, (x, w)


def backward_channels_last(dout, cache):
    x, w = cache
    x_last = _channels_last(x)
    dx_last = (dout @ w).reshape(x_last.shape)
    dx = np.moveaxis(dx_last, -1, 1) if x.ndim > 2 else dx_last
    return dx, dout.T @ x_last.reshape(x.shape[0], -1), dout.sum(axis=0)


def forward_float64(x, w, b):
    n, m = x.shape[0], w.shape[0]
    x_flat = x.reshape(n, -1)
    out = np.zeros((n, m))
    out += x_flat @ w.T
    out += b
    return out, (x, w)


def backward_db_assign(dout, cache):
    x_flat, w = cache["x_flat"], cache["w"]
    n, m = dout.shape
    dx = np.zeros_like(x_flat)
    dw = np.zeros_like(w)
    db = np.zeros(m, dtype=w.dtype)
    for i in range(n):
        dx[i] += dout[i] @ w
        dw += np.outer(dout[i], x_flat[i])
        db = dout[i]
    return dx.reshape(cache["x_shape"]), dw, db


def forward_bias_column(x, w, b):
    x_flat = x.reshape(x.shape[0], -1)
    return x_flat @ w.T + b[:, None], (x, w)


MUTANTS = {
    "dx_not_reshaped": Mutant((linear_forward_matmul, backward_dx_flat),
                              "dx returned flat (N, D) instead of in the shape of x"),
    "db_mean": Mutant((linear_forward_matmul, backward_db_mean),
                      "db averaged over the batch instead of summed"),
    "dw_transposed": Mutant((linear_forward_matmul, backward_dw_transposed),
                            "dw = x_flat.T @ dout, (D, M) instead of (M, D)"),
    "channels_last_flatten": Mutant((forward_channels_last, backward_channels_last),
                                    "flattens (N, C, H, W) channels-last, as (N, H, W, C)"),
    "forward_float64": Mutant((forward_float64, linear_backward_matmul),
                              "out = np.zeros((N, M)): float64 output for float32 inputs"),
    "db_assign": Mutant((linear_forward_loops, backward_db_assign),
                        "db = dout[i] instead of db += dout[i] in the loop: only the last row"),
    "bias_column": Mutant((forward_bias_column, linear_backward_matmul),
                          "b[:, None] added as a column: an error unless N == M, then wrong"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'dx_not_reshaped':        'dx',
    'db_mean':                'db',
    'dw_transposed':          'dw',
    'channels_last_flatten':  'out',
    'forward_float64':        'out',
    'db_assign':              'db',
    'bias_column':            'runs',
}
