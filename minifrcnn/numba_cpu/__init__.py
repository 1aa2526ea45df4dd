"""Numba CPU twins of the heavy layers: conv2d, maxpool2d and roi_pool (and linear, whose
products are split among threads).

Same functions, signatures, argument checks and return conventions as `minifrcnn.layers` (the
NumPy reference, the truth), float32 and float64. Read each file next to its reference:

    conv.py      im2col and col2im as compiled loops, then one NumPy GEMM
    maxpool.py   one fused loop: max and argmax together; backward adds into dx
    roi_pool.py  the reference's bins, max-pooled by a compiled loop; bit-exact with the reference
    linear.py    the reference's products, each split among threads (gemm.py), as conv's are

Caches are opaque and belong to the backend that made them: pass a cache from
`numba_cpu.conv2d_forward` to `numba_cpu.conv2d_backward`, never to the reference. The "numba"
backend (minifrcnn.backend) runs all three pairs from here, the "cuda" backend max pooling only.

Kernels compile on their first call for each dtype (a few seconds) and are cached on disk next to
the source (`cache=True`), so later processes load them in a fraction of a second. Set
`NUMBA_DISABLE_JIT=1` to run the same loops as plain Python, e.g. in a debugger.

Parallel loops (`prange`) only ever split work whose writes are disjoint (separate output
elements, separate (n, c) planes, separate channels): the CPU has no atomic adds, so two threads
adding into the same cell would lose updates.
"""

from .conv import conv2d_backward, conv2d_forward
from .linear import (factored_linear_backward, factored_linear_forward, linear_backward,
                     linear_forward)
from .maxpool import maxpool2d_backward, maxpool2d_forward
from .roi_pool import roi_pool_backward, roi_pool_forward

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward", "maxpool2d_backward",
    "roi_pool_forward", "roi_pool_backward",
    "linear_forward", "linear_backward",
    "factored_linear_forward", "factored_linear_backward",
]
