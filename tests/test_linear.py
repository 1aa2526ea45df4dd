"""Tests of the fully connected layer (minifrcnn.layers.linear): against a naive loop reference,
finite differences, flattening of (N, C, H, W) input, and input checks."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from minifrcnn.gradcheck import gradcheck
from minifrcnn.layers import linear_backward, linear_forward


@st.composite
def linear_cases(draw):
    """x: (N, d1, ..., dk) with k from 1 to 3 (so D = d1 * ... * dk up to 27), M outputs, a seed."""
    x_shape = (draw(st.integers(1, 2)),
               *draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    return x_shape, draw(st.integers(1, 4)), draw(st.integers(0, 2**32 - 1))


def arrays(x_shape, m, seed, dtype=np.float64):
    """x, w (M, D), b (M,) and dout (N, M), standard normal, in `dtype`."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(x_shape[1:]))
    return tuple(rng.standard_normal(shape).astype(dtype)
                 for shape in (x_shape, (m, d), (m,), (x_shape[0], m)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=linear_cases())
def test_forward_and_backward_match_naive(case, dtype):
    """out, dx, dw and db agree with the loop reference, in the input dtype; dx has x's shape."""
    x, w, b, dout = arrays(*case, dtype=dtype)
    out, cache = linear_forward(x, w, b)
    expected, naive_cache = naive.linear_forward(x, w, b)
    naive.assert_close(out, expected, dtype, "out")
    dx, dw, db = linear_backward(dout, cache)
    expected_dx, expected_dw, expected_db = naive.linear_backward(dout, naive_cache)
    naive.assert_close(dx, expected_dx, dtype, "dx")
    naive.assert_close(dw, expected_dw, dtype, "dw")
    naive.assert_close(db, expected_db, dtype, "db")


@given(case=linear_cases())
def test_backward_passes_gradcheck(case):
    """The backward pass matches central differences of sum(dout * out) for a random dout."""
    x, w, b, _ = arrays(*case)
    result = gradcheck(linear_forward, linear_backward, {"x": x, "w": w, "b": b},
                       rng=np.random.default_rng(case[2]))
    assert result.passed, str(result)
    assert result.max_rel_error < 1e-6, str(result)


def test_by_hand():
    """x = [[1, 2, 3]], w = [[1, 0, -1], [2, 1, 0]], b = [10, 20]:
    out = [1 - 3 + 10, 2 + 2 + 20] = [8, 24]. With dout = [[1, 2]]:
    dx = dout @ w = [1 + 4, 2, -1] = [5, 2, -1], dw = dout.T @ x = [[1, 2, 3], [2, 4, 6]], db = [1, 2]."""
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    out, cache = linear_forward(np.array([[1.0, 2.0, 3.0]]), w, np.array([10.0, 20.0]))
    np.testing.assert_array_equal(out, [[8, 24]])
    dx, dw, db = linear_backward(np.array([[1.0, 2.0]]), cache)
    np.testing.assert_array_equal(dx, [[5, 2, -1]])
    np.testing.assert_array_equal(dw, [[1, 2, 3], [2, 4, 6]])
    np.testing.assert_array_equal(db, [1, 2])


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4),
       m=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_feature_maps_are_flattened_row_major(n, c, h, w, m, seed):
    """x (N, C, H, W) gives exactly what x.reshape(N, -1) gives (as RoI-pooled features enter
    fc6), and dx comes back in x's (N, C, H, W) shape, equal to the flat dx reshaped."""
    x, weights, b, dout = arrays((n, c, h, w), m, seed)
    out, cache = linear_forward(x, weights, b)
    flat_out, flat_cache = linear_forward(x.reshape(n, -1), weights, b)
    np.testing.assert_array_equal(out, flat_out)
    dx, dw, db = linear_backward(dout, cache)
    flat_dx, flat_dw, flat_db = linear_backward(dout, flat_cache)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx, flat_dx.reshape(x.shape))
    np.testing.assert_array_equal(dw, flat_dw)
    np.testing.assert_array_equal(db, flat_db)


# --- bad input ------------------------------------------------------------------------------------

X = np.zeros((2, 3, 2, 2))          # D = 12
W = np.zeros((5, 12))
B = np.zeros(5)


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: linear_forward(np.zeros(12), W, B),
                 "x must be an array (N, D) or (N, ...) with at least 2 dimensions, got (12,)",
                 id="x-1d"),
    pytest.param(lambda: linear_forward(X, np.zeros((5, 10)), B),
                 "x has 12 features per row (shape (2, 3, 2, 2)) but w expects 10: w must be (M, 12)",
                 id="wrong-D"),
    pytest.param(lambda: linear_forward(X, W[None], B),
                 "w must be a 2-D array (M, D), got shape (1, 5, 12)", id="w-3d"),
    pytest.param(lambda: linear_forward(X, W, np.zeros(4)),
                 "b must have shape (5,) for 5 outputs, got (4,)", id="b-length"),
    pytest.param(lambda: linear_forward(X, W, B[None]),
                 "b must be a 1-D array (M,), got shape (1, 5)", id="b-2d"),
    pytest.param(lambda: linear_forward(X.astype(np.int64), W, B),
                 "x must be float32 or float64, got dtype int64", id="x-int"),
    pytest.param(lambda: linear_forward(X.astype(np.float32), W, B),
                 "w has dtype float64 but x has dtype float32", id="w-dtype"),
    pytest.param(lambda: linear_forward(X, W, B.astype(np.float32)),
                 "b has dtype float32 but x has dtype float64", id="b-dtype"),
])
def test_bad_forward_input_is_refused(call, message):
    """Each mistake raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_dout_of_the_wrong_shape_is_refused():
    """The backward pass refuses an upstream gradient that is not (N, M)."""
    _, cache = linear_forward(X, W, B)
    with pytest.raises(ValueError, match=re.escape(
            "dout must have the forward output's shape (2, 5), got (5, 2)")):
        linear_backward(np.zeros((5, 2)), cache)
