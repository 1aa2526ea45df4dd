"""Tests of inverted dropout (minifrcnn.layers.dropout): p is the probability of dropping a unit,
kept units are scaled by 1 / (1 - p) at train time, and test time is the identity."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn.gradcheck import gradcheck
from minifrcnn.layers import dropout_backward, dropout_forward

shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
seeds = st.integers(0, 2**32 - 1)
probabilities = st.floats(0.0, 0.95)
dtypes = st.sampled_from([np.float32, np.float64])


def nonzero_array(shape, rng, dtype=np.float64):
    """Values in [0.5, 1.5) with random signs: never 0, so out / x recovers the mask exactly."""
    return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)


@given(shape=shapes, p=probabilities, dtype=dtypes, seed=seeds)
def test_test_time_is_the_identity(shape, p, dtype, seed):
    """train=False: out is x (no rng needed) and backward returns dout unchanged."""
    rng = np.random.default_rng(seed)
    x, dout = nonzero_array(shape, rng, dtype), nonzero_array(shape, rng, dtype)
    out, cache = dropout_forward(x, p, train=False, rng=None)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


@given(shape=shapes, p=probabilities, dtype=dtypes, seed=seeds)
def test_train_time_drops_or_scales_each_unit(shape, p, dtype, seed):
    """train=True: every unit is either 0 or x / (1 - p), in x's dtype, and backward is dout times
    the same mask (0 where dropped, 1 / (1 - p) where kept)."""
    rng = np.random.default_rng(seed)
    x, dout = nonzero_array(shape, rng, dtype), nonzero_array(shape, rng, dtype)
    out, cache = dropout_forward(x, p, train=True, rng=np.random.default_rng(seed))
    assert out.dtype == dtype and out.shape == x.shape
    kept = out != 0
    scale = dtype(1 / (1 - p))
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out[kept], x[kept] * scale, rtol=rtol)
    mask = np.where(kept, scale, dtype(0))
    dx = dropout_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, dout * mask, rtol=rtol)
    np.testing.assert_array_equal(dx == 0, ~kept)


@given(shape=shapes, dtype=dtypes, seed=seeds)
def test_p_zero_keeps_everything(shape, dtype, seed):
    """p = 0 at train time drops nothing and scales by 1: forward and backward are identities."""
    rng = np.random.default_rng(seed)
    x, dout = nonzero_array(shape, rng, dtype), nonzero_array(shape, rng, dtype)
    out, cache = dropout_forward(x, 0.0, train=True, rng=rng)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_same_seed_gives_the_same_mask():
    """Randomness comes only from rng: the same seed drops the same units, another seed others."""
    x = np.ones((20, 30))
    first, _ = dropout_forward(x, 0.5, True, np.random.default_rng(42))
    again, _ = dropout_forward(x, 0.5, True, np.random.default_rng(42))
    other, _ = dropout_forward(x, 0.5, True, np.random.default_rng(43))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_expected_activation_is_unchanged(p):
    """Over a million units the fraction dropped is p and the mean is preserved (inverted scaling).

    With n = 10^6 the fraction dropped has standard deviation sqrt(p (1-p) / n) <= 0.0005, and the
    mean of out / mean of x deviates from 1 by about sqrt(p / ((1-p) n)) <= 0.003 (p = 0.9): the
    tolerances below are more than 6 standard deviations wide, and the seed is fixed.
    """
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (1000, 1000))
    out, _ = dropout_forward(x, p, True, np.random.default_rng(1))
    assert abs((out == 0).mean() - p) < 0.004
    assert abs(out.mean() / x.mean() - 1) < 0.02


def test_backward_passes_gradcheck():
    """With the same mask on every call (a fresh generator with one seed), backward matches
    central differences."""
    x = np.random.default_rng(0).standard_normal((4, 10))
    result = gradcheck(lambda x: dropout_forward(x, 0.3, True, np.random.default_rng(7)),
                       dropout_backward, {"x": x})
    assert result.passed, str(result)
    assert result.max_rel_error < 1e-6, str(result)


# --- bad input ------------------------------------------------------------------------------------

X = np.ones((2, 3))


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: dropout_forward(X, 1.0, True, np.random.default_rng(0)),
                 "must lie in [0, 1), got 1.0", id="p-one"),
    pytest.param(lambda: dropout_forward(X, -0.1, False),
                 "must lie in [0, 1), got -0.1", id="p-negative"),
    pytest.param(lambda: dropout_forward(X, 1.5, False),
                 "must lie in [0, 1), got 1.5", id="p-above-one"),
    pytest.param(lambda: dropout_forward(X, 0.5, True),
                 "dropout at train time needs rng, a np.random.Generator, got None", id="no-rng"),
    pytest.param(lambda: dropout_forward(X, 0.5, True, 42),
                 "dropout at train time needs rng, a np.random.Generator, got 42", id="rng-int"),
    pytest.param(lambda: dropout_forward(X.astype(np.int64), 0.5, False),
                 "x must be a float32 or float64 NumPy array, got int64", id="x-int"),
])
def test_bad_input_is_refused(call, message):
    """Each mistake raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_dout_of_the_wrong_shape_is_refused():
    """At train time the backward pass refuses an upstream gradient not shaped like x."""
    _, cache = dropout_forward(X, 0.5, True, np.random.default_rng(0))
    with pytest.raises(ValueError, match=re.escape(
            "dout must have the forward output's shape (2, 3), got (3, 2)")):
        dropout_backward(np.zeros((3, 2)), cache)
