"""Exercise encode_decode: encode(rois, gt) -> (R, 4) deltas; decode(rois, deltas) -> (R, 4k) boxes.

Inclusive corners: w = x2 - x1 + 1, cx = x1 + 0.5 w (y and h likewise).
encode: tx = (Gcx - Pcx) / Pw, ty = (Gcy - Pcy) / Ph, tw = log(Gw / Pw), th = log(Gh / Ph), in
the rois' floating dtype. decode: one (tx, ty, tw, th) group per class, each applied to the same
RoI, tw and th clamped at log(1000 / 16) first: w' = Pw exp(tw), cx' = Pcx + tx Pw,
x1 = cx' - 0.5 w', x2 = cx' + 0.5 w' - 1; in the deltas' dtype."""

import math

import numpy as np

from exercise_bank import Mutant

EXERCISE = "encode_decode"

CLAMP = math.log(1000.0 / 16)


def _float_dtype(a):
    return a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float64)


# --- centre and size, groups as a (R, k, 4) view ---------------------------------------------

def _centre_size(boxes):
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_centre(rois, gt):
    rois = np.asarray(rois)
    dtype = _float_dtype(rois)
    px, py, pw, ph = _centre_size(rois.astype(dtype))
    gx, gy, gw, gh = _centre_size(np.asarray(gt).astype(dtype))
    return np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], axis=1)


def decode_centre(rois, deltas):
    deltas = np.asarray(deltas)
    dtype = deltas.dtype
    t = deltas.reshape(len(deltas), deltas.shape[1] // 4, 4)      # (R, k, 4)
    px, py, pw, ph = (v[:, None] for v in _centre_size(np.asarray(rois).astype(dtype)))
    cx = px + t[:, :, 0] * pw
    cy = py + t[:, :, 1] * ph
    w = pw * np.exp(np.minimum(t[:, :, 2], dtype.type(CLAMP)))
    h = ph * np.exp(np.minimum(t[:, :, 3], dtype.type(CLAMP)))
    out = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w - 1, cy + 0.5 * h - 1], axis=2)
    return out.reshape(deltas.shape).astype(dtype)


# --- midpoints (x1 + x2) / 2 and every 4th column; the half pixels cancel ----------------------

def encode_midpoint(rois, gt):
    rois = np.asarray(rois)
    dtype = _float_dtype(rois)
    p = rois.astype(dtype)
    g = np.asarray(gt).astype(dtype)
    pw, ph = p[:, 2] - p[:, 0] + 1, p[:, 3] - p[:, 1] + 1
    gw, gh = g[:, 2] - g[:, 0] + 1, g[:, 3] - g[:, 1] + 1
    out = np.empty((len(p), 4), dtype)
    out[:, 0] = ((g[:, 0] + g[:, 2]) / 2 - (p[:, 0] + p[:, 2]) / 2) / pw
    out[:, 1] = ((g[:, 1] + g[:, 3]) / 2 - (p[:, 1] + p[:, 3]) / 2) / ph
    out[:, 2] = np.log(gw / pw)
    out[:, 3] = np.log(gh / ph)
    return out


def decode_midpoint(rois, deltas):
    deltas = np.asarray(deltas)
    p = np.asarray(rois).astype(deltas.dtype)
    pw = (p[:, 2] - p[:, 0] + 1)[:, None]
    ph = (p[:, 3] - p[:, 1] + 1)[:, None]
    mx = ((p[:, 0] + p[:, 2]) / 2)[:, None]
    my = ((p[:, 1] + p[:, 3]) / 2)[:, None]
    tw = np.clip(deltas[:, 2::4], None, CLAMP).astype(deltas.dtype)
    th = np.clip(deltas[:, 3::4], None, CLAMP).astype(deltas.dtype)
    cx = mx + deltas[:, 0::4] * pw
    cy = my + deltas[:, 1::4] * ph
    half_w = (pw * np.exp(tw) - 1) / 2
    half_h = (ph * np.exp(th) - 1) / 2
    out = np.empty_like(deltas)
    out[:, 0::4] = cx - half_w
    out[:, 1::4] = cy - half_h
    out[:, 2::4] = cx + half_w
    out[:, 3::4] = cy + half_h
    return out


# --- plain Python per box, in Python floats, cast back at the end ------------------------------

def encode_loops(rois, gt):
    rois = np.asarray(rois)
    out = np.zeros((len(rois), 4), _float_dtype(rois))
    for r, (p, g) in enumerate(zip(rois.tolist(), np.asarray(gt).tolist())):
        pw, ph = p[2] - p[0] + 1.0, p[3] - p[1] + 1.0
        gw, gh = g[2] - g[0] + 1.0, g[3] - g[1] + 1.0
        out[r] = [(g[0] + gw / 2 - p[0] - pw / 2) / pw, (g[1] + gh / 2 - p[1] - ph / 2) / ph,
                  math.log(gw / pw), math.log(gh / ph)]
    return out


def decode_loops(rois, deltas):
    deltas = np.asarray(deltas)
    out = np.zeros_like(deltas)
    for r, p in enumerate(np.asarray(rois).astype(deltas.dtype).tolist()):
        pw, ph = p[2] - p[0] + 1.0, p[3] - p[1] + 1.0
        pcx, pcy = p[0] + pw / 2, p[1] + ph / 2
        for c in range(deltas.shape[1] // 4):
            tx, ty, tw, th = deltas[r, 4 * c:4 * c + 4].tolist()
            w = pw * math.exp(min(tw, CLAMP))
            h = ph * math.exp(min(th, CLAMP))
            cx, cy = pcx + tx * pw, pcy + ty * ph
            out[r, 4 * c:4 * c + 4] = [cx - w / 2, cy - h / 2, cx + w / 2 - 1, cy + h / 2 - 1]
    return out


# --- mutants: the centre/size version with one switch turned the wrong way ---------------------

def _mutant_encode(plus_one=1, half=0.5, flip_log=False, divide_by_gt=False, keep_dtype=True):
    def encode(rois, gt):
        rois = np.asarray(rois)
        dtype = _float_dtype(rois) if keep_dtype else np.dtype(np.float64)
        p = rois.astype(dtype)
        g = np.asarray(gt).astype(dtype)
        pw, ph = p[:, 2] - p[:, 0] + plus_one, p[:, 3] - p[:, 1] + plus_one
        gw, gh = g[:, 2] - g[:, 0] + plus_one, g[:, 3] - g[:, 1] + plus_one
        px, py = p[:, 0] + half * pw, p[:, 1] + half * ph
        gx, gy = g[:, 0] + half * gw, g[:, 1] + half * gh
        sx, sy = (gw, gh) if divide_by_gt else (pw, ph)
        tw, th = (np.log(pw / gw), np.log(ph / gh)) if flip_log else (np.log(gw / pw),
                                                                     np.log(gh / ph))
        return np.stack([(gx - px) / sx, (gy - py) / sy, tw, th], axis=1)

    return encode


def _mutant_decode(plus_one=1, half=0.5, minus_one=1, clamp="max", groups="class_major"):
    def decode(rois, deltas):
        deltas = np.asarray(deltas)
        dtype = deltas.dtype
        p = np.asarray(rois).astype(dtype)
        pw, ph = p[:, 2] - p[:, 0] + plus_one, p[:, 3] - p[:, 1] + plus_one
        px, py = p[:, 0] + half * pw, p[:, 1] + half * ph
        if groups == "single":
            t = deltas[:, None, :4]
        elif groups == "coordinate_major":
            t = deltas.reshape(len(deltas), 4, deltas.shape[1] // 4).transpose(0, 2, 1)
        else:
            t = deltas.reshape(len(deltas), deltas.shape[1] // 4, 4)
        tw, th = t[:, :, 2], t[:, :, 3]
        if clamp == "max":
            tw, th = np.minimum(tw, dtype.type(CLAMP)), np.minimum(th, dtype.type(CLAMP))
        elif clamp == "both":
            tw, th = np.clip(tw, -CLAMP, CLAMP), np.clip(th, -CLAMP, CLAMP)
        w = pw[:, None] * np.exp(tw)
        h = ph[:, None] * np.exp(th)
        cx = px[:, None] + t[:, :, 0] * pw[:, None]
        cy = py[:, None] + t[:, :, 1] * ph[:, None]
        out = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w - minus_one,
                        cy + 0.5 * h - minus_one], axis=2)
        return out.reshape(len(deltas), 4 * t.shape[1]).astype(dtype)

    return decode


CORRECT = {
    "centre_size": (encode_centre, decode_centre),
    "midpoint_columns": (encode_midpoint, decode_midpoint),
    "loops": (encode_loops, decode_loops),
}

MUTANTS = {
    "no_plus_one": Mutant((_mutant_encode(plus_one=0), _mutant_decode(plus_one=0)),
                          "widths and heights x2 - x1 without the + 1, in encode and decode"),
    "centre_without_half": Mutant((_mutant_encode(half=1.0), _mutant_decode(half=1.0)),
                                  "centre x1 + w instead of x1 + 0.5 w, in encode and decode"),
    "x2_without_minus_one": Mutant((encode_centre, _mutant_decode(minus_one=0)),
                                   "decode's x2 = cx' + 0.5 w' without the - 1 (y2 likewise)"),
    "no_clamp": Mutant((encode_centre, _mutant_decode(clamp="none")),
                       "exp(tw) without clamping tw at log(1000/16) first"),
    "clamp_both_ways": Mutant((encode_centre, _mutant_decode(clamp="both")),
                              "clips tw, th to [-log(1000/16), log(1000/16)]: shrinking is "
                              "clamped too"),
    "one_class_group": Mutant((encode_centre, _mutant_decode(groups="single")),
                              "decode reads only deltas[:, :4]: (R, 4) out for (R, 4k) deltas"),
    "coordinate_major_groups": Mutant((encode_centre, _mutant_decode(groups="coordinate_major")),
                                      "reshapes deltas to (R, 4, k): takes column c of every "
                                      "group instead of the 4 columns of class c"),
    "log_roi_over_gt": Mutant((_mutant_encode(flip_log=True), decode_centre),
                              "tw = log(Pw / Gw): the ratio upside down"),
    "divide_by_gt_size": Mutant((_mutant_encode(divide_by_gt=True), decode_centre),
                                "tx = (Gcx - Pcx) / Gw: divides by the ground truth's width"),
    "encode_float64": Mutant((_mutant_encode(keep_dtype=False), decode_centre),
                             "encode returns float64 for float32 rois"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'no_plus_one':              'decode',
    'centre_without_half':      'decode',
    'x2_without_minus_one':     'decode',
    'no_clamp':                 'decode',
    'clamp_both_ways':          'decode',
    'one_class_group':          'decode',
    'coordinate_major_groups':  'decode',
    'log_roi_over_gt':          'encode',
    'divide_by_gt_size':        'encode',
    'encode_float64':           'encode',
}
