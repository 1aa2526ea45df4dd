"""Matrix products split among threads by hand: the GEMMs of the Numba backend (conv, linear).

Each GEMM is cut into one slab of columns per thread (`numba.get_num_threads()`), and
every slab is an independent single-threaded BLAS call (`import minifrcnn` sets
OPENBLAS_NUM_THREADS=1). OpenBLAS's own threads would share packed panels and wait for one
another, spinning, many times within one GEMM: as long as both cores are free that is as fast,
but when another process takes a share of the cores a thread waits for its descheduled partner
again and again. On 2 cores with two busy processes beside it, one such GEMM of conv3_1 took
40 ms where a single thread took 25 ms. Independent slabs meet once, at the end.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .. import BLAS_SINGLE_THREADED

_helpers = None       # the threads that multiply the other slabs, started on the first GEMM


def _forget_helpers():
    global _helpers
    _helpers = None


# A forked child inherits the pool but not its threads: slabs handed to it would wait forever.
os.register_at_fork(after_in_child=_forget_helpers)


def matmul(a, b, out):
    """out = a @ b for 2-D arrays, written into out (M, N) and returned (out must not overlap a
    or b).

    The columns of out are split into one slab per Numba thread: the calling thread multiplies
    the first slab while helper threads multiply the others, each with one single-threaded BLAS
    call (NumPy releases the GIL inside it). The slabs share nothing, so a thread that is
    descheduled for a while delays only its own slab. Where OpenBLAS has threads of its own
    (minifrcnn.BLAS_SINGLE_THREADED is False), one call does it all.
    """
    global _helpers
    threads = min(numba.get_num_threads(), out.shape[1]) if BLAS_SINGLE_THREADED else 1
    if threads <= 1:
        return np.matmul(a, b, out=out)
    if _helpers is None:
        _helpers = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS - 1,
                                      thread_name_prefix="minifrcnn-gemm")
    edges = [out.shape[1] * k // threads for k in range(threads + 1)]
    others = [_helpers.submit(np.matmul, a, b[:, lo:hi], out=out[:, lo:hi])
              for lo, hi in zip(edges[1:-1], edges[2:])]
    np.matmul(a, b[:, :edges[1]], out=out[:, :edges[1]])
    for slab in others:
        slab.result()
    return out
