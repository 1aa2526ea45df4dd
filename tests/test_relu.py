"""Tests of ReLU (minifrcnn.layers.relu): against a naive loop reference, finite differences,
where the gradient passes, and input checks."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from minifrcnn.gradcheck import gradcheck, tie_free
from minifrcnn.layers import relu_backward, relu_forward

# Any number of dimensions from 1 to 4, each of length 1 to 5: ReLU does not care about layout.
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
seeds = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(shape=shapes, seed=seeds)
def test_forward_and_backward_match_naive(shape, seed, dtype):
    """out and dx agree with the element-by-element reference, in the input dtype."""
    rng = np.random.default_rng(seed)
    x = tie_free(shape, rng, spacing=0.1).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out, cache = relu_forward(x)
    expected, naive_cache = naive.relu_forward(x)
    naive.assert_close(out, expected, dtype, "out")
    naive.assert_close(relu_backward(dout, cache), naive.relu_backward(dout, naive_cache), dtype, "dx")


@given(shape=shapes, seed=seeds)
def test_backward_passes_gradcheck(shape, seed):
    """On inputs kept away from the kink at 0, backward matches central differences."""
    rng = np.random.default_rng(seed)
    result = gradcheck(relu_forward, relu_backward, {"x": tie_free(shape, rng)}, rng=rng)
    assert result.passed, str(result)
    assert result.max_rel_error < 1e-6, str(result)


def test_gradient_passes_where_x_is_positive_only():
    """x > 0: dout passes unchanged; x < 0 and x = 0 (either sign of zero): the gradient is 0."""
    x = np.array([[2.0, -1.0, 0.0, -0.0, 1e-300, -1e-300]])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, [[2.0, 0.0, 0.0, 0.0, 1e-300, 0.0]])
    dx = relu_backward(np.array([[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]), cache)
    np.testing.assert_array_equal(dx, [[3.0, 0.0, 0.0, 0.0, 7.0, 0.0]])


@given(shape=shapes, seed=seeds)
def test_output_is_non_negative_and_keeps_positive_values(shape, seed):
    """max(x, 0) >= 0 everywhere, equals x where x > 0, and dx is dout masked by x > 0."""
    rng = np.random.default_rng(seed)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    out, cache = relu_forward(x)
    assert (out >= 0).all()
    np.testing.assert_array_equal(out[x > 0], x[x > 0])
    np.testing.assert_array_equal(relu_backward(dout, cache), np.where(x > 0, dout, 0.0))


@pytest.mark.parametrize("x, message", [
    pytest.param(np.zeros(3, np.int64), "x must be a float32 or float64 NumPy array, got int64", id="int"),
    pytest.param([1.0, -1.0], "x must be a float32 or float64 NumPy array, got list", id="list"),
])
def test_bad_input_is_refused(x, message):
    """Integer arrays and non-arrays raise ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        relu_forward(x)


def test_dout_of_the_wrong_shape_is_refused():
    """The backward pass refuses an upstream gradient that is not shaped like x."""
    _, cache = relu_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape(
            "dout must have the forward output's shape (2, 3), got (3, 2)")):
        relu_backward(np.zeros((3, 2)), cache)
