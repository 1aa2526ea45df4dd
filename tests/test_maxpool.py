"""Tests of max pooling (minifrcnn.layers.maxpool): overlapping windows, ties, floor output size,
against a naive loop reference, finite differences, hand-computed examples and input checks."""

import re
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import naive
from minifrcnn.gradcheck import gradcheck, tie_free
from minifrcnn.layers import maxpool2d_backward, maxpool2d_forward


class PoolCase(NamedTuple):
    """One tiny max pooling: x (N, C, H, W), window size, stride, and a seed for the values."""

    x_shape: tuple
    size: int
    stride: int
    seed: int

    def out_shape(self):
        n, c, h, w = self.x_shape
        return n, c, 1 + (h - self.size) // self.stride, 1 + (w - self.size) // self.stride

    def arrays(self, dtype=np.float64):
        """x with all values distinct (no ties) and a standard normal dout, in `dtype`."""
        rng = np.random.default_rng(self.seed)
        x = tie_free(self.x_shape, rng)
        return x.astype(dtype), rng.standard_normal(self.out_shape()).astype(dtype)


@st.composite
def pool_cases(draw):
    """Windows 1x1 to 4x4 with strides 1-4: overlapping (stride < size), tiling (stride == size) and
    skipping (stride > size); inputs up to 9x9, not necessarily a whole number of strides."""
    size = draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(size, 9)), draw(st.integers(size, 9)))
    return PoolCase(shape, size, draw(st.integers(1, 4)), draw(st.integers(0, 2**32 - 1)))


# Cases every run must include, whatever hypothesis draws.
FIXED_CASES = (
    PoolCase((2, 3, 7, 9), 3, 2, seed=1),   # AlexNet's overlapping 3x3 / stride 2
    PoolCase((1, 2, 8, 6), 2, 2, seed=2),   # VGG's 2x2 / stride 2: windows tile the input
    PoolCase((1, 1, 7, 8), 2, 1, seed=3),   # every interior cell is in four windows
    PoolCase((2, 1, 9, 5), 2, 3, seed=4),   # stride > size: some cells are in no window
    PoolCase((1, 2, 5, 4), 1, 1, seed=5),   # a 1x1 window is the identity
)


def with_fixed_examples(test):
    for case in FIXED_CASES:
        test = example(case=case)(test)
    return test


# --- agreement with the naive reference -----------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=pool_cases())
@with_fixed_examples
def test_forward_and_backward_match_naive(case, dtype):
    """Output, output shape (floor) and dx agree with the loop reference, in the input dtype."""
    x, dout = case.arrays(dtype)
    out, cache = maxpool2d_forward(x, case.size, case.stride)
    expected, naive_cache = naive.maxpool2d_forward(x, case.size, case.stride)
    naive.assert_close(out, expected, dtype, "out")
    dx = maxpool2d_backward(dout, cache)
    naive.assert_close(dx, naive.maxpool2d_backward(dout, naive_cache), dtype, "dx")


@given(case=pool_cases())
@with_fixed_examples
def test_ties_go_to_the_first_cell_like_the_reference(case):
    """On inputs full of ties (values from {0, 1, 2}) the gradient goes where the reference's
    row-major, first-maximum rule sends it, summed where one cell wins several windows."""
    rng = np.random.default_rng(case.seed)
    x = rng.integers(0, 3, size=case.x_shape).astype(np.float64)
    dout = rng.standard_normal(case.out_shape())
    out, cache = maxpool2d_forward(x, case.size, case.stride)
    expected, naive_cache = naive.maxpool2d_forward(x, case.size, case.stride)
    np.testing.assert_array_equal(out, expected)
    naive.assert_close(maxpool2d_backward(dout, cache),
                       naive.maxpool2d_backward(dout, naive_cache), np.float64, "dx")


@given(case=pool_cases())
@with_fixed_examples
def test_backward_passes_gradcheck(case):
    """On tie-free inputs the backward pass matches central differences for a random dout."""
    x, _ = case.arrays()
    result = gradcheck(lambda x: maxpool2d_forward(x, case.size, case.stride),
                       maxpool2d_backward, {"x": x}, rng=np.random.default_rng(case.seed))
    assert result.passed, str(result)
    assert result.max_rel_error < 1e-6, str(result)


def test_gradcheck_catches_assigning_instead_of_adding():
    """Why overlapping windows are tested: a backward that ASSIGNS each window's gradient to its
    winner (instead of adding) passes on non-overlapping windows and fails on overlapping ones."""
    def assigning_backward(dout, cache):
        x_shape, winners = cache
        dx = np.zeros(x_shape)
        for n, c, i, j in np.ndindex(dout.shape):
            row, col = winners[n, c, i, j]
            dx[n, c, row, col] = dout[n, c, i, j]       # the bug: = where += belongs
        return dx

    x = tie_free((1, 1, 6, 6), np.random.default_rng(0))
    tiling = gradcheck(lambda x: naive.maxpool2d_forward(x, 2, 2), assigning_backward, {"x": x})
    assert tiling.passed, str(tiling)
    x[0, 0, 2, 2] = 10.0                      # the centre of a 3x3/stride-2 grid wins four windows
    overlapping = gradcheck(lambda x: naive.maxpool2d_forward(x, 3, 2), assigning_backward, {"x": x})
    assert not overlapping.passed, str(overlapping)


# --- by hand --------------------------------------------------------------------------------------

def test_tie_goes_to_the_first_cell_by_hand():
    """2x2 windows, stride 2, on a 4x4 input with ties:

        x = 1 3 | 3 0      window (0, 0): max 3 at (0, 1) and (1, 0): row-major, (0, 1) wins
            3 2 | 1 2      window (0, 1): max 3 at (0, 2)
            ----+----
            0 1 | 4 4      window (1, 0): max 5 at (3, 0)
            5 0 | 4 1      window (1, 1): max 4 at (2, 2), (2, 3) and (3, 2): (2, 2) wins

    out = [[3, 3], [5, 4]]; dout = [[1, 2], [3, 4]] lands on the four winners only.
    """
    x = np.array([[[[1.0, 3.0, 3.0, 0.0],
                    [3.0, 2.0, 1.0, 2.0],
                    [0.0, 1.0, 4.0, 4.0],
                    [5.0, 0.0, 4.0, 1.0]]]])
    out, cache = maxpool2d_forward(x, size=2, stride=2)
    np.testing.assert_array_equal(out, [[[[3, 3], [5, 4]]]])
    dx = maxpool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0, 1, 2, 0],
                                          [0, 0, 0, 0],
                                          [0, 0, 4, 0],
                                          [3, 0, 0, 0]]]])


def test_overlapping_windows_by_hand():
    """3x3 windows, stride 2, on a 3x5 input: W' = 1 + (5 - 3) // 2 = 2 windows, columns 0-2 and
    2-4, sharing column 2. The 9 at (1, 2) is the maximum of both, so it receives the SUM of both
    gradients, 10 + 0.5; every other cell gets nothing.

        x = 1 2 [3] 4 5
            6 7 [9] 8 1
            2 3 [4] 5 6
    """
    x = np.array([[[[1.0, 2.0, 3.0, 4.0, 5.0],
                    [6.0, 7.0, 9.0, 8.0, 1.0],
                    [2.0, 3.0, 4.0, 5.0, 6.0]]]])
    out, cache = maxpool2d_forward(x, size=3, stride=2)
    np.testing.assert_array_equal(out, [[[[9, 9]]]])
    dx = maxpool2d_backward(np.array([[[[10.0, 0.5]]]]), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 2] = 10.5
    np.testing.assert_array_equal(dx, expected)


def test_one_cell_winning_four_windows_by_hand():
    """3x3 windows, stride 2, on a 5x5 input: four windows, all containing the centre (2, 2). Made
    the largest value, the centre wins all four and receives dout's total, 1 + 2 + 3 + 4 = 10."""
    x = tie_free((1, 1, 5, 5), np.random.default_rng(0))
    x[0, 0, 2, 2] = 100.0
    out, cache = maxpool2d_forward(x, size=3, stride=2)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 100.0))
    dx = maxpool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 2, 2] = 10.0
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("height, width, size, stride, expected", [
    (4, 4, 2, 2, (2, 2)),
    (5, 7, 2, 2, (2, 3)),        # floor: the last row and column are dropped (Caffe would keep them)
    (7, 9, 3, 2, (3, 4)),
    (6, 6, 3, 3, (2, 2)),
    (3, 8, 3, 1, (1, 6)),
    (600 // 16, 800 // 16, 2, 2, (18, 25)),
])
def test_output_size_is_rounded_down(height, width, size, stride, expected):
    """H' = 1 + (H - size) // stride, W' likewise (floor, as PyTorch)."""
    out, _ = maxpool2d_forward(np.zeros((1, 1, height, width)), size, stride)
    assert out.shape == (1, 1, *expected)


# --- bad input ------------------------------------------------------------------------------------

X = np.zeros((1, 2, 4, 4))


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: maxpool2d_forward(X[0]),
                 "x must be a 4-D array (N, C, H, W), got shape (2, 4, 4)", id="x-3d"),
    pytest.param(lambda: maxpool2d_forward(X.astype(np.int64)),
                 "x must be float32 or float64, got dtype int64", id="x-int"),
    pytest.param(lambda: maxpool2d_forward(X, size=0),
                 "size must be a positive integer, got 0", id="size-0"),
    pytest.param(lambda: maxpool2d_forward(X, size=-3),
                 "size must be a positive integer, got -3", id="size-negative"),
    pytest.param(lambda: maxpool2d_forward(X, stride=0),
                 "stride must be a positive integer, got 0", id="stride-0"),
    pytest.param(lambda: maxpool2d_forward(X, stride=-1),
                 "stride must be a positive integer, got -1", id="stride-negative"),
    pytest.param(lambda: maxpool2d_forward(X, size=5),
                 "window size 5 is larger than the input 4x4", id="window-too-large"),
    pytest.param(lambda: maxpool2d_forward(np.zeros((1, 2, 4, 2)), size=3),
                 "window size 3 is larger than the input 4x2", id="window-too-wide"),
])
def test_bad_forward_input_is_refused(call, message):
    """Each mistake raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_dout_of_the_wrong_shape_is_refused():
    """The backward pass refuses an upstream gradient that is not shaped like the output."""
    _, cache = maxpool2d_forward(X)                            # out (1, 2, 2, 2)
    with pytest.raises(ValueError, match=re.escape(
            "dout must have the forward output's shape (1, 2, 2, 2), got (1, 2, 4, 4)")):
        maxpool2d_backward(np.zeros((1, 2, 4, 4)), cache)
