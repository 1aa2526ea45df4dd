"""Tests of the im2col convolution (minifrcnn.layers.conv) against a naive loop reference,
finite differences, hand-computed examples, its invariants and its input checks."""

import re
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import naive
from minifrcnn.gradcheck import gradcheck
from minifrcnn.layers import conv2d_backward, conv2d_forward


class ConvCase(NamedTuple):
    """One tiny convolution: x (N, C, H, W), w (F, C, KH, KW), stride, pad, and a seed for values."""

    x_shape: tuple
    w_shape: tuple
    stride: int
    pad: int
    seed: int

    def arrays(self, dtype=np.float64):
        """x, w, b and an upstream gradient dout (N, F, H', W'), standard normal, in `dtype`."""
        rng = np.random.default_rng(self.seed)
        n, _, h, w = self.x_shape
        f, _, kh, kw = self.w_shape
        out_shape = (n, f, 1 + (h + 2 * self.pad - kh) // self.stride,
                     1 + (w + 2 * self.pad - kw) // self.stride)
        return tuple(rng.standard_normal(shape).astype(dtype)
                     for shape in (self.x_shape, self.w_shape, (f,), out_shape))


@st.composite
def conv_cases(draw):
    """Kernels 1x1 to 4x4 (square or not), stride 1-3 (dividing the input evenly or not), pad 0-2,
    and an input at least as large as the kernel once padded, at most 9x9."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pad = draw(st.integers(0, 2))
    height = draw(st.integers(max(1, kh - 2 * pad), 9))
    width = draw(st.integers(max(1, kw - 2 * pad), 9))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return ConvCase((n, c, height, width), (f, c, kh, kw), draw(st.integers(1, 3)), pad,
                    draw(st.integers(0, 2**32 - 1)))


# Cases every run must include, whatever hypothesis draws.
ONE_BY_ONE = ConvCase((2, 3, 5, 4), (2, 3, 1, 1), 1, 0, seed=1)
NON_SQUARE_UNEVEN_STRIDE = ConvCase((1, 2, 8, 7), (3, 2, 3, 2), 3, 0, seed=2)   # (8-3)/3, (7-2)/3 not whole
PADDED_STRIDED = ConvCase((2, 2, 6, 5), (2, 2, 3, 3), 2, 2, seed=3)
KERNEL_EQUALS_PADDED_INPUT = ConvCase((1, 1, 2, 3), (2, 1, 4, 5), 1, 1, seed=4)  # a single output


def with_fixed_examples(test):
    for case in (ONE_BY_ONE, NON_SQUARE_UNEVEN_STRIDE, PADDED_STRIDED, KERNEL_EQUALS_PADDED_INPUT):
        test = example(case=case)(test)
    return test


# --- agreement with the naive reference -----------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=conv_cases())
@with_fixed_examples
def test_forward_matches_naive(case, dtype):
    """The im2col forward computes the same numbers as the loop reference, in the input dtype."""
    x, w, b, _ = case.arrays(dtype)
    out, _ = conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    expected, _ = naive.conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    naive.assert_close(out, expected, dtype, "out")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(case=conv_cases())
@with_fixed_examples
def test_backward_matches_naive(case, dtype):
    """dx, dw and db agree with the loop reference's independently derived gradients."""
    x, w, b, dout = case.arrays(dtype)
    _, cache = conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    dx, dw, db = conv2d_backward(dout, cache)
    _, naive_cache = naive.conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    expected_dx, expected_dw, expected_db = naive.conv2d_backward(dout, naive_cache)
    naive.assert_close(dx, expected_dx, dtype, "dx")
    naive.assert_close(dw, expected_dw, dtype, "dw")
    naive.assert_close(db, expected_db, dtype, "db")


@given(case=conv_cases())
@with_fixed_examples
def test_backward_passes_gradcheck(case):
    """The backward pass matches central differences of sum(dout * out) for a random dout."""
    x, w, b, _ = case.arrays()
    result = gradcheck(lambda x, w, b: conv2d_forward(x, w, b, stride=case.stride, pad=case.pad),
                       conv2d_backward, {"x": x, "w": w, "b": b},
                       rng=np.random.default_rng(case.seed))
    assert result.passed, str(result)
    assert result.max_rel_error < 1e-6, str(result)


def test_naive_reference_passes_gradcheck():
    """The reference itself is right (so agreeing with it means something)."""
    x, w, b, _ = PADDED_STRIDED.arrays()
    result = gradcheck(lambda x, w, b: naive.conv2d_forward(x, w, b, stride=2, pad=2),
                       naive.conv2d_backward, {"x": x, "w": w, "b": b})
    assert result.passed, str(result)


# --- by hand --------------------------------------------------------------------------------------

X_3X3 = np.array([[[[1.0, 2.0, 3.0],
                    [4.0, 5.0, 6.0],
                    [7.0, 8.0, 9.0]]]])                      # (1, 1, 3, 3)


def test_forward_and_backward_by_hand():
    """A 3x3 input with a 2x2 kernel [[1, 2], [3, 4]] and bias 1, every number worked out.

    out[0, 0] = 1*1 + 2*2 + 3*4 + 4*5 + 1 = 38      out[0, 1] = 1*2 + 2*3 + 3*5 + 4*6 + 1 = 48
    out[1, 0] = 1*4 + 2*5 + 3*7 + 4*8 + 1 = 68      out[1, 1] = 1*5 + 2*6 + 3*8 + 4*9 + 1 = 78

    With dout all ones: db = 4 outputs; dw[a, e] = sum of the pixels that weight touched
    (dw[0, 0] = 1 + 2 + 4 + 5 = 12, ...); dx = sum of the weights that touched each pixel
    (the centre pixel is under every window: 1 + 2 + 3 + 4 = 10).
    """
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, cache = conv2d_forward(X_3X3, w, np.array([1.0]))
    np.testing.assert_array_equal(out, [[[[38, 48], [68, 78]]]])
    dx, dw, db = conv2d_backward(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(db, [4])
    np.testing.assert_array_equal(dw, [[[[12, 16], [24, 28]]]])
    np.testing.assert_array_equal(dx, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]])


def test_padded_strided_by_hand():
    """The same 3x3 input, a 2x2 kernel of ones, pad 1, stride 2.

    The padded input is 5x5; H' = 1 + (3 + 2*1 - 2) // 2 = 2. The windows start at padded rows and
    columns 0 and 2, i.e. at input rows/columns -1 and 1:
        out[0, 0] = x[0, 0] = 1                        (three taps on padding)
        out[0, 1] = x[0, 1] + x[0, 2] = 5
        out[1, 0] = x[1, 0] + x[2, 0] = 11
        out[1, 1] = x[1, 1] + x[1, 2] + x[2, 1] + x[2, 2] = 28
    The last padded row and column are never reached (the floor in H'): they get no gradient, and
    each input pixel here is under exactly one window, so dx is dout spread over the windows.
    """
    out, cache = conv2d_forward(X_3X3, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2, pad=1)
    np.testing.assert_array_equal(out, [[[[1, 5], [11, 28]]]])
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx, _, _ = conv2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, [[[[1, 2, 2], [3, 4, 4], [3, 4, 4]]]])


@pytest.mark.parametrize("size, kernel, stride, pad, expected", [
    (3, 2, 1, 0, 2),
    (7, 3, 2, 0, 3),       # 1 + 4 // 2
    (8, 3, 2, 0, 3),       # 1 + 5 // 2: the last row is left over
    (5, 3, 1, 1, 5),       # "same" padding
    (6, 1, 3, 0, 2),       # 1x1 kernel, stride 3
    (9, 4, 3, 2, 4),       # 1 + 9 // 3
    (2, 5, 1, 2, 2),       # kernel larger than the input, not than the padded input
    (224, 3, 1, 1, 224),   # VGG16's conv layers keep the size
])
def test_output_size_formula(size, kernel, stride, pad, expected):
    """H' = 1 + (H + 2 pad - KH) // stride, and W' likewise (checked on square inputs, then on
    the transposed non-square shape so height and width cannot be swapped)."""
    out, _ = conv2d_forward(np.zeros((1, 1, size, size)), np.zeros((1, 1, kernel, kernel)),
                            np.zeros(1), stride=stride, pad=pad)
    assert out.shape == (1, 1, expected, expected)
    out, _ = conv2d_forward(np.zeros((1, 1, size, 2 * kernel)), np.zeros((1, 1, kernel, 1)),
                            np.zeros(1), stride=stride, pad=pad)
    assert out.shape[2] == expected


# --- invariants -----------------------------------------------------------------------------------

@given(case=conv_cases(), alpha=st.floats(-3, 3), beta=st.floats(-3, 3))
def test_linear_in_x(case, alpha, beta):
    """Without bias, conv(alpha x1 + beta x2) = alpha conv(x1) + beta conv(x2)."""
    x1, w, _, _ = case.arrays()
    x2 = np.random.default_rng(case.seed + 1).standard_normal(x1.shape)
    b = np.zeros(w.shape[0])

    def conv(x):
        return conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)[0]

    np.testing.assert_allclose(conv(alpha * x1 + beta * x2), alpha * conv(x1) + beta * conv(x2),
                               rtol=1e-9, atol=1e-9)


@given(case=conv_cases(), alpha=st.floats(-3, 3), beta=st.floats(-3, 3))
def test_linear_in_w(case, alpha, beta):
    """Without bias, conv(x; alpha w1 + beta w2) = alpha conv(x; w1) + beta conv(x; w2)."""
    x, w1, _, _ = case.arrays()
    w2 = np.random.default_rng(case.seed + 1).standard_normal(w1.shape)
    b = np.zeros(w1.shape[0])

    def conv(w):
        return conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)[0]

    np.testing.assert_allclose(conv(alpha * w1 + beta * w2), alpha * conv(w1) + beta * conv(w2),
                               rtol=1e-9, atol=1e-9)


@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), height=st.integers(1, 9),
       width=st.integers(1, 9), stride=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_1x1_kernel_is_a_per_pixel_matrix_product(n, c, f, height, width, stride, seed):
    """A 1x1 convolution multiplies every (kept) pixel's channel vector by the (F, C) matrix."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, height, width))
    w = rng.standard_normal((f, c, 1, 1))
    b = rng.standard_normal(f)
    out, _ = conv2d_forward(x, w, b, stride=stride)
    kept = x[:, :, ::stride, ::stride]
    expected = np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], kept) + b[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


# --- bad input ------------------------------------------------------------------------------------

def good_arrays(dtype=np.float64):
    """x (1, 3, 5, 5), w (2, 3, 3, 3), b (2,): a valid call, to be broken one argument at a time."""
    return np.zeros((1, 3, 5, 5), dtype), np.zeros((2, 3, 3, 3), dtype), np.zeros(2, dtype)


X, W, B = good_arrays()


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: conv2d_forward(X[0], W, B),
                 "x must be a 4-D array (N, C, H, W), got shape (3, 5, 5)", id="x-3d"),
    pytest.param(lambda: conv2d_forward(X, W[0], B),
                 "w must be a 4-D array (F, C, KH, KW), got shape (3, 3, 3)", id="w-3d"),
    pytest.param(lambda: conv2d_forward(X, W, B[:, None]),
                 "b must be a 1-D array (F,), got shape (2, 1)", id="b-2d"),
    pytest.param(lambda: conv2d_forward(X, np.zeros((2, 4, 3, 3)), B),
                 "w has 4 input channels but x has 3: w must be (F, 3, KH, KW)", id="channels"),
    pytest.param(lambda: conv2d_forward(X, W, np.zeros(3)),
                 "b must have shape (2,) for 2 filters, got (3,)", id="b-length"),
    pytest.param(lambda: conv2d_forward(X, np.zeros((2, 3, 6, 3)), B),
                 "kernel 6x3 is larger than the padded input 5x5", id="kernel-too-tall"),
    pytest.param(lambda: conv2d_forward(X, np.zeros((2, 3, 3, 8)), B, pad=1),
                 "kernel 3x8 is larger than the padded input 7x7", id="kernel-too-wide"),
    pytest.param(lambda: conv2d_forward(X, W, B, stride=0),
                 "stride must be a positive integer, got 0", id="stride-0"),
    pytest.param(lambda: conv2d_forward(X, W, B, stride=-2),
                 "stride must be a positive integer, got -2", id="stride-negative"),
    pytest.param(lambda: conv2d_forward(X, W, B, stride=1.5),
                 "stride must be a positive integer, got 1.5", id="stride-float"),
    pytest.param(lambda: conv2d_forward(X, W, B, pad=-1),
                 "pad must be a non-negative integer, got -1", id="pad-negative"),
    pytest.param(lambda: conv2d_forward(X.astype(np.int64), W, B),
                 "x must be float32 or float64, got dtype int64", id="x-int"),
    pytest.param(lambda: conv2d_forward(X, W.astype(np.int32), B),
                 "w must be float32 or float64, got dtype int32", id="w-int"),
    pytest.param(lambda: conv2d_forward(X.astype(np.float32), W, B),
                 "w has dtype float64 but x has dtype float32", id="w-dtype"),
    pytest.param(lambda: conv2d_forward(X, W, B.astype(np.float32)),
                 "b has dtype float32 but x has dtype float64", id="b-dtype"),
    pytest.param(lambda: conv2d_forward(X.tolist(), W, B),
                 "x must be a NumPy array (N, C, H, W), got list", id="x-list"),
])
def test_bad_forward_input_is_refused(call, message):
    """Each mistake raises ValueError naming what was expected and what came."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_dout_of_the_wrong_shape_is_refused():
    """The backward pass refuses an upstream gradient that is not shaped like the output."""
    _, cache = conv2d_forward(X, W, B, pad=1)                  # out (1, 2, 5, 5)
    with pytest.raises(ValueError, match=re.escape(
            "dout must have the forward output's shape (1, 2, 5, 5), got (1, 2, 3, 3)")):
        conv2d_backward(np.zeros((1, 2, 3, 3)), cache)
