"""relu_forward(x) -> (out, cache); relu_backward(dout, cache) -> dx, with dx = dout where x > 0
and 0 elsewhere (the subgradient 0 at x == 0)."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "relu"


# ---- correct alternatives -------------------------------------------------------------------

def relu_forward_maximum(x):
    return np.maximum(x, 0), x


def relu_backward_maximum(dout, cache):
    x = cache
    return dout * (x > 0)


def relu_forward_mask(x):
    mask = x > 0
    return np.where(mask, x, x.dtype.type(0)), mask


def relu_backward_mask(dout, cache):
    mask = cache
    return np.where(mask, dout, dout.dtype.type(0))


def relu_forward_copy(x):
    out = x.copy()
    out[out < 0] = 0
    return out, {"x": x}


def relu_backward_copy(dout, cache):
    dx = dout.copy()
    dx[cache["x"] <= 0] = 0
    return dx


CORRECT = {
    "maximum": (relu_forward_maximum, relu_backward_maximum),
    "boolean_mask": (relu_forward_mask, relu_backward_mask),
    "copy_and_zero": (relu_forward_copy, relu_backward_copy),
}


# ---- mutants --------------------------------------------------------------------------------

def backward_ge(dout, cache):
    x = cache
    return dout * (x >= 0)


def forward_in_place(x):
    x[x < 0] = 0
    return x, x


def backward_in_place(dout, cache):
    x = cache
    dout[x <= 0] = 0
    return dout


def backward_mask_only(dout, cache):
    x = cache
    return (x > 0).astype(x.dtype)


def forward_float64(x):
    out = np.zeros(x.shape)
    out[x > 0] = x[x > 0]
    return out, x


def backward_relu_of_dout(dout, cache):
    return np.maximum(dout, 0)


def forward_leaky(x):
    return np.maximum(x, 0.01 * x), x


def forward_cache_out(x):
    out = np.maximum(x, 0)
    return out, out


def backward_out_ge_zero(dout, cache):
    out = cache
    return dout * (out >= 0)


MUTANTS = {
    "backward_ge": Mutant((relu_forward_maximum, backward_ge),
                          "mask x >= 0 in the backward pass: gradient 1 instead of 0 at x == 0"),
    "forward_in_place": Mutant((forward_in_place, relu_backward_maximum),
                               "x[x < 0] = 0 in place: the caller's x is changed"),
    "backward_in_place": Mutant((relu_forward_maximum, backward_in_place),
                                "dout[x <= 0] = 0 in place: the caller's dout is changed"),
    "backward_mask_only": Mutant((relu_forward_maximum, backward_mask_only),
                                 "returns the mask x > 0 and forgets to multiply by dout"),
    "forward_float64": Mutant((forward_float64, relu_backward_maximum),
                              "out = np.zeros(x.shape): float64 output for float32 x"),
    "backward_relu_of_dout": Mutant((relu_forward_maximum, backward_relu_of_dout),
                                    "dx = max(dout, 0): ReLU applied to dout instead of masking "
                                    "by x"),
    "forward_leaky": Mutant((forward_leaky, relu_backward_maximum),
                            "leaky ReLU max(x, 0.01 x) instead of max(x, 0)"),
    "cache_out_ge_zero": Mutant((forward_cache_out, backward_out_ge_zero),
                                "caches out and masks out >= 0, which is always true: "
                                "negative inputs get the gradient"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'backward_ge':            'dx',
    'forward_in_place':       'input unchanged',
    'backward_in_place':      'input unchanged',
    'backward_mask_only':     'dx',
    'forward_float64':        'out',
    'backward_relu_of_dout':  'dx',
    'forward_leaky':          'out',
    'cache_out_ge_zero':      'dx',
}
