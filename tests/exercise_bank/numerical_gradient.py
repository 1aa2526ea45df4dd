"""numerical_gradient(f, x, h) -> (float64 array of x's shape): central differences
(f(x + h e_i) - f(x - h e_i)) / (2h) at every index i of x, with x unchanged after the call."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "numerical_gradient"


# ---- correct alternatives -------------------------------------------------------------------

def numerical_gradient_nditer(f, x, h):
    """Perturb x in place, one element at a time, and put the saved value back."""
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_copies(f, x, h):
    """Never touch x: evaluate f on two fresh copies for every flat index."""
    grad = np.empty(x.size, dtype=np.float64)
    for k in range(x.size):
        x_plus = x.copy()
        x_minus = x.copy()
        x_plus.flat[k] += h
        x_minus.flat[k] -= h
        grad[k] = (float(f(x_plus)) - float(f(x_minus))) / (2 * h)
    return grad.reshape(x.shape)


def numerical_gradient_ndindex(f, x, h):
    """np.ndindex over the shape, a try/finally so x is restored even if f raises."""
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        old = x[i].copy()
        try:
            x[i] = old + h
            up = f(x)
            x[i] = old - h
            down = f(x)
        finally:
            x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


CORRECT = {
    "nditer_in_place": (numerical_gradient_nditer,),
    "fresh_copies": (numerical_gradient_copies,),
    "ndindex_try_finally": (numerical_gradient_ndindex,),
}


# ---- mutants --------------------------------------------------------------------------------

def forward_difference(f, x, h):
    grad = np.zeros(x.shape, dtype=np.float64)
    f_x = f(x)
    for i in np.ndindex(*x.shape):
        saved = x[i]
        x[i] = saved + h
        grad[i] = (f(x) - f_x) / h
        x[i] = saved
    return grad


def divides_by_h(f, x, h):
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        saved = x[i]
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        x[i] = saved
        grad[i] = (f_plus - f_minus) / h
    return grad


def not_restored(f, x, h):
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        saved = x[i]
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def restored_by_arithmetic(f, x, h):
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        x[i] += h
        f_plus = f(x)
        x[i] -= 2 * h
        f_minus = f(x)
        x[i] += h
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def copy_by_assignment(f, x, h):
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        x_plus = x          # meant as a copy: it is the same array
        x_plus[i] += h
        f_plus = f(x_plus)
        x_minus = x
        x_minus[i] -= h
        f_minus = f(x_minus)
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def ignores_h(f, x, h):
    step = 1e-5
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        saved = x[i]
        x[i] = saved + step
        f_plus = f(x)
        x[i] = saved - step
        f_minus = f(x)
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * step)
    return grad


def loops_over_rows(f, x, h):
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in range(len(x)):
        saved = x[i].copy()
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


MUTANTS = {
    "forward_difference": Mutant((forward_difference,),
                                 "forward difference (f(x + h) - f(x)) / h instead of central"),
    "divides_by_h": Mutant((divides_by_h,), "central difference divided by h instead of 2h"),
    "not_restored": Mutant((not_restored,), "x[i] is left at x[i] - h: x is changed by the call"),
    "restored_by_arithmetic": Mutant((restored_by_arithmetic,),
                                     "x restored by += h, -= 2h, += h instead of the saved value: "
                                     "x drifts by rounding"),
    "copy_by_assignment": Mutant((copy_by_assignment,),
                                 "x_plus = x taken for a copy: f(x - h) is really f(x), a halved "
                                 "forward difference, and x drifts"),
    "ignores_h": Mutant((ignores_h,), "a hard-coded step 1e-5 instead of the argument h"),
    "loops_over_rows": Mutant((loops_over_rows,),
                              "for i in range(len(x)): perturbs a whole row of a 2-D x at once"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'forward_difference':      'gradient',
    'divides_by_h':            'gradient',
    'not_restored':            'input unchanged',
    'restored_by_arithmetic':  'input unchanged',
    'copy_by_assignment':      'gradient',
    'ignores_h':               'gradient',
    'loops_over_rows':         'gradient',
}
