"""Tests of the Numba CPU twins (minifrcnn.numba_cpu) against the NumPy reference layers
(minifrcnn.layers), which are the truth.

The cases are the reference tests' own: their hypothesis strategies and fixed examples are
imported from test_conv.py, test_maxpool.py and test_roi_pool.py, so the twins meet the same
shapes, strides, paddings, non-square kernels, overlapping windows and RoI placements (inside,
crossing the borders, outside, malformed, tiny, the whole map, on .5, several images).

- conv2d agrees to float rounding: its GEMMs may add in another order than the reference's.
- maxpool2d and roi_pool agree bit for bit, forward and backward, in float32 and float64: same
  winners, and gradients summed in the same order.
- Outputs keep the input's dtype, and bad input raises the reference's ValueError.

Each kernel compiles on its first call per dtype (seconds) and is cached on disk afterwards.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn import layers as reference
from minifrcnn import numba_cpu
from minifrcnn.gradcheck import tie_free
from test_conv import conv_cases
from test_conv import with_fixed_examples as with_conv_examples
from test_maxpool import pool_cases
from test_maxpool import with_fixed_examples as with_pool_examples
from test_roi_pool import BAD_INPUTS as BAD_ROI_INPUTS
from test_roi_pool import GOOD as GOOD_ROI_INPUT
from test_roi_pool import KINDS
from test_roi_pool import cases as roi_cases

DTYPES = [np.float32, np.float64]


def assert_close(actual, expected, name):
    """`actual` has `expected`'s dtype and shape and equals it to rounding: 1e-12 relative in
    float64, 1e-5 in float32, with the absolute tolerance scaled by the largest expected value
    (an entry that is a near-cancelling sum is judged against the size of what was summed)."""
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype}, expected {expected.dtype}"
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, expected {expected.shape}"
    rtol = 1e-12 if expected.dtype == np.float64 else 1e-5
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=name)


def assert_identical(actual, expected, name):
    """Same dtype, same shape, same bits (NaN where the reference has NaN)."""
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype}, expected {expected.dtype}"
    np.testing.assert_array_equal(actual, expected, err_msg=name, strict=True)


# --- convolution ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases())
@with_conv_examples
def test_conv_matches_reference(case, dtype):
    """out, dx, dw and db equal the reference's to rounding, in the input's dtype."""
    x, w, b, dout = case.arrays(dtype)
    out, cache = numba_cpu.conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    expected_out, expected_cache = reference.conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    assert_close(out, expected_out, "out")
    grads = numba_cpu.conv2d_backward(dout, cache)
    expected_grads = reference.conv2d_backward(dout, expected_cache)
    for name, grad, expected in zip(("dx", "dw", "db"), grads, expected_grads):
        assert_close(grad, expected, name)


# --- max pooling ----------------------------------------------------------------------------------

def assert_maxpool_identical(x, dout, size, stride):
    out, cache = numba_cpu.maxpool2d_forward(x, size, stride)
    expected_out, expected_cache = reference.maxpool2d_forward(x, size, stride)
    assert_identical(out, expected_out, "out")
    assert_identical(numba_cpu.maxpool2d_backward(dout, cache),
                     reference.maxpool2d_backward(dout, expected_cache), "dx")


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases())
@with_pool_examples
def test_maxpool_matches_reference_bit_for_bit(case, dtype):
    """Overlapping, tiling and skipping windows: out and dx are the reference's, bit for bit
    (a cell that wins several windows sums their gradients in the reference's order)."""
    x, dout = case.arrays(dtype)
    assert_maxpool_identical(x, dout, case.size, case.stride)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases())
@with_pool_examples
def test_maxpool_ties_go_to_the_first_cell_like_the_reference(case, dtype):
    """On inputs full of ties (values from {0, 1, 2}) every window is won by the cell the
    reference picks (the first maximum in row-major order), so dx is the reference's."""
    rng = np.random.default_rng(case.seed)
    x = rng.integers(0, 3, size=case.x_shape).astype(dtype)
    dout = rng.standard_normal(case.out_shape()).astype(dtype)
    assert_maxpool_identical(x, dout, case.size, case.stride)


# --- RoI pooling ----------------------------------------------------------------------------------

def assert_roi_pool_identical(features, rois, output_size, spatial_scale, dout):
    out, cache = numba_cpu.roi_pool_forward(features, rois, output_size, spatial_scale)
    expected_out, expected_cache = reference.roi_pool_forward(features, rois, output_size,
                                                              spatial_scale)
    assert_identical(out, expected_out, "out")
    assert_identical(numba_cpu.roi_pool_backward(dout, cache),
                     reference.roi_pool_backward(dout, expected_cache), "dfeatures")


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_roi_pool_matches_reference_bit_for_bit(kind, data):
    """For RoIs of every placement, output sizes, scales, one or two images, tie-free or tied
    features: out and dfeatures are the reference's bit for bit, in float32 and float64."""
    case = data.draw(roi_cases(kind), label="case")
    rng = np.random.default_rng(case.seed)
    for dtype in DTYPES:
        features = case.features(rng, dtype)
        dout = rng.standard_normal((len(case.rois), case.shape[1], *case.output_size)).astype(dtype)
        assert_roi_pool_identical(features, case.rois, case.output_size, case.spatial_scale, dout)


@pytest.mark.parametrize("dtype", DTYPES)
def test_roi_pool_many_overlapping_rois_sum_like_the_reference(dtype):
    """2000 overlapping RoIs on two images send gradients into the same cells, many times over:
    the sums come out bit for bit as the reference's sequential np.add.at. A parallel loop over
    RoIs (threads adding into one cell at once, losing updates or changing the order) failed this
    in 9 runs out of 10 on 2 cores; the parallel loop over channels passes every time."""
    rng = np.random.default_rng(0)
    features = rng.integers(-3, 4, size=(2, 16, 12, 15)).astype(dtype)    # ties everywhere
    xs = np.sort(rng.uniform(-20, 260, size=(2000, 2)), axis=1)         # x1 <= x2, in pixels
    ys = np.sort(rng.uniform(-20, 210, size=(2000, 2)), axis=1)
    rois = np.column_stack([rng.integers(0, 2, 2000), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]])
    dout = rng.standard_normal((2000, 16, 7, 7)).astype(dtype)
    assert_roi_pool_identical(features, rois, (7, 7), 1 / 16, dout)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_rois(dtype):
    """R = 0: an empty output and a zero gradient, in the features' dtype."""
    features = np.ones((2, 3, 5, 5), dtype=dtype)
    assert_roi_pool_identical(features, np.zeros((0, 5)), (3, 2), 1.0,
                              np.zeros((0, 3, 3, 2), dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_features_like_the_reference(dtype):
    """-inf, +inf and NaN go where the reference's np.argmax sends them: a NaN wins its window
    (and shows in the output), an all -inf window is won by its first cell."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 6, 6)).astype(dtype)
    x[0, 0, :2, :2] = -np.inf
    x[0, 0, 3, 3] = x[0, 1, 0, 5] = np.inf
    x[0, 0, 4, 1] = x[0, 1, 2, 2] = x[0, 1, 3, 3] = np.nan
    dout = rng.standard_normal((1, 2, 3, 3)).astype(dtype)
    assert_maxpool_identical(x, dout, 2, 2)
    assert_maxpool_identical(x, rng.standard_normal((1, 2, 4, 4)).astype(dtype), 3, 1)
    rois = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 5, 5], [0, 1, 2, 4, 4], [0, 2, 2, 3, 3]], float)
    assert_roi_pool_identical(x, rois, (2, 2), 1.0, rng.standard_normal((4, 2, 2, 2)).astype(dtype))


def test_non_contiguous_inputs():
    """Transposed and strided views give the same results as contiguous arrays."""
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(tie_free((1, 2, 7, 6), rng).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    w = rng.standard_normal((2, 3, 2, 2))[:, ::-1][:, 1:]
    b = rng.standard_normal(4)[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    out, cache = numba_cpu.conv2d_forward(x, w, b, stride=2, pad=1)
    expected_out, expected_cache = reference.conv2d_forward(x, w, b, stride=2, pad=1)
    assert_close(out, expected_out, "out")
    dout = rng.standard_normal(out.shape[::-1]).T
    for name, grad, expected in zip(("dx", "dw", "db"), numba_cpu.conv2d_backward(dout, cache),
                                    reference.conv2d_backward(dout, expected_cache)):
        assert_close(grad, expected, name)
    assert_maxpool_identical(x, rng.standard_normal((2, 3, 2, 1)).T, 3, 2)
    rois = np.array([[0, 0, 1, 5, 6], [0, 2, 0, 3, 3]], float)
    assert_roi_pool_identical(x, rois, (2, 3), 1.0, rng.standard_normal((3, 2, 2, 2)).T)


# --- bad input ------------------------------------------------------------------------------------

def raised(call):
    """The message of the ValueError that `call` raises."""
    with pytest.raises(ValueError) as error:
        call()
    return str(error.value)


X, W, B = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2)


@pytest.mark.parametrize("layer, args, kwargs", [
    pytest.param("conv2d", (X[0], W, B), {}, id="conv x 3-D"),
    pytest.param("conv2d", (X.tolist(), W, B), {}, id="conv x a list"),
    pytest.param("conv2d", (X, np.zeros((2, 4, 3, 3)), B), {}, id="conv channels"),
    pytest.param("conv2d", (X, W, np.zeros(3)), {}, id="conv bias length"),
    pytest.param("conv2d", (X, np.zeros((2, 3, 3, 8)), B), {"pad": 1}, id="conv kernel too wide"),
    pytest.param("conv2d", (X, W, B), {"stride": 1.5}, id="conv stride float"),
    pytest.param("conv2d", (X.astype(np.float32), W, B), {}, id="conv mixed dtypes"),
    pytest.param("maxpool2d", (X.astype(np.int64),), {}, id="maxpool x int"),
    pytest.param("maxpool2d", (X,), {"size": 0}, id="maxpool size 0"),
    pytest.param("maxpool2d", (X,), {"stride": -1}, id="maxpool stride negative"),
    pytest.param("maxpool2d", (X,), {"size": 6}, id="maxpool window too large"),
] + [
    pytest.param("roi_pool", (), {**GOOD_ROI_INPUT, **bad}, id=f"roi_pool {param.id}")
    for param in BAD_ROI_INPUTS for bad, _ in [param.values]
])
def test_bad_input_raises_the_reference_error(layer, args, kwargs):
    """Each mistake raises ValueError with the reference's message, word for word."""
    forward = f"{layer}_forward"
    assert raised(lambda: getattr(numba_cpu, forward)(*args, **kwargs)) == \
        raised(lambda: getattr(reference, forward)(*args, **kwargs))


@pytest.mark.parametrize("layer, args", [
    ("conv2d", (X, W, B)),
    ("maxpool2d", (X,)),
    ("roi_pool", tuple(GOOD_ROI_INPUT.values())),
])
def test_dout_of_the_wrong_shape_is_refused(layer, args):
    """Every backward pass refuses an upstream gradient not shaped like the forward output."""
    _, cache = getattr(numba_cpu, f"{layer}_forward")(*args)
    _, expected_cache = getattr(reference, f"{layer}_forward")(*args)
    dout = np.zeros((1, 2, 3))
    assert raised(lambda: getattr(numba_cpu, f"{layer}_backward")(dout, cache)) == \
        raised(lambda: getattr(reference, f"{layer}_backward")(dout, expected_cache))


@pytest.mark.parametrize("split", [False, True])
def test_conv_gemm_slabs_give_the_whole_product(monkeypatch, split):
    """numba_cpu.conv splits each GEMM into one slab of columns per thread when OpenBLAS runs
    single-threaded (minifrcnn.BLAS_SINGLE_THREADED). Under pytest NumPy is imported first, so
    the split is forced here both ways: every width, a single column and a transposed operand
    must give the product of one call."""
    from minifrcnn.numba_cpu import gemm

    monkeypatch.setattr(gemm, "BLAS_SINGLE_THREADED", split)
    rng = np.random.default_rng(5)
    a = rng.standard_normal((7, 13)).astype(np.float32)
    for columns in (1, 2, 3, 64, 1001):
        b = rng.standard_normal((13, columns)).astype(np.float32)
        for right in (b, np.ascontiguousarray(b.T).T):
            out = gemm.matmul(a, right, np.empty((7, columns), np.float32))
            np.testing.assert_allclose(out, a @ right, rtol=1e-5, atol=1e-5)


def test_conv_matches_reference_with_split_gemms(monkeypatch):
    from minifrcnn.numba_cpu import gemm

    monkeypatch.setattr(gemm, "BLAS_SINGLE_THREADED", True)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 9, 11))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    out, cache = numba_cpu.conv2d_forward(x, w, b, stride=1, pad=1)
    expected, reference_cache = reference.conv2d_forward(x, w, b, stride=1, pad=1)
    assert_close(out, expected, "out")
    dout = rng.standard_normal(out.shape)
    for got, want, name in zip(numba_cpu.conv2d_backward(dout, cache),
                               reference.conv2d_backward(dout, reference_cache), ("dx", "dw", "db")):
        assert_close(got, want, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_with_split_products_matches_the_reference(monkeypatch, dtype):
    """numba_cpu.linear splits each product among threads: same outputs and gradients as the
    reference (to rounding), the same errors, and the factored pair built on it."""
    from minifrcnn import layers
    from minifrcnn.numba_cpu import gemm

    monkeypatch.setattr(gemm, "BLAS_SINGLE_THREADED", True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 2, 2)).astype(dtype)
    w = rng.standard_normal((9, 12)).astype(dtype)
    b = rng.standard_normal(9).astype(dtype)
    dout = rng.standard_normal((5, 9)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5)
    ours, ours_cache = numba_cpu.linear_forward(x, w, b)
    ref, ref_cache = layers.linear_forward(x, w, b)
    np.testing.assert_allclose(ours, ref, **tol)
    for a, r in zip(numba_cpu.linear_backward(dout, ours_cache),
                    layers.linear_backward(dout, ref_cache)):
        assert a.shape == r.shape and a.dtype == dtype
        np.testing.assert_allclose(a, r, **tol)
    w_first, w_second = w[:4], rng.standard_normal((9, 4)).astype(dtype)
    ours, ours_cache = numba_cpu.factored_linear_forward(x, w[:4, :], w_second, b)
    ref, ref_cache = layers.factored_linear_forward(x, w_first, w_second, b)
    np.testing.assert_allclose(ours, ref, **tol)
    for a, r in zip(numba_cpu.factored_linear_backward(dout, ours_cache),
                    layers.factored_linear_backward(dout, ref_cache)):
        np.testing.assert_allclose(a, r, **tol)
    with pytest.raises(ValueError, match="w must be"):
        numba_cpu.linear_forward(x, w[:, :5], b)
