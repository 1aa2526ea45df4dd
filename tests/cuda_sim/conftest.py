"""The CUDA kernels under numba's CUDA simulator: a pytest invocation of its own.

numba picks the simulator when it is first imported, if NUMBA_ENABLE_CUDASIM=1 is set by then, and
keeps that choice for the whole process. So these tests run only as

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda_sim

(tests/run.sh does this after the main run, which passes --ignore=tests/cuda_sim). In any other
process, or where numba-cuda or the CUDA runtime wheels are missing, every test here is skipped
with the reason, and nothing is imported from numba.cuda.
"""

import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _why_not_runnable():
    """None when the simulator can run the kernels here, else why not."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        return ("the CUDA simulator tests need their own process: "
                "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda_sim")
    if importlib.util.find_spec("numba_cuda") is None:
        return 'numba-cuda is not installed (pip install "minifrcnn[cuda]")'
    try:
        from numba import cuda
    except Exception as error:          # e.g. libcudart missing: even the simulator loads it
        return f"numba.cuda cannot be imported ({type(error).__name__}: {error})"
    if cuda.compile_ptx is not None:     # None only in the simulator
        return "numba.cuda is not in simulator mode: numba was imported before the variable was set"
    return None


WHY_NOT = _why_not_runnable()


def pytest_collection_modifyitems(config, items):
    if WHY_NOT is None:
        return
    skip = pytest.mark.skip(reason=WHY_NOT)
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(skip)
