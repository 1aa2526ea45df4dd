"""A deliberately simple RoI max pooling: the yardstick the tests hold the layer against.

Written straight from the "RoI pooling" section of fast-rcnn-spec.md, as plain Python loops over
RoIs, channels, bins and cells, one NumPy scalar at a time, and sharing no code with
minifrcnn/layers/roi_pool.py. It is slow on purpose: every step can be read off the spec.

Every piece of arithmetic is done with scalars of the features' dtype (`dt`), as Caffe and
torchvision do it: `dt(x1) * dt(spatial_scale)`, `dt(roi_h) / dt(PH)`, `dt(ph) * bin_h`. Python
ints and floats never enter a product, so float32 features really get float32 bins.
"""

import math
from fractions import Fraction

import numpy as np


def c_round(value):
    """C's round() of one floating-point number: halves go away from zero (2.5 -> 3, -0.5 -> -1).

    Worked out exactly: Fraction(value) is the number's exact binary value, and adding 1/2 to a
    Fraction cannot round, so floor(|v| + 1/2) is the true answer. Returns a Python int.
    """
    exact = Fraction(float(value))
    magnitude = math.floor(abs(exact) + Fraction(1, 2))
    return magnitude if exact >= 0 else -magnitude


def naive_bin_edges(start, end, count, limit, dt):
    """The `count` bins of one axis of a RoI that covers cells start..end (inclusive) after
    projection, on an axis of `limit` cells. Returns a list of (first, past_last) cell indices,
    clipped to [0, limit]; a bin with past_last <= first is empty."""
    size = max(end - start + 1, 1)
    bin_size = dt(size) / dt(count)
    edges = []
    for p in range(count):
        first = start + math.floor(float(dt(p) * bin_size))
        past_last = start + math.ceil(float(dt(p + 1) * bin_size))
        edges.append((min(max(first, 0), limit), min(max(past_last, 0), limit)))
    return edges


def naive_roi_bins(roi, spatial_scale, output_size, height, width, dt):
    """Row bins and column bins of one RoI (batch_index, x1, y1, x2, y2) in image pixels."""
    ph_count, pw_count = output_size
    scale = dt(spatial_scale)
    x1, y1, x2, y2 = (dt(v) for v in roi[1:])
    xs, ys = c_round(x1 * scale), c_round(y1 * scale)
    xe, ye = c_round(x2 * scale), c_round(y2 * scale)
    rows = naive_bin_edges(ys, ye, ph_count, height, dt)
    cols = naive_bin_edges(xs, xe, pw_count, width, dt)
    return rows, cols


def naive_roi_pool_forward(features, rois, output_size, spatial_scale):
    """features: (N, C, H, W); rois: (R, 5); output_size: (PH, PW).

    Returns out: (R, C, PH, PW) in the features' dtype, and a cache holding argmax:
    (R, C, PH, PW), the flat index h * W + w of each bin's winner, -1 for an empty bin.
    """
    dt = features.dtype.type
    _, channels, height, width = features.shape
    ph_count, pw_count = output_size
    roi_count = len(rois)
    out = np.zeros((roi_count, channels, ph_count, pw_count), dtype=features.dtype)
    argmax = np.full((roi_count, channels, ph_count, pw_count), -1, dtype=np.int64)
    batch_index = [int(roi[0]) for roi in rois]
    for r in range(roi_count):
        rows, cols = naive_roi_bins(rois[r], spatial_scale, output_size, height, width, dt)
        image = features[batch_index[r]]
        for c in range(channels):
            for ph, (h0, h1) in enumerate(rows):
                for pw, (w0, w1) in enumerate(cols):
                    if h1 <= h0 or w1 <= w0:
                        continue                       # empty bin: output 0, argmax -1
                    best, best_at = dt(-np.inf), -1
                    for h in range(h0, h1):            # row-major scan, strict '>':
                        for w in range(w0, w1):        # a tie keeps the earlier cell
                            if image[c, h, w] > best:
                                best, best_at = image[c, h, w], h * width + w
                    out[r, c, ph, pw] = best
                    argmax[r, c, ph, pw] = best_at
    return out, (features.shape, features.dtype, batch_index, argmax)


def naive_roi_pool_backward(dout, cache):
    """dout: (R, C, PH, PW). Returns dfeatures: (N, C, H, W): every non-empty bin adds its
    gradient to the cell that won it, one addition at a time, in the order r, c, ph, pw."""
    shape, dtype, batch_index, argmax = cache
    dt = dtype.type
    width = shape[3]
    dfeatures = np.zeros(shape, dtype=dtype)
    roi_count, channels, ph_count, pw_count = argmax.shape
    for r in range(roi_count):
        for c in range(channels):
            for ph in range(ph_count):
                for pw in range(pw_count):
                    winner = argmax[r, c, ph, pw]
                    if winner >= 0:
                        h, w = divmod(int(winner), width)
                        dfeatures[batch_index[r], c, h, w] += dt(dout[r, c, ph, pw])
    return dfeatures
