"""minifrcnn: Fast R-CNN (Girshick, ICCV 2015) from scratch in NumPy, every gradient by hand."""

import os
import sys

# Two kinds of threads share the cores: Numba's (the CPU kernels) and OpenBLAS's (NumPy's matrix
# products). OpenBLAS's threads wait for one another, spinning, many times inside one product:
# fast on an idle machine, but when another process holds part of the cores each wait can last
# until a descheduled partner runs again (on 2 cores beside two busy processes, one conv GEMM
# took 40 ms with 2 OpenBLAS threads and 25 ms with one). So OpenBLAS runs single-threaded, and
# minifrcnn.numba_cpu splits its large products into independent slabs, one per thread, itself.
# Numba's OpenMP workers sleep when idle (OMP_WAIT_POLICY) instead of spinning on cores that the
# main thread and the other workers need, and so do OpenBLAS's soon after a product
# (OPENBLAS_THREAD_TIMEOUT) where the user asks for more than one.
# These only take effect if set before NumPy and Numba start their pools, which is the case for
# the `minifrcnn` command and for scripts that import minifrcnn first; a value the user set wins.
# `minifrcnn info` shows what is in force.
_blas_started_multithreaded = "numpy" in sys.modules and "OPENBLAS_NUM_THREADS" not in os.environ
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# Whether OpenBLAS runs one thread, so that minifrcnn.numba_cpu may split products among threads
# of its own. Not when NumPy came first and started OpenBLAS's threads: slabs multiplied by two
# threads, each with OpenBLAS threads of its own, oversubscribe the cores (a training step took
# 24 times longer beside two busy processes), so the products are then left to OpenBLAS whole.
BLAS_SINGLE_THREADED = os.environ["OPENBLAS_NUM_THREADS"] == "1" and not _blas_started_multithreaded

__version__ = "0.1.0"


def __getattr__(name):
    # minifrcnn.FastRCNN without importing NumPy and Numba on `import minifrcnn` (the command
    # line's --help stays fast).
    if name == "FastRCNN":
        from .model import FastRCNN
        return FastRCNN
    raise AttributeError(f"module 'minifrcnn' has no attribute {name!r}")
