"""minifrcnn.numba_cuda against the NumPy reference layers, as assertions shared by the simulator
tests (tests/cuda_sim/) and the GPU tests (tests/test_cuda_gpu.py).

The cases are drawn by the reference layers' own test strategies, so the kernels meet every
situation the reference was proven on: `conv_cases()` of tests/test_conv.py (kernels 1x1 to 4x4,
strides 1-3 that divide the input or not, padding 0-2) and `cases(kind)` of tests/test_roi_pool.py
(RoIs inside the map, crossing its borders, outside it, malformed, a single cell, the whole map,
landing on .5 after scaling, anywhere; one or two images; features full of ties or not).

What "equal" means:
- convolution: to float rounding (`naive.assert_close`), since the kernels sum in another order
  than the reference's GEMM;
- RoI pooling forward: bit for bit (a maximum does no arithmetic);
- RoI pooling backward: to float rounding, since atomic adds sum in whatever order threads run.
With `device=True` the arrays go in as numba.cuda device arrays and must come out as device arrays.
"""

import numpy as np

import naive
from minifrcnn import layers, numba_cuda


def _to_device(*arrays):
    from numba import cuda

    return tuple(cuda.to_device(a) for a in arrays)


def _to_host(a, device):
    """a as NumPy, after checking it came back where its inputs were."""
    from numba import cuda

    assert cuda.devicearray.is_cuda_ndarray(a) == device, (
        f"expected a {'device' if device else 'NumPy'} array, got {type(a).__name__}")
    return a.copy_to_host() if device else a


def assert_conv_matches_reference(case, dtype, device=False):
    """Forward and backward of one `test_conv.ConvCase` agree with minifrcnn.layers."""
    x, w, b, dout = case.arrays(dtype)
    expected, ref_cache = layers.conv2d_forward(x, w, b, stride=case.stride, pad=case.pad)
    expected_grads = layers.conv2d_backward(dout, ref_cache)

    inputs = _to_device(x, w, b) if device else (x, w, b)
    out, cache = numba_cuda.conv2d_forward(*inputs, stride=case.stride, pad=case.pad)
    naive.assert_close(_to_host(out, device), expected, dtype, "out")
    grads = numba_cuda.conv2d_backward(_to_device(dout)[0] if device else dout, cache)
    for name, got, want in zip(("dx", "dw", "db"), grads, expected_grads):
        naive.assert_close(_to_host(got, device), want, dtype, name)


def assert_roi_pool_matches_reference(case, dtype, device=False):
    """Forward (bit for bit) and backward of one `test_roi_pool.Case` agree with minifrcnn.layers.

    The upstream gradient is random: had a bin picked another winning cell (a tie broken the other
    way, a bin edge one cell off), its gradient would land elsewhere and the comparison would fail.
    """
    rng = np.random.default_rng(case.seed)
    features = case.features(rng, dtype)
    args = (case.rois, case.output_size, case.spatial_scale)
    expected, ref_cache = layers.roi_pool_forward(features, *args)
    dout = rng.standard_normal(expected.shape).astype(dtype)
    expected_grad = layers.roi_pool_backward(dout, ref_cache)

    out, cache = numba_cuda.roi_pool_forward(_to_device(features)[0] if device else features, *args)
    out = _to_host(out, device)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_array_equal(out, expected, err_msg=f"forward, {np.dtype(dtype)}")
    grad = numba_cuda.roi_pool_backward(_to_device(dout)[0] if device else dout, cache)
    naive.assert_close(_to_host(grad, device), expected_grad, dtype, "dfeatures")
