"""RoI max pooling on the GPU, the same signatures and results as minifrcnn.layers.roi_pool.

The host computes every bin's boundaries with the reference's own `roi_bins` (a few small (R, PH)
and (R, PW) arrays), so the projection, C rounding and float32 bin arithmetic are the reference's
by construction; the kernels do the per-element work:

    forward   out[r, c, ph, pw]   one thread each: max over the bin, and the winning cell
    backward  dout[r, c, ph, pw]  one thread each: atomic add into the winning cell of dfeatures

The forward output and argmax equal the reference's bit for bit (a maximum does no arithmetic).
The backward pass is a scatter: a feature cell can win bins of several RoIs, and only argmax says
which, so threads add with cuda.atomic.add. Its sums are right but their order is not fixed, so
float32 gradients may differ from the reference's (which adds in (r, c, ph, pw) order) in the last
bits. A gather (one thread per feature cell, searching every bin that might have chosen it) would be
deterministic but would read all of argmax for every cell: atomics are the natural choice here.
"""

import numpy as np

from ..layers._checks import (
    check_dout,
    check_same_dtype,
)
from ..layers.roi_pool import check_roi_pool_inputs, roi_bins
from . import _runtime as rt


def roi_pool_forward(features, rois, output_size=(7, 7), spatial_scale=1 / 16):
    """Max-pool every RoI to a fixed PH x PW grid, on the GPU.

    features: (N, C, H, W); rois: (R, 5) as (batch_index, x1, y1, x2, y2) in input-image pixels;
    output_size: (PH, PW) or an int; spatial_scale: feature cells per image pixel.
    Returns out: (R, C, PH, PW) in the features' dtype and a cache (argmax on the GPU).

    NumPy features give a NumPy out; device features give a device out. rois may be either; they
    are read on the host (R x 5 numbers) to check them and compute the bins.
    Thread mapping: one thread per element of out.
    """
    on_device = rt.is_device_array(features)
    if rt.is_device_array(rois):
        rois = rois.copy_to_host()
    output_size, spatial_scale = check_roi_pool_inputs(rt.shape_proxy(features), rois, output_size,
                                                       spatial_scale)
    dtype = features.dtype
    _, c, h, w = features.shape
    hstart, hend, wstart, wend = roi_bins(rois, spatial_scale, output_size, h, w, dtype)
    batch_index = rois[:, 0].astype(np.int64)

    from .kernels import roi_pool_forward_kernel

    out = rt.device_empty((rois.shape[0], c, *output_size), dtype)
    argmax = rt.device_empty(out.shape, np.int64)
    batch_index_dev = rt.to_device(batch_index)
    rt.launch(roi_pool_forward_kernel, out.size, rt.to_device(features), batch_index_dev,
              *(rt.to_device(a) for a in (hstart, hend, wstart, wend)), out, argmax)
    return rt.to_host_if(on_device, out), (features.shape, dtype, batch_index_dev, argmax)


def roi_pool_backward(dout, cache):
    """dout: (R, C, PH, PW). Returns dfeatures: (N, C, H, W), a NumPy array for a NumPy dout and a
    device array for a device dout (which must have the forward pass's dtype).

    dfeatures[b, c].flat[argmax[r, c, ph, pw]] += dout[r, c, ph, pw] for every non-empty bin.
    Thread mapping: one thread per element of dout, adding with cuda.atomic.add (see the module
    docstring), after one thread per element of dfeatures has set it to zero.
    """
    features_shape, dtype, batch_index_dev, argmax = cache
    on_device = rt.is_device_array(dout)
    if on_device:
        check_dout(rt.shape_proxy(dout), argmax.shape, dout.dtype)
        check_same_dtype("dout", dout, "the forward features", np.empty(0, dtype))
    else:
        dout = check_dout(dout, argmax.shape, dtype)

    from .kernels import fill_zero, roi_pool_backward_kernel

    dfeatures = rt.device_empty(features_shape, dtype)
    flat = dfeatures.ravel()                 # a view: zeroing it zeroes dfeatures
    rt.launch(fill_zero, flat.size, flat)
    rt.launch(roi_pool_backward_kernel, argmax.size, rt.to_device(dout), batch_index_dev, argmax,
              dfeatures)
    return rt.to_host_if(on_device, dfeatures)
