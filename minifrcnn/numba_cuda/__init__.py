"""numba.cuda kernels for the two layers that dominate Fast R-CNN's time: convolution and RoI
pooling, with the signatures of the NumPy reference in minifrcnn.layers:

    conv2d_forward(x, w, b, stride=1, pad=0)                                   -> out, cache
    conv2d_backward(dout, cache)                                               -> dx, dw, db
    roi_pool_forward(features, rois, output_size=(7, 7), spatial_scale=1/16)   -> out, cache
    roi_pool_backward(dout, cache)                                             -> dfeatures

NumPy arrays in give NumPy arrays out (copied to the GPU and back on each call). numba.cuda device
arrays in (`numba.cuda.to_device(x)`) give device arrays out, so a model can keep its activations
on the GPU between layers. Caches hold device arrays and belong to these functions only.

The kernels (kernels.py) are one thread per output element and favour reading over speed. Importing
this package needs neither a GPU nor numba-cuda; the first call does, and otherwise raises
CudaUnavailableError saying what to install. Without a GPU the kernels still run in numba's CUDA
simulator: set NUMBA_ENABLE_CUDASIM=1 before numba is first imported (about a millisecond per
thread, so tiny arrays only). minifrcnn.backend imports this package only when the "cuda" backend
is asked for.
"""

from ._runtime import CudaUnavailableError
from .conv import conv2d_backward, conv2d_forward
from .roi_pool import roi_pool_backward, roi_pool_forward

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "roi_pool_forward", "roi_pool_backward",
    "CudaUnavailableError",
]
