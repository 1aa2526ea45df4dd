"""roi_pool_forward(features, rois, output_size, spatial_scale) -> (out, cache): features
(N, C, H, W), rois (R, 5) as (batch_index, x1, y1, x2, y2), out (R, C, PH, PW);
roi_pool_backward(dout, cache) -> dfeatures (N, C, H, W).

The semantics (minifrcnn/layers/roi_pool.py): project with C's round (half away from zero) in the
features' dtype; roi size max(end - start + 1, 1); bin k covers [start + floor(k * size / P),
start + ceil((k + 1) * size / P)) clipped to the map, arithmetic in the features' dtype; max with
ties to the first cell in row-major order, 0 for an empty bin; the backward pass adds each bin's
gradient to its winning cell."""

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from exercise_bank import Mutant

EXERCISE = "roi_pool"


def _pair(output_size):
    if isinstance(output_size, (int, np.integer)):
        return int(output_size), int(output_size)
    return int(output_size[0]), int(output_size[1])


# ---- correct alternative 1: loops over every cell, Python scalars ---------------------------

def round_half_up_decimal(v):
    """C's round: Decimal holds the float exactly, and its ROUND_HALF_UP goes away from zero."""
    return int(Decimal(float(v)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _bin_edges_dtype(start, size, count, k, dt):
    """Bin k of `count` over `size` cells from `start`, its fractions in the dtype dt."""
    bin_size = dt(size) / dt(count)
    lo = start + int(np.floor(dt(k) * bin_size))
    hi = start + int(np.ceil(dt(k + 1) * bin_size))
    return lo, hi


def _bin_edges_int_division(start, size, count, k, dt):
    bin_size = size // count
    return start + k * bin_size, start + (k + 1) * bin_size


def _bin_edges_float64(start, size, count, k, dt):
    bin_size = size / count
    return start + math.floor(k * bin_size), start + math.ceil((k + 1) * bin_size)


def _project_dtype(coord, scale, dt, round_fn):
    return round_fn(dt(coord) * dt(scale))


def _project_float64(coord, scale, dt, round_fn):
    return round_fn(float(coord) * float(scale))


def _make_loops(round_fn=round_half_up_decimal, project=_project_dtype, edges=_bin_edges_dtype,
                min_one=True, plus_one=True, clip=True, swap_xy=False, ties_first=True,
                use_batch_index=True, empty_value=0.0):
    """A forward pass written with loops; each keyword is one place a student can go wrong."""

    def roi_pool_forward(features, rois, output_size, spatial_scale):
        n, c, h, w = features.shape
        ph_count, pw_count = _pair(output_size)
        dt = features.dtype.type
        out = np.zeros((len(rois), c, ph_count, pw_count), dtype=features.dtype)
        winners = []                               # (r, channel, ph, pw, b, y, x)
        for r, (b, x1, y1, x2, y2) in enumerate(rois):
            if swap_xy:
                x1, y1, x2, y2 = y1, x1, y2, x2
            b = int(b) if use_batch_index else 0
            xs, ys, xe, ye = (project(v, spatial_scale, dt, round_fn) for v in (x1, y1, x2, y2))
            extra = 1 if plus_one else 0
            roi_w, roi_h = xe - xs + extra, ye - ys + extra
            if min_one:
                roi_w, roi_h = max(roi_w, 1), max(roi_h, 1)
            for ph in range(ph_count):
                h0, h1 = edges(ys, roi_h, ph_count, ph, dt)
                if clip:
                    h0, h1 = min(max(h0, 0), h), min(max(h1, 0), h)
                for pw in range(pw_count):
                    w0, w1 = edges(xs, roi_w, pw_count, pw, dt)
                    if clip:
                        w0, w1 = min(max(w0, 0), w), min(max(w1, 0), w)
                    for ch in range(c):
                        best, where = None, None
                        for y in range(h0, h1):
                            for x in range(w0, w1):
                                v = features[b, ch, y, x]
                                if best is None or v > best or (not ties_first and v == best):
                                    best, where = v, (y, x)
                        if where is None:
                            out[r, ch, ph, pw] = empty_value
                        else:
                            out[r, ch, ph, pw] = best
                            winners.append((r, ch, ph, pw, b) + where)
        return out, (features.shape, features.dtype, winners)

    return roi_pool_forward


def _make_loops_backward(accumulate=True):
    def roi_pool_backward(dout, cache):
        shape, dtype, winners = cache
        dfeatures = np.zeros(shape, dtype=dtype)
        for r, ch, ph, pw, b, y, x in winners:
            if accumulate:
                dfeatures[b, ch, y, x] += dout[r, ch, ph, pw]
            else:
                dfeatures[b, ch, y, x] = dout[r, ch, ph, pw]
        return dfeatures

    return roi_pool_backward


roi_pool_forward_loops = _make_loops()
roi_pool_backward_loops = _make_loops_backward()


# ---- correct alternative 2: bin edges as arrays, one masked argmax per bin ------------------

def round_half_away_rint(v):
    """np.rint rounds halves to even; the exact halves are then pushed away from zero."""
    whole = np.trunc(v)
    tie = np.abs(v - whole) == 0.5
    return np.where(tie, whole + np.sign(v), np.rint(v))


def roi_pool_forward_masks(features, rois, output_size, spatial_scale):
    n, c, h, w = features.shape
    ph_count, pw_count = _pair(output_size)
    dt = features.dtype
    boxes = round_half_away_rint(rois[:, 1:].astype(dt) * dt.type(spatial_scale)).astype(int)
    sizes = np.maximum(boxes[:, 2:] - boxes[:, :2] + 1, 1)              # (R, 2): roi_w, roi_h
    bin_w = sizes[:, 0].astype(dt) / dt.type(pw_count)
    bin_h = sizes[:, 1].astype(dt) / dt.type(ph_count)
    kw = np.arange(pw_count, dtype=dt)
    kh = np.arange(ph_count, dtype=dt)
    w_lo = np.clip(boxes[:, :1] + np.floor(kw * bin_w[:, None]).astype(int), 0, w)
    w_hi = np.clip(boxes[:, :1] + np.ceil((kw + 1) * bin_w[:, None]).astype(int), 0, w)
    h_lo = np.clip(boxes[:, 1:2] + np.floor(kh * bin_h[:, None]).astype(int), 0, h)
    h_hi = np.clip(boxes[:, 1:2] + np.ceil((kh + 1) * bin_h[:, None]).astype(int), 0, h)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]

    out = np.zeros((len(rois), c, ph_count, pw_count), dtype=dt)
    argmax = np.full(out.shape, -1)
    for r in range(len(rois)):
        plane = features[int(rois[r, 0])].reshape(c, h * w)
        for i in range(ph_count):
            for j in range(pw_count):
                inside = ((rows >= h_lo[r, i]) & (rows < h_hi[r, i])
                          & (cols >= w_lo[r, j]) & (cols < w_hi[r, j])).ravel()
                if not inside.any():
                    continue
                masked = np.where(inside, plane, -np.inf)
                k = masked.argmax(axis=1)            # row-major flat order: the first maximum
                out[r, :, i, j] = plane[np.arange(c), k]
                argmax[r, :, i, j] = k
    return out, {"shape": features.shape, "batch": rois[:, 0].astype(int), "argmax": argmax}


def roi_pool_backward_masks(dout, cache):
    n, c, h, w = cache["shape"]
    dfeatures = np.zeros((n, c, h * w), dtype=dout.dtype)
    argmax = cache["argmax"]
    for r, b in enumerate(cache["batch"]):
        for ch in range(c):
            won = argmax[r, ch] >= 0
            np.add.at(dfeatures[b, ch], argmax[r, ch][won], dout[r, ch][won])
    return dfeatures.reshape(n, c, h, w)


CORRECT = {
    "loops": (roi_pool_forward_loops, roi_pool_backward_loops),
    "masked_argmax": (roi_pool_forward_masks, roi_pool_backward_masks),
}


# ---- mutants --------------------------------------------------------------------------------

def round_floor(v):
    return math.floor(v)


def round_bankers(v):
    return int(np.round(v))


def round_floor_plus_half(v):
    """floor(v + 0.5) in v's own dtype: the addition itself can round up (0.49999997f + 0.5f)."""
    half = type(v)(0.5)
    return int(np.floor(v + half)) if v >= 0 else int(np.ceil(v - half))


MUTANTS = {
    "floor_projection": Mutant((_make_loops(round_fn=round_floor), roi_pool_backward_loops),
                               "floor instead of round when projecting the RoI onto the map"),
    "bankers_rounding": Mutant((_make_loops(round_fn=round_bankers), roi_pool_backward_loops),
                               "np.round (halves to even) instead of C's round half away "
                               "from zero"),
    "no_min_one": Mutant((_make_loops(min_one=False), roi_pool_backward_loops),
                         "roi size xe - xs + 1 without max(..., 1): an end-before-start RoI "
                         "pools nothing"),
    "no_plus_one": Mutant((_make_loops(plus_one=False), roi_pool_backward_loops),
                          "roi size max(xe - xs, 1) without the + 1 of inclusive corners"),
    "integer_division_bins": Mutant((_make_loops(edges=_bin_edges_int_division),
                                     roi_pool_backward_loops),
                                    "bin size roi_h // PH and bins [k b, (k+1) b) instead of "
                                    "floor/ceil of fractions"),
    "no_clip": Mutant((_make_loops(clip=False), roi_pool_backward_loops),
                      "bins not clipped to the map: negative rows wrap around, rows past the "
                      "edge raise IndexError"),
    "backward_assign": Mutant((roi_pool_forward_loops, _make_loops_backward(accumulate=False)),
                              "dfeatures[cell] = instead of += : a cell winning two bins or two "
                              "RoIs keeps one gradient"),
    "swapped_xy": Mutant((_make_loops(swap_xy=True), roi_pool_backward_loops),
                         "rois read as (b, y1, x1, y2, x2)"),
    "ties_last_cell": Mutant((_make_loops(ties_first=False), roi_pool_backward_loops),
                             ">= in the scan: on ties the last cell wins, not the first"),
    "ignores_batch_index": Mutant((_make_loops(use_batch_index=False), roi_pool_backward_loops),
                                  "every RoI pooled from image 0, rois[:, 0] ignored"),
    "empty_bin_minus_inf": Mutant((_make_loops(empty_value=-np.inf), roi_pool_backward_loops),
                                  "an empty bin left at the running max's start value -inf "
                                  "instead of 0"),
}

# Wrong, but only on rare inputs that a random checker is unlikely to draw (see the witnesses in
# the report of the bank): the float32 rounding of the bin and projection arithmetic.
SUBTLE = {
    "float64_arithmetic": Mutant((_make_loops(project=_project_float64, edges=_bin_edges_float64),
                                  roi_pool_backward_loops),
                                 "projection and bins computed in float64 for float32 features"),
    "floor_plus_half": Mutant((_make_loops(round_fn=round_floor_plus_half),
                               roi_pool_backward_loops),
                              "round as floor(v + 0.5) in the features' dtype: 0.49999997f + 0.5f "
                              "rounds up to 1"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'floor_projection':       'out',
    'bankers_rounding':       'out',
    'no_min_one':             'out',
    'no_plus_one':            'out',
    'integer_division_bins':  'out',
    'no_clip':                'runs',
    'backward_assign':        'dfeatures',
    'swapped_xy':             'out',
    'ties_last_cell':         'dfeatures',
    'ignores_batch_index':    'out',
    'empty_bin_minus_inf':    'out',
}
