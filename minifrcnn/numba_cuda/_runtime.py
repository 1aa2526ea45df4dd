"""What the CUDA layers share: loading numba.cuda on first use, telling host arrays from device
arrays, moving arrays between them, and choosing a launch configuration.

numba.cuda is imported here only when a layer is first called, never when minifrcnn.numba_cuda
is imported, so the package imports on a machine with no GPU and no numba-cuda; the first call
then says what is missing.
"""

import importlib.util

import numpy as np

INSTALL_HINT = (
    'pip install "minifrcnn[cuda]" (numba-cuda and the CUDA 13 wheels '
    '"cuda-toolkit[cudart,nvrtc,nvvm]==13.*"; Linux x86-64 only)'
)

# Threads per block of every launch: a multiple of the warp size (32) that suits any GPU numba-cuda
# supports. Launches smaller than one block use exactly as many threads as there are elements
# (see `launch`).
THREADS_PER_BLOCK = 256


class CudaUnavailableError(RuntimeError):
    """The CUDA layers cannot run here; the message says what to install or where to run."""


_state = {"cuda": None}


def cuda_module():
    """numba.cuda, imported on the first call and checked once.

    Raises CudaUnavailableError when numba-cuda or the CUDA libraries are missing, or when no GPU
    is visible (outside the simulator, NUMBA_ENABLE_CUDASIM=1, which always has one).
    """
    if _state["cuda"] is not None:
        return _state["cuda"]
    # numba itself still ships a deprecated built-in numba.cuda, which `from numba import cuda`
    # finds when numba-cuda is missing: ask for the package by name so that it is never used.
    if importlib.util.find_spec("numba_cuda") is None:
        raise CudaUnavailableError(f"minifrcnn.numba_cuda needs numba-cuda: {INSTALL_HINT}")
    try:
        from numba import cuda
    except Exception as error:   # e.g. libcudart not found: even the simulator needs it
        raise CudaUnavailableError(
            f"numba.cuda could not be imported ({type(error).__name__}: {error}): {INSTALL_HINT}"
        ) from error
    if not cuda.is_available():
        raise CudaUnavailableError(
            "no CUDA GPU is visible (numba.cuda.is_available() is False): use minifrcnn.layers or "
            "minifrcnn.numba_cpu here, or set NUMBA_ENABLE_CUDASIM=1 before numba is first "
            "imported to run the kernels in the (slow) CUDA simulator"
        )
    _state["cuda"] = cuda
    return cuda


def is_device_array(a):
    """True for a numba.cuda device array (the simulator's stand-in included)."""
    return cuda_module().devicearray.is_cuda_ndarray(a)


def shape_proxy(a):
    """A NumPy array with a's shape and dtype that takes no memory, for the reference's checks.

    The checks in minifrcnn.layers._checks look at type, shape and dtype only; a read-only
    broadcast of one element lets them judge a device array without copying it to the host.
    Anything that is not a device array is returned as it is.
    """
    if not is_device_array(a):
        return a
    return np.broadcast_to(np.empty((), dtype=a.dtype), a.shape)


def to_device(a):
    """A device array holding a: a NumPy array is copied to the GPU, a device array is returned
    as it is."""
    if is_device_array(a):
        return a
    return cuda_module().to_device(np.ascontiguousarray(a))


def to_host_if(on_device, a):
    """a as it is when the caller gave device arrays (`on_device`), else copied back to NumPy.

    Kernels run in order on the default stream and copy_to_host waits for them, so no explicit
    synchronisation is needed either way."""
    return a if on_device else a.copy_to_host()


def device_empty(shape, dtype):
    return cuda_module().device_array(shape, dtype=dtype)


def launch(kernel, count, *args):
    """Run `kernel(*args)` on a 1-D grid of at least `count` threads, one per output element.

    A launch of fewer elements than one block uses exactly `count` threads: the GPU does not mind,
    and the simulator, which runs every thread as a Python thread, is not made to run idle ones.
    Nothing to compute (count 0, e.g. no RoIs) launches nothing: CUDA refuses an empty grid.
    """
    if count == 0:
        return
    threads = min(THREADS_PER_BLOCK, count)
    kernel[(count + threads - 1) // threads, threads](*args)
