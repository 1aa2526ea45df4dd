"""minifrcnn: Fast R-CNN (Girshick, ICCV 2015) from scratch in NumPy, every gradient by hand."""

import os

# Two thread pools share the cores: OpenBLAS's (NumPy's matrix products) and Numba's (the CPU
# kernels). By default an idle pool keeps its threads spinning for a while, holding cores the
# other pool needs; on 2 cores a RoI-pooling kernel right after a conv ran at half speed. Short
# spins (OPENBLAS_THREAD_TIMEOUT) and sleeping OpenMP workers (OMP_WAIT_POLICY) remove that.
# These only take effect if set before NumPy and Numba start their pools, which is the case for
# the `minifrcnn` command and for scripts that import minifrcnn first; a value the user set wins.
# `minifrcnn info` shows what is in force.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

__version__ = "0.1.0"


def __getattr__(name):
    # minifrcnn.FastRCNN without importing NumPy and Numba on `import minifrcnn` (the command
    # line's --help stays fast).
    if name == "FastRCNN":
        from .model import FastRCNN
        return FastRCNN
    raise AttributeError(f"module 'minifrcnn' has no attribute {name!r}")
