"""minifrcnn.numba_cuda on a real GPU, and what it says where it cannot run.

On a machine with a CUDA GPU (numba.cuda.is_available(), outside the simulator) the layers are
held against the NumPy reference with the same assertions as the simulator tests
(tests/cuda_sim/equivalence.py), on more examples and on sizes a detector really uses (VGG16's
conv5 map of a 600 x 800 image, 128 RoIs pooled to 7 x 7). Elsewhere those tests skip.

The first tests need no GPU: importing the package needs neither a GPU nor numba-cuda, and a
call that cannot run says what to install or where to run instead.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cuda_sim.equivalence import assert_conv_matches_reference, assert_roi_pool_matches_reference
from minifrcnn import layers, numba_cuda
from minifrcnn.numba_cuda import _runtime
from test_conv import conv_cases
from test_roi_pool import KINDS, Case, cases

DTYPES = [np.float32, np.float64]
X, W, B = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 1, 1)), np.zeros(1)


def real_gpu():
    """True where numba-cuda is installed and sees a GPU (the simulator does not count)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    if importlib.util.find_spec("numba_cuda") is None:
        return False
    try:
        from numba import cuda
    except Exception:
        return False
    return cuda.is_available()


GPU = real_gpu()
needs_gpu = pytest.mark.skipif(not GPU, reason="no CUDA GPU visible to numba.cuda")


# --- where it cannot run ----------------------------------------------------------------------

def test_importing_the_package_loads_no_cuda():
    """`import minifrcnn.numba_cuda` does not import numba.cuda (so it works without numba-cuda,
    libcudart or a GPU, and costs nothing until a layer is called)."""
    code = "import sys, minifrcnn.numba_cuda; print('numba.cuda' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_without_numba_cuda_a_call_says_what_to_install(monkeypatch):
    """With numba-cuda missing (numba's own deprecated numba.cuda does not count), the first call
    raises CudaUnavailableError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "numba_cuda", None)      # find_spec now answers None
    monkeypatch.setitem(_runtime._state, "cuda", None)
    with pytest.raises(numba_cuda.CudaUnavailableError, match=r'pip install "minifrcnn\[cuda\]"'):
        numba_cuda.conv2d_forward(X, W, B)


@pytest.mark.skipif(GPU or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="a GPU (or the simulator) is available")
def test_without_a_gpu_a_call_says_where_to_run(monkeypatch):
    pytest.importorskip("numba_cuda")
    monkeypatch.setitem(_runtime._state, "cuda", None)
    with pytest.raises(numba_cuda.CudaUnavailableError,
                       match="no CUDA GPU is visible.*minifrcnn.numba_cpu.*NUMBA_ENABLE_CUDASIM=1"):
        numba_cuda.roi_pool_forward(np.zeros((1, 1, 4, 4)), np.zeros((1, 5)), 2, 1.0)


# --- against the reference, on a GPU ------------------------------------------------------------

@needs_gpu
@pytest.mark.parametrize("device", [False, True], ids=["numpy", "device"])
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=100, deadline=None)
@given(case=conv_cases())
def test_conv_equals_the_reference(case, dtype, device):
    assert_conv_matches_reference(case, dtype, device=device)


@needs_gpu
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_roi_pool_equals_the_reference(kind, data):
    case = data.draw(cases(kind), label="case")
    for dtype in DTYPES:
        for device in (False, True):
            assert_roi_pool_matches_reference(case, dtype, device=device)


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_vgg16_sized_conv_equals_the_reference(dtype):
    """A 3x3, pad 1 convolution from 64 to 64 channels on a 38 x 50 map, two images."""
    from test_conv import ConvCase

    assert_conv_matches_reference(ConvCase((2, 64, 38, 50), (64, 64, 3, 3), 1, 1, seed=11), dtype)


def vgg16_roi_case(seed):
    """128 RoIs over two 600 x 800 images (some crossing the border), on conv5's 38 x 50 map,
    512 channels, scale 1/16, pooled to 7 x 7: Fast R-CNN's minibatch."""
    rng = np.random.default_rng(seed)
    corners = rng.uniform([-40, -40], [800, 600], size=(128, 2))
    sizes = rng.uniform(8, 400, size=(128, 2))
    rois = np.column_stack([rng.integers(0, 2, 128), corners, corners + sizes])
    return Case(shape=(2, 512, 38, 50), rois=rois, output_size=(7, 7), spatial_scale=1 / 16,
                ties=False, seed=seed)


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_vgg16_sized_roi_pool_equals_the_reference(dtype):
    assert_roi_pool_matches_reference(vgg16_roi_case(12), dtype)


@needs_gpu
def test_conv_backward_is_deterministic():
    """dx is a gather and dw, db are per-thread sums: two runs agree bit for bit."""
    from test_conv import ConvCase

    x, w, b, dout = ConvCase((2, 32, 20, 24), (16, 32, 3, 3), 1, 1, seed=13).arrays(np.float32)
    _, cache = numba_cuda.conv2d_forward(x, w, b, pad=1)
    first, second = numba_cuda.conv2d_backward(dout, cache), numba_cuda.conv2d_backward(dout, cache)
    for a, b_ in zip(first, second):
        np.testing.assert_array_equal(a, b_)


@needs_gpu
def test_conv_then_roi_pool_stay_on_the_gpu():
    """A conv layer feeding RoI pooling, forward and backward, with device arrays throughout:
    every result is a device array, and the gradients equal the reference's."""
    from numba import cuda

    rng = np.random.default_rng(14)
    x = rng.standard_normal((1, 8, 20, 24))
    w, b = rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    rois = np.array([[0, 0, 0, 150, 100], [0, 40, 30, 380, 310], [0, -20, 50, 200, 400]], float)
    features, conv_cache = numba_cuda.conv2d_forward(cuda.to_device(x), cuda.to_device(w),
                                                     cuda.to_device(b), pad=1)
    pooled, pool_cache = numba_cuda.roi_pool_forward(features, rois, (7, 7), 1 / 16)
    dout = rng.standard_normal((3, 16, 7, 7))
    dfeatures = numba_cuda.roi_pool_backward(cuda.to_device(dout), pool_cache)
    dx, dw, db = numba_cuda.conv2d_backward(dfeatures, conv_cache)
    for a in (features, pooled, dfeatures, dx, dw, db):
        assert cuda.devicearray.is_cuda_ndarray(a)

    # The reference pools the GPU's own features (which equal its conv output to rounding), so
    # every bin has the same winner, and it back-propagates through its own conv.
    _, ref_conv_cache = layers.conv2d_forward(x, w, b, pad=1)
    ref_pooled, ref_pool_cache = layers.roi_pool_forward(features.copy_to_host(), rois, (7, 7),
                                                         1 / 16)
    np.testing.assert_array_equal(pooled.copy_to_host(), ref_pooled)
    ref_dfeatures = layers.roi_pool_backward(dout, ref_pool_cache)
    ref_grads = layers.conv2d_backward(ref_dfeatures, ref_conv_cache)
    for got, want in zip((dx, dw, db), ref_grads):
        np.testing.assert_allclose(got.copy_to_host(), want, rtol=1e-9, atol=1e-9)
