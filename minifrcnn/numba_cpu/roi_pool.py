"""RoI max pooling with Numba, bit for bit the reference's (minifrcnn/layers/roi_pool.py).

Read the reference first: its docstring walks through the projection, the bins and the max.
Only the max-pooling loops are compiled here. The bins themselves (projection with C's rounding,
bin sizes in the features' dtype, floor/ceil, clipping) come from the reference's own `roi_bins`,
vectorised NumPy on R x (PH + PW) numbers, so they are identical to the reference's by
construction, in float32 and float64 alike.

Forward is parallel over RoIs: each RoI writes its own (C, PH, PW) block of the output. It reads
a channels-last copy of the features, so that, as in the reference (argmax over a (C, cells)
window), each bin is pooled for all channels at once, the innermost loop running over adjacent
memory: 2 to 4 times faster than one scan per (RoI, channel) (measured with 2000 and 128 RoIs).

Backward is a scatter-add, and the CPU has no atomic adds: two threads adding into the same cell
can lose an update. So backward is parallel over (blocks of) channels, never over RoIs: RoIs of
one image overlap and send gradients into the same cells, but channel c only ever writes the
planes of c.

The argmax is private to this module (the cache is opaque), so it is int32, not int64, whenever
the feature planes allow: with 2000 RoIs that is 200 MB less to write and read back.
"""

import numpy as np
from numba import njit, prange

from ..layers._checks import check_dout
from ..layers.roi_pool import check_roi_pool_inputs, roi_bins


@njit(parallel=True, cache=True)
def _roi_pool_forward(features_hwc, batch_index, hstart, hend, wstart, wend, out, argmax):
    """features_hwc: (N, H, W, C), the features with the channels last; batch_index: (R,);
    hstart, hend: (R, PH) and wstart, wend: (R, PW), the clipped bin edges of roi_bins
    (end exclusive).

    Fills out: (R, C, PH, PW) in the features' dtype and argmax: (R, C, PH, PW), the flat index
    h * W + w of each bin's winner in its (H, W) plane; an empty bin gives 0 and -1.

    Like the reference, each bin is max-pooled for all C channels at once: with the channels last,
    the C values of one cell lie side by side in memory, and the innermost loop runs over them.
    The cells of a bin are scanned in row-major order from its first cell, and a cell wins only if
    it is strictly greater, so ties go to the first cell. For finite features this is the spec's
    scan from -inf; starting from the first cell instead (and letting the first NaN win) also
    matches the reference's np.argmax on -inf and NaN.

    Parallel over RoIs: RoI r writes out[r] and argmax[r] only, so the writes are disjoint.
    """
    _, _, width, c_count = features_hwc.shape
    r_count, ph_count = hstart.shape
    pw_count = wstart.shape[1]
    for r in prange(r_count):
        image = features_hwc[batch_index[r]]                  # (H, W, C)
        best = np.empty(c_count, dtype=features_hwc.dtype)    # running max of each channel
        best_at = np.empty(c_count, dtype=argmax.dtype)       # and where it is
        for ph in range(ph_count):
            h0, h1 = hstart[r, ph], hend[r, ph]
            for pw in range(pw_count):
                w0, w1 = wstart[r, pw], wend[r, pw]
                if h1 <= h0 or w1 <= w0:                      # empty bin: 0, argmax -1
                    best[:] = 0
                    best_at[:] = -1
                else:
                    best[:] = image[h0, w0]
                    best_at[:] = h0 * width + w0
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        cell = image[h, w]                    # (C,)
                        for c in range(c_count):
                            value = cell[c]
                            wins = (value > best[c]) | (np.isnan(value) & (not np.isnan(best[c])))
                            # Selects rather than an `if`, so the compiler can vectorise the loop.
                            best[c] = value if wins else best[c]
                            best_at[c] = h * width + w if wins else best_at[c]
                for c in range(c_count):
                    out[r, c, ph, pw] = best[c]
                    argmax[r, c, ph, pw] = best_at[c]


# Channels per task of the parallel backward loop: enough tasks to keep both threads busy, and
# for each RoI a task reads a contiguous (16, PH, PW) block of dout and argmax.
_BACKWARD_CHANNEL_BLOCK = 16


@njit(parallel=True, cache=True)
def _roi_pool_backward(dout, batch_index, argmax, n_count, height, width, channel_block):
    """dout, argmax: (R, C, PH, PW); batch_index: (R,). Returns dfeatures: (N, C, H, W).

    dfeatures[b, c].flat[argmax[r, c, ph, pw]] += dout[r, c, ph, pw] for every non-empty bin.

    Parallel over blocks of channels: the thread that owns channels c0..c1 makes every addition
    into the planes dfeatures[:, c0:c1], so no cell is ever written by two threads. Within a
    channel the additions come in the order RoI, then ph, then pw, the order of the reference's
    np.add.at, so float32 sums agree bit for bit.

    Why blocks, with the RoI loop outside the channel loop: dout[r, c0:c1] is one contiguous piece
    of memory, so each RoI costs a few sequential reads. One channel at a time over all the RoIs
    instead jumps C*PH*PW elements from one RoI to the next (100 KB for 512 channels of 7x7
    bins), touching a new memory page for every 196 bytes read. (Measured with 2000 RoIs, this
    and the int32 argmax together: backward 154 ms -> 65-90 ms.)
    The order of the additions into any one cell is the same either way.
    """
    r_count, c_count, ph_count, pw_count = dout.shape
    dfeatures = np.empty((n_count, c_count, height, width), dtype=dout.dtype)
    block_count = (c_count + channel_block - 1) // channel_block
    for block in prange(block_count):
        c0 = block * channel_block
        c1 = min(c0 + channel_block, c_count)
        dfeatures[:, c0:c1] = 0                 # zeroed by the thread that will add into it
        for r in range(r_count):
            b = batch_index[r]
            for c in range(c0, c1):
                plane = dfeatures[b, c]
                for ph in range(ph_count):
                    for pw in range(pw_count):
                        k = argmax[r, c, ph, pw]
                        if k >= 0:
                            plane[k // width, k % width] += dout[r, c, ph, pw]
    return dfeatures


def roi_pool_forward(features, rois, output_size=(7, 7), spatial_scale=1 / 16):
    """Max-pool every RoI to a fixed PH x PW grid.

    features: (N, C, H, W); rois: (R, 5) as (batch_index, x1, y1, x2, y2) in input-image pixels;
    output_size: (PH, PW) or an int; spatial_scale: feature cells per image pixel.
    Returns out: (R, C, PH, PW) in the features' dtype, and a cache for roi_pool_backward of this
    module.
    """
    output_size, spatial_scale = check_roi_pool_inputs(features, rois, output_size, spatial_scale)
    _, _, height, width = features.shape
    # The reference's bins, computed by the reference's code: identical by construction.
    hstart, hend, wstart, wend = roi_bins(rois, spatial_scale, output_size, height, width,
                                          features.dtype)
    batch_index = rois[:, 0].astype(np.int64)
    features_hwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))    # (N, H, W, C)
    shape = (len(rois), features.shape[1]) + tuple(output_size)            # (R, C, PH, PW)
    # Allocated here, not inside the kernel: NumPy asks the kernel for huge pages for large arrays
    # (madvise), Numba's allocator does not. With 2000 RoIs out is 200 MB, and faulting it in
    # 4 KB page by page cost more than the pooling itself.
    out = np.empty(shape, dtype=features.dtype)
    # argmax is private to this module: int32 whenever a plane's flat index fits, half the memory
    # of int64 (another 200 MB less to write and read back with 2000 RoIs).
    index_type = np.int32 if height * width <= np.iinfo(np.int32).max else np.int64
    argmax = np.empty(shape, dtype=index_type)
    _roi_pool_forward(features_hwc, batch_index, hstart, hend, wstart, wend, out, argmax)
    return out, (features.shape, features.dtype, batch_index, argmax)


def roi_pool_backward(dout, cache):
    """dout: (R, C, PH, PW). Returns dfeatures: (N, C, H, W) in the features' dtype."""
    features_shape, dtype, batch_index, argmax = cache
    dout = np.ascontiguousarray(check_dout(dout, argmax.shape, dtype))
    n, _, height, width = features_shape
    return _roi_pool_backward(dout, batch_index, argmax, n, height, width,
                              _BACKWARD_CHANNEL_BLOCK)
