"""RoI max pooling (paper section 2.1), with the exact semantics of Caffe's RoIPoolingLayer and
`torchvision.ops.roi_pool`.

Each region of interest, given in image pixels, is projected onto the feature map, cut into a
PH x PW grid of bins, and max-pooled per bin and channel, so regions of any size come out as the
same (C, PH, PW) block that fc6 needs. Step by step, for a RoI (b, x1, y1, x2, y2):

1. Project with C's round (half away from zero), in the features' dtype:
       xs = round(x1 * s), ys = round(y1 * s), xe = round(x2 * s), ye = round(y2 * s)
2. Size at least one cell:  roi_w = max(xe - xs + 1, 1),  roi_h = max(ye - ys + 1, 1)
3. Bin size, a fraction:    bin_w = roi_w / PW,  bin_h = roi_h / PH
4. Bin (ph, pw) covers rows  [ys + floor(ph * bin_h), ys + ceil((ph + 1) * bin_h))  and the
   columns likewise, clipped to the map. Bins may overlap by a cell, or be empty once clipped.
5. Max over each bin (ties: the first cell in row-major order); an empty bin gives 0.

Backward: each non-empty bin sends its gradient to the cell that won its max. A cell that won
several bins, or in several RoIs, receives the sum. This is the path by which the detection loss
trains the conv layers.
"""

import numpy as np

from ._checks import check_array, check_dout, check_pair, check_positive_number


def round_half_away(v):
    """C's round(): halves go away from zero (2.5 -> 3, -2.5 -> -3), unlike np.round (2.5 -> 2).

    Computed exactly in v's dtype: v - trunc(v) is exact in floating point, so the comparison with
    0.5 sees the true fraction. (floor(|v| + 0.5) can round up in the addition itself: in float32
    0.49999997 + 0.5 becomes 1.0.)
    """
    whole = np.trunc(v)
    return whole + np.sign(v) * (np.abs(v - whole) >= 0.5)


def roi_bins(rois, spatial_scale, output_size, height, width, dtype):
    """The bin boundaries of every RoI on a height x width feature map.

    rois: (R, 5). Returns hstart, hend: (R, PH) and wstart, wend: (R, PW), integer cell indices
    (end exclusive, already clipped to the map): bin (ph, pw) of RoI r is
    rows hstart[r, ph]:hend[r, ph] and columns wstart[r, pw]:wend[r, pw].

    All arithmetic is in `dtype` (the features' dtype), as Caffe and torchvision do it: for
    PH = 7, some RoI heights end their last bin one cell differently in float32 than in float64.
    """
    ph_count, pw_count = output_size
    coords = rois[:, 1:].astype(dtype)
    scale = np.asarray(spatial_scale, dtype=dtype)
    xs, ys, xe, ye = (round_half_away(coords[:, k] * scale).astype(np.int64) for k in range(4))
    roi_w = np.maximum(xe - xs + 1, 1)
    roi_h = np.maximum(ye - ys + 1, 1)
    bin_h = roi_h.astype(dtype) / dtype.type(ph_count)    # (R,)
    bin_w = roi_w.astype(dtype) / dtype.type(pw_count)

    def edges(start, bin_size, count, limit):
        k = np.arange(count, dtype=dtype)
        lo = np.floor(k * bin_size[:, None]).astype(np.int64) + start[:, None]
        hi = np.ceil((k + 1) * bin_size[:, None]).astype(np.int64) + start[:, None]
        return np.clip(lo, 0, limit), np.clip(hi, 0, limit)

    hstart, hend = edges(ys, bin_h, ph_count, height)
    wstart, wend = edges(xs, bin_w, pw_count, width)
    return hstart, hend, wstart, wend


def _check_rois(rois, batch_size):
    if not isinstance(rois, np.ndarray) or rois.ndim != 2 or rois.shape[1] != 5:
        got = rois.shape if isinstance(rois, np.ndarray) else type(rois).__name__
        raise ValueError(f"rois must have shape (R, 5) as (batch_index, x1, y1, x2, y2), got {got}")
    if not (np.issubdtype(rois.dtype, np.floating) or np.issubdtype(rois.dtype, np.integer)):
        raise ValueError(f"rois must be numbers, got dtype {rois.dtype}")
    if not np.all(np.isfinite(rois)):
        r = int(np.argwhere(~np.isfinite(rois))[0, 0])
        raise ValueError(f"rois must be finite, row {r} is {rois[r].tolist()}")
    index = rois[:, 0]
    bad = (index != np.round(index)) | (index < 0) | (index >= batch_size)
    if np.any(bad):
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"rois[:, 0] must be an image index in [0, {batch_size - 1}] for a batch of "
            f"{batch_size}, row {r} has {index[r]!r}"
        )


def check_roi_pool_inputs(features, rois, output_size, spatial_scale):
    """The argument checks of roi_pool_forward, shared with its Numba and CUDA twins (which pass
    a stand-in with the shape and dtype of device features). Returns output_size as (PH, PW) and
    spatial_scale as a float."""
    check_array("features", features, 4, "(N, C, H, W)")
    _check_rois(rois, features.shape[0])
    output_size = check_pair("output_size", output_size)
    spatial_scale = check_positive_number("spatial_scale", spatial_scale)
    # Projected coordinates become integer cell indices: refuse ones too large for that (they
    # would overflow, or turn into inf in float32) instead of pooling a silently wrong region.
    with np.errstate(over="ignore"):
        projected = np.abs(rois[:, 1:].astype(features.dtype) * features.dtype.type(spatial_scale))
    if rois.shape[0] and not projected.max() < 2**24:
        r = int(np.argwhere(~(projected < 2**24))[0, 0])
        raise ValueError(
            f"rois row {r} {rois[r].tolist()} lies too far away: coordinates times spatial_scale "
            f"must stay below 2**24 in magnitude"
        )
    return output_size, spatial_scale


def roi_pool_forward(features, rois, output_size=(7, 7), spatial_scale=1 / 16):
    """Max-pool every RoI to a fixed PH x PW grid.

    features: (N, C, H, W); rois: (R, 5) as (batch_index, x1, y1, x2, y2) in input-image pixels,
    0-based inclusive; output_size: (PH, PW) or an int; spatial_scale: feature cells per image
    pixel (1/16 after VGG16's four 2x2 max-pools).

    Returns out: (R, C, PH, PW) in the features' dtype, and a cache holding argmax: (R, C, PH, PW),
    the flat index h * W + w of each bin's winning cell in its (H, W) plane, -1 for an empty bin.
    """
    output_size, spatial_scale = check_roi_pool_inputs(features, rois, output_size, spatial_scale)
    n, c, h, w = features.shape
    ph_count, pw_count = output_size
    r_count = rois.shape[0]
    hstart, hend, wstart, wend = roi_bins(rois, spatial_scale, output_size, h, w, features.dtype)
    batch_index = rois[:, 0].astype(np.int64)

    out = np.zeros((r_count, c, ph_count, pw_count), dtype=features.dtype)
    argmax = np.full((r_count, c, ph_count, pw_count), -1, dtype=np.int64)
    channels = np.arange(c)
    for r in range(r_count):
        plane = features[batch_index[r]]                       # (C, H, W)
        for ph in range(ph_count):
            h0, h1 = hstart[r, ph], hend[r, ph]
            for pw in range(pw_count):
                w0, w1 = wstart[r, pw], wend[r, pw]
                if h1 <= h0 or w1 <= w0:
                    continue                                   # empty bin: 0, argmax -1
                window = plane[:, h0:h1, w0:w1].reshape(c, -1)  # (C, cells), row-major
                k = window.argmax(axis=1)                      # first maximum: ties go to the first cell
                out[r, :, ph, pw] = window[channels, k]
                bin_width = w1 - w0
                argmax[r, :, ph, pw] = (h0 + k // bin_width) * w + (w0 + k % bin_width)
    return out, (features.shape, features.dtype, batch_index, argmax)


def roi_pool_backward(dout, cache):
    """dout: (R, C, PH, PW). Returns dfeatures: (N, C, H, W).

    dfeatures[b, c].flat[argmax[r, c, ph, pw]] += dout[r, c, ph, pw] for every non-empty bin,
    summed over bins and RoIs.
    """
    features_shape, dtype, batch_index, argmax = cache
    dout = check_dout(dout, argmax.shape, dtype)
    n, c, h, w = features_shape
    dfeatures = np.zeros(features_shape, dtype=dtype)
    # Flat index of the winning cell in the whole (N, C, H, W) array.
    plane = batch_index[:, None, None, None] * c + np.arange(c)[None, :, None, None]
    flat = plane * (h * w) + argmax
    won = argmax >= 0
    # np.add.at adds repeated indices one after another (a plain fancy-index `+=` would keep only
    # one of them), in the order (r, c, ph, pw): a fixed order, so float32 sums are reproducible.
    np.add.at(dfeatures.reshape(-1), flat[won], dout[won])
    return dfeatures
