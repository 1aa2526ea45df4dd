"""Every CUDA kernel of minifrcnn.numba_cuda compiles to PTX, with no GPU needed, and the PTX has
the instructions it should have and none it should not.

The simulator (tests/cuda_sim/) runs the kernels as Python, so it accepts code the GPU compiler
would reject and cannot see what arithmetic the compiler emits. This file compiles each kernel
with cuda.compile_ptx for compute capabilities 8.0 and 9.0, in float32 and float64, and reads:

- no `.f64` anywhere in a float32 kernel: one untyped literal (`acc = 0.0`) would silently do the
  whole sum in double precision, many times slower on most GPUs;
- no `.f32` arithmetic in a float64 kernel: the typed zero `float32(0)` that starts each sum must
  widen to float64 there, or float64 gradient checks would run in float32;
- `atom.global.add.f32` / `.f64` in RoI-pool backward, the one scatter-add; no atomic at all in
  the other kernels (the convolution's dx is a gather).

Skipped where numba-cuda or the CUDA wheels (NVVM) are missing, and in the simulator's process,
where cuda.compile_ptx is None.
"""

import functools
import os
import re

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("cuda.compile_ptx does not exist in the CUDA simulator", allow_module_level=True)
pytest.importorskip("numba_cuda",
                    reason='numba-cuda is not installed (pip install "minifrcnn[cuda]")')

from numba import cuda, types  # noqa: E402  (after the skips: needs numba-cuda)

from minifrcnn.numba_cuda import kernels  # noqa: E402

CCS = [(8, 0), (9, 0)]
DTYPES = [types.float32, types.float64]


def array(dtype, ndim):
    """The type of a C-contiguous array, as the layer functions allocate and copy them."""
    return types.Array(dtype, ndim, "C")


# kernel -> (argument types for dtype `dt`, whether it adds atomically)
KERNELS = {
    "fill_zero": (lambda dt: (array(dt, 1),), False),
    "conv2d_forward_kernel": (lambda dt: (array(dt, 4), array(dt, 4), array(dt, 1), types.int64,
                                          types.int64, array(dt, 4)), False),
    "conv2d_dw_kernel": (lambda dt: (array(dt, 4), array(dt, 4), types.int64, types.int64,
                                     array(dt, 4)), False),
    "conv2d_db_kernel": (lambda dt: (array(dt, 4), array(dt, 1)), False),
    "conv2d_dx_kernel": (lambda dt: (array(dt, 4), array(dt, 4), types.int64, types.int64,
                                     array(dt, 4)), False),
    "roi_pool_forward_kernel": (lambda dt: (array(dt, 4), array(types.int64, 1),
                                            *[array(types.int64, 2)] * 4, array(dt, 4),
                                            array(types.int64, 4)), False),
    "roi_pool_backward_kernel": (lambda dt: (array(dt, 4), array(types.int64, 1),
                                             array(types.int64, 4), array(dt, 4)), True),
}


@pytest.fixture(scope="module", autouse=True)
def nvvm_available():
    """Skip, rather than fail, where numba-cuda is installed without the CUDA wheels' NVVM."""
    from numba.cuda.cudadrv.error import NvvmSupportError

    try:
        cuda.compile_ptx(kernels.fill_zero, (array(types.float32, 1),), cc=CCS[0])
    except NvvmSupportError as error:
        pytest.skip(f'NVVM not found ({error}): pip install "minifrcnn[cuda]"')


@functools.lru_cache(maxsize=None)
def compile_ptx(name, dtype, cc):
    """The PTX of kernel `name` for arrays of `dtype`, compiled once per (name, dtype, cc)."""
    argument_types, _ = KERNELS[name]
    ptx, _ = cuda.compile_ptx(getattr(kernels, name), argument_types(dtype), cc=cc)
    return ptx


def instructions(ptx):
    """The PTX lines without comments and blank lines."""
    lines = (line.split("//")[0].strip() for line in ptx.splitlines())
    return [line for line in lines if line]


def test_every_kernel_is_listed_here_and_compiled_lazily():
    """The table above covers every kernel in kernels.py, and none was given an eager signature
    (it would need a GPU driver at import)."""
    found = {name for name, value in vars(kernels).items()
             if isinstance(value, cuda.dispatcher.CUDADispatcher)}
    assert found == set(KERNELS)
    for name in KERNELS:
        assert getattr(kernels, name).signatures == [], f"{name} has an eager signature"


@pytest.mark.parametrize("cc", CCS, ids=lambda cc: f"cc{cc[0]}{cc[1]}")
@pytest.mark.parametrize("name", KERNELS)
def test_float32_kernel_has_no_float64_instruction(name, cc):
    ptx = compile_ptx(name, types.float32, cc)
    f64 = [line for line in instructions(ptx) if ".f64" in line]
    assert f64 == [], f"{name} (float32) has {len(f64)} float64 lines, e.g. {f64[:3]}"


@pytest.mark.parametrize("cc", CCS, ids=lambda cc: f"cc{cc[0]}{cc[1]}")
@pytest.mark.parametrize("name", KERNELS)
def test_float64_kernel_computes_in_float64(name, cc):
    ptx = compile_ptx(name, types.float64, cc)
    f32 = [line for line in instructions(ptx) if ".f32" in line]
    assert f32 == [], f"{name} (float64) has {len(f32)} float32 lines, e.g. {f32[:3]}"


@pytest.mark.parametrize("cc", CCS, ids=lambda cc: f"cc{cc[0]}{cc[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", KERNELS)
def test_atomic_adds_exactly_where_intended(name, dtype, cc):
    """RoI-pool backward adds into global memory atomically, in the kernel's dtype; every other
    kernel has no atomic or reduction instruction at all."""
    ptx = compile_ptx(name, dtype, cc)
    atomics = [line for line in instructions(ptx) if re.match(r"(atom|red)\.", line)]
    if KERNELS[name][1]:
        suffix = "f32" if dtype == types.float32 else "f64"
        intended = rf"atom\.global\.add\.{suffix}\s"
        assert atomics and all(re.match(intended, a) for a in atomics), atomics
    else:
        assert atomics == [], f"{name} should not need atomics, found {atomics}"
