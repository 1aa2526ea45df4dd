"""Choosing where the heavy layers run: "numpy" (the reference), "numba" (CPU kernels) or "cuda".

Convolution, max pooling and RoI pooling have accelerated twins, and the accelerated backends
split the linear layers' matrix products among threads; every backend uses the NumPy reference for
the rest (ReLU, dropout, the losses), which NumPy already runs at full speed.
A backend is a namespace with the layer functions of `minifrcnn.layers`, so a model calls
`ops.conv2d_forward(...)` the same way whichever backend `ops` is. Which function that is, per
backend, is written out below in `_numpy_backend`, `_numba_backend` and `_cuda_backend`.
"""

import importlib
import importlib.util
from types import SimpleNamespace

from . import layers

BACKENDS = ("numpy", "numba", "cuda")


def _why_unavailable(name):
    """None when backend `name` can run here, else a sentence saying why not."""
    if name == "numpy":
        return None
    try:
        importlib.import_module("numba")
    except ImportError:
        return "numba is not installed (pip install numba)"
    if name == "cuda":
        # numba itself still ships a deprecated CUDA target, so `from numba import cuda` succeeds
        # without numba-cuda: ask for the package by name.
        if importlib.util.find_spec("numba_cuda") is None:
            return 'numba-cuda is not installed (pip install "minifrcnn[cuda]")'
        from numba import cuda

        if not cuda.is_available():
            return "no CUDA GPU is visible"
    return None


def available_backends():
    """The backends that can run on this machine, in order of preference from slowest."""
    return [name for name in BACKENDS if _why_unavailable(name) is None]


def default_backend():
    """"numba" where Numba is installed (it always is with minifrcnn's dependencies), else "numpy".
    The GPU is never chosen silently: ask for backend="cuda"."""
    return "numba" if "numba" in available_backends() else "numpy"


def _reference_light_layers():
    """The layers every backend runs in NumPy: cheap next to convolution and RoI pooling."""
    return dict(
        relu_forward=layers.relu_forward, relu_backward=layers.relu_backward,
        linear_forward=layers.linear_forward, linear_backward=layers.linear_backward,
        factored_linear_forward=layers.factored_linear_forward,
        factored_linear_backward=layers.factored_linear_backward,
        dropout_forward=layers.dropout_forward, dropout_backward=layers.dropout_backward,
        softmax=layers.softmax, softmax_cross_entropy=layers.softmax_cross_entropy,
        smooth_l1_loss=layers.smooth_l1_loss, multitask_loss=layers.multitask_loss,
    )


def _split_linear_layers(numba_cpu):
    """The linear layers whose matrix products numba_cpu splits among threads (OpenBLAS runs
    single-threaded under minifrcnn): they replace the reference's in the accelerated backends."""
    return dict(
        linear_forward=numba_cpu.linear_forward, linear_backward=numba_cpu.linear_backward,
        factored_linear_forward=numba_cpu.factored_linear_forward,
        factored_linear_backward=numba_cpu.factored_linear_backward,
    )


def _numpy_backend():
    """Every layer from minifrcnn.layers, the reference."""
    return SimpleNamespace(
        name="numpy",
        conv2d_forward=layers.conv2d_forward, conv2d_backward=layers.conv2d_backward,
        maxpool2d_forward=layers.maxpool2d_forward, maxpool2d_backward=layers.maxpool2d_backward,
        roi_pool_forward=layers.roi_pool_forward, roi_pool_backward=layers.roi_pool_backward,
        **_reference_light_layers(),
    )


def _numba_backend():
    """The three heavy layers from minifrcnn.numba_cpu (imported here: it needs Numba)."""
    from . import numba_cpu

    return SimpleNamespace(
        name="numba",
        conv2d_forward=numba_cpu.conv2d_forward, conv2d_backward=numba_cpu.conv2d_backward,
        maxpool2d_forward=numba_cpu.maxpool2d_forward,
        maxpool2d_backward=numba_cpu.maxpool2d_backward,
        roi_pool_forward=numba_cpu.roi_pool_forward, roi_pool_backward=numba_cpu.roi_pool_backward,
        **{**_reference_light_layers(), **_split_linear_layers(numba_cpu)},
    )


def _cuda_backend():
    """Convolution and RoI pooling from minifrcnn.numba_cuda (imported here: its kernels need the
    CUDA libraries). It has no max-pool kernel: max pooling runs on the CPU kernels of
    minifrcnn.numba_cpu, with a copy between host and device on each side."""
    from . import numba_cpu, numba_cuda

    return SimpleNamespace(
        name="cuda",
        conv2d_forward=numba_cuda.conv2d_forward, conv2d_backward=numba_cuda.conv2d_backward,
        maxpool2d_forward=numba_cpu.maxpool2d_forward,
        maxpool2d_backward=numba_cpu.maxpool2d_backward,
        roi_pool_forward=numba_cuda.roi_pool_forward,
        roi_pool_backward=numba_cuda.roi_pool_backward,
        **{**_reference_light_layers(), **_split_linear_layers(numba_cpu)},
    )


def get_backend(name=None):
    """The layer functions of backend `name` (default: `default_backend()`), as a namespace with
    the names of `minifrcnn.layers`. Raises ValueError for an unknown or unavailable backend."""
    name = default_backend() if name is None else name
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    why = _why_unavailable(name)
    if why is not None:
        raise ValueError(f"backend {name!r} cannot run here: {why}")
    builders = {"numpy": _numpy_backend, "numba": _numba_backend, "cuda": _cuda_backend}
    return builders[name]()


_PACKAGES = ("numpy", "numba", "llvmlite", "scipy", "matplotlib", "pillow", "tqdm",
             "numba-cuda", "torch", "torchvision")
_THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")


def system_info():
    """What `minifrcnn info` prints: {section: {key: value}} with versions, backends, the GPU and
    the thread settings (on 2 cores, OpenBLAS's and Numba's thread pools compete for the cores)."""
    import os
    import platform
    from importlib import metadata

    import numpy as np

    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"

    backends = {name: _why_unavailable(name) or "available" for name in BACKENDS}
    backends["default"] = default_backend()

    gpu = {"visible": "no"}
    if backends["cuda"] == "available":
        from numba import cuda

        device = cuda.get_current_device()
        gpu = {"visible": "yes", "name": device.name.decode() if isinstance(device.name, bytes)
               else str(device.name), "compute capability": ".".join(map(str, device.compute_capability))}

    threads = {"cpu cores": str(os.cpu_count())}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        threads["numpy BLAS"] = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except (KeyError, TypeError):
        threads["numpy BLAS"] = "unknown"
    try:
        import numba

        threads["numba threads"] = str(numba.get_num_threads())
        threads["numba threading layer"] = str(numba.config.THREADING_LAYER)
    except ImportError:
        pass
    import minifrcnn

    threads["conv GEMMs split per thread"] = "yes" if minifrcnn.BLAS_SINGLE_THREADED else (
        "no (NumPy was imported before minifrcnn, or OpenBLAS runs several threads)")
    for variable in _THREAD_VARIABLES:
        threads[variable] = os.environ.get(variable, "unset")
    return {"versions": versions, "backends": backends, "gpu": gpu, "threads": threads}
