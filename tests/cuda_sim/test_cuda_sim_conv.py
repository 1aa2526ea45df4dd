"""The CUDA convolution kernels (minifrcnn.numba_cuda.conv) under numba's CUDA simulator, against
the NumPy reference: forward and backward to float rounding, float32 and float64, NumPy arrays
and device arrays, and the same refusals as the reference.

The simulator runs every CUDA thread as a Python thread, so the cases are tiny (test_conv.py's
own, a few hundred threads at most per launch). It checks results, not races: that dx needs no
atomics is the design (a gather), and tests/test_cuda_ptx.py checks the PTX has none.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings

from equivalence import assert_conv_matches_reference
from minifrcnn import layers, numba_cuda
from test_conv import ConvCase, conv_cases, with_fixed_examples

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@settings(deadline=None)
@given(case=conv_cases())
@with_fixed_examples
def test_forward_and_backward_equal_the_reference(case, dtype):
    """out, dx, dw and db agree with minifrcnn.layers for kernels 1x1 to 4x4, strides 1-3 (even
    and uneven), padding 0-2, and the output keeps the input dtype."""
    assert_conv_matches_reference(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=5, deadline=None)
@given(case=conv_cases())
def test_device_arrays_in_give_device_arrays_out(case, dtype):
    """Device arrays in: out, dx, dw and db come back as device arrays, with the same values."""
    assert_conv_matches_reference(case, dtype, device=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_launches_of_several_blocks(dtype):
    """2 x 4 x 12 x 11 = 1056 outputs and 2 x 3 x 14 x 13 = 1092 inputs: grids of 5 blocks of
    256 threads, whose last block is partly idle."""
    assert_conv_matches_reference(ConvCase((2, 3, 14, 13), (4, 3, 3, 3), 1, 0, seed=5), dtype)


def test_mixed_host_and_device_arguments():
    """x on the GPU with w and b still NumPy arrays: out follows x onto the device."""
    from numba import cuda

    x, w, b, _ = ConvCase((1, 2, 5, 5), (2, 2, 3, 3), 1, 1, seed=6).arrays(np.float32)
    out, _ = numba_cuda.conv2d_forward(cuda.to_device(x), w, b, pad=1)
    assert cuda.devicearray.is_cuda_ndarray(out)
    np.testing.assert_allclose(out.copy_to_host(), layers.conv2d_forward(x, w, b, pad=1)[0],
                               rtol=1e-5, atol=1e-5)


X, W, B = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2)

BAD_CALLS = [
    pytest.param((X[0], W, B), {}, id="x-3d"),
    pytest.param((X, W[0], B), {}, id="w-3d"),
    pytest.param((X, W, B[:, None]), {}, id="b-2d"),
    pytest.param((X, np.zeros((2, 4, 3, 3)), B), {}, id="channels"),
    pytest.param((X, W, np.zeros(3)), {}, id="b-length"),
    pytest.param((X, np.zeros((2, 3, 3, 8)), B), {"pad": 1}, id="kernel-too-wide"),
    pytest.param((X, W, B), {"stride": 0}, id="stride-0"),
    pytest.param((X, W, B), {"pad": -1}, id="pad-negative"),
    pytest.param((X.astype(np.int64), W, B), {}, id="x-int"),
    pytest.param((X.astype(np.float32), W, B), {}, id="w-dtype"),
    pytest.param((X.tolist(), W, B), {}, id="x-list"),
]


@pytest.mark.parametrize("args, kwargs", BAD_CALLS)
def test_bad_input_is_refused_with_the_reference_message(args, kwargs):
    """Whatever the reference refuses, the CUDA layer refuses with the same ValueError message."""
    with pytest.raises(ValueError) as reference_error:
        layers.conv2d_forward(*args, **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(reference_error.value))):
        numba_cuda.conv2d_forward(*args, **kwargs)


def test_bad_dout_is_refused():
    """A dout of the wrong shape gets the reference's message; a device dout of another dtype
    than the forward pass is refused (it cannot be converted on the host)."""
    from numba import cuda

    _, cache = numba_cuda.conv2d_forward(X, W, B, pad=1)                 # out (1, 2, 5, 5)
    with pytest.raises(ValueError, match=re.escape(
            "dout must have the forward output's shape (1, 2, 5, 5), got (1, 2, 3, 3)")):
        numba_cuda.conv2d_backward(np.zeros((1, 2, 3, 3)), cache)
    with pytest.raises(ValueError, match="dout has dtype float32 but the forward input x has "
                                         "dtype float64"):
        numba_cuda.conv2d_backward(cuda.to_device(np.zeros((1, 2, 5, 5), np.float32)), cache)
