"""The checks of the box exercises: iou, encode_decode and nms against minifrcnn.boxes, and
sample_rois judged by its properties (its draws are random, so no single answer is right)."""

import numpy as np
from hypothesis import strategies as st

from .. import boxes
from ..data.minibatch import BG_THRESHOLD_HI, FG_THRESHOLD
from .calls import Call, Entry, Rng
from .engine import Grader
from .judge import TOLERANCE, Case, Failure, compare, describe, unpack
from .layer_checks import DTYPES, SEEDS


def case_boxes(rng, count, size=20, max_side=12):
    """count integer boxes (count, 4) float64 with 0 <= x1 <= x2 < size + max_side: small, so that
    overlaps, shared edges and identical boxes are common."""
    x1 = rng.integers(0, size, count)
    y1 = rng.integers(0, size, count)
    return np.stack([x1, y1, x1 + rng.integers(0, max_side, count),
                     y1 + rng.integers(0, max_side, count)], axis=1).astype(np.float64)


# --- iou --------------------------------------------------------------------------------------

class Iou(Grader):
    exercise = "iou"
    properties = {"iou": "(A, B) float64 intersection over union, inclusive corners (width "
                         "x2 - x1 + 1)"}

    @staticmethod
    def make(a, b, label=""):
        return Case({"a": np.array(a, np.float64).reshape(-1, 4),
                     "b": np.array(b, np.float64).reshape(-1, 4)}, label)

    def edge_cases(self):
        m = self.make
        return [m([[0, 0, 9, 9]], [[9, 0, 18, 9]], "two 10x10 boxes sharing one pixel column"),
                m([[0, 0, 9, 9], [2, 2, 5, 5]], [[0, 0, 9, 9], [20, 20, 29, 29]],
                  "identical, contained and disjoint boxes"),
                m([[3, 3, 3, 3]], [[3, 3, 3, 3], [0, 0, 6, 6]], "a 1-pixel box"),
                m(np.zeros((0, 4)), [[0, 0, 4, 4]], "no boxes in a: a (0, B) result"),
                m([[0, 0, 4, 4]], np.zeros((0, 4)), "no boxes in b: an (A, 0) result")]

    def strategy(self):
        def build(seed, count_a, count_b, dtype):
            rng = np.random.default_rng(seed)
            case = self.make(case_boxes(rng, count_a), case_boxes(rng, count_b))
            for name in ("a", "b"):
                case.inputs[name] = case.inputs[name].astype(dtype)
            return case
        return st.builds(build, SEEDS, st.integers(0, 5), st.integers(0, 5), DTYPES)

    def calls(self, case):
        return [Call("iou", (case.inputs["a"], case.inputs["b"]), ("a", "b"))]

    def judge(self, case, values):
        got, failure = unpack(values[0], 1, "iou", ("overlaps",))
        if failure:
            return failure
        a, b = case.inputs["a"], case.inputs["b"]

        def hint(actual, expected):
            # Exclusive corners compute every box one pixel narrower and shorter.
            narrower = boxes.iou(a - [0, 0, 1, 1], b - [0, 0, 1, 1])
            if actual.shape == expected.shape and np.allclose(actual, narrower, equal_nan=True):
                return ("corners are inclusive: a box's width is x2 - x1 + 1, and the "
                        "intersection's too.")
            return ""

        return compare("iou", got[0], boxes.iou(a, b), dtype=np.float64, tol=1e-9, hint=hint)


# --- encode_decode ----------------------------------------------------------------------------

class EncodeDecode(Grader):
    exercise = "encode_decode"
    properties = {"encode": "(tx, ty, tw, th) that move each RoI onto its box",
                  "decode": "the boxes the deltas describe, one group of 4 per class"}

    @staticmethod
    def make(seed, rows, groups, dtype, scale, label=""):
        rng = np.random.default_rng(seed)
        rois = case_boxes(rng, rows).astype(dtype)
        gt = case_boxes(rng, rows).astype(dtype)
        deltas = (rng.standard_normal((rows, 4 * groups)) * scale).astype(dtype)
        return Case({"rois": rois, "gt": gt, "deltas": deltas}, label)

    def edge_cases(self):
        m = self.make
        same = m(1, 3, 1, np.float64, 0.1, "a RoI equal to its box: all deltas 0")
        same.inputs["gt"] = same.inputs["rois"].copy()
        single = self.make(2, 2, 1, np.float64, 0.1, "1-pixel RoIs and boxes")
        single.inputs["rois"][:, 2:] = single.inputs["rois"][:, :2]
        return [same, single,
                m(3, 3, 3, np.float64, 0.5, "deltas for 3 classes: (R, 12) -> boxes (R, 12)"),
                m(4, 2, 1, np.float64, 8.0, "tw, th above log(1000/16) are clamped before exp()"),
                m(5, 4, 2, np.float32, 0.5, "float32"),
                m(6, 0, 2, np.float64, 1.0, "no RoIs")]

    def strategy(self):
        return st.builds(self.make, SEEDS, st.integers(0, 5), st.integers(1, 3), DTYPES,
                         st.sampled_from([0.1, 1.0, 5.0]))

    def calls(self, case):
        i = case.inputs
        return [Call("encode", (i["rois"], i["gt"]), ("rois", "gt")),
                Call("decode", (i["rois"], i["deltas"]), ("rois", "deltas"))]

    def judge(self, case, values):
        i = case.inputs
        dtype = i["rois"].dtype
        got, failure = unpack(values[0], 1, "encode", ("deltas",))
        if failure:
            return failure
        failure = compare("encode", got[0], boxes.encode(i["rois"], i["gt"]), dtype=dtype)
        if failure:
            return failure
        got, failure = unpack(values[1], 1, "decode", ("boxes",))
        if failure:
            return failure

        def hint(actual, expected):
            if actual.shape != expected.shape and actual.shape[1:] == (4,):
                return "deltas hold one group of 4 per class: decode every group, (R, 4k) -> (R, 4k)."
            if not np.isfinite(actual).all():
                return "clamp tw and th at log(1000 / 16) before exp()."
            return ""

        # The dtype of decode's boxes is not judged: the reference's clamp promotes float32 deltas
        # to float64, and float32 boxes are as good.
        return compare("decode", got[0], boxes.decode(i["rois"], i["deltas"]),
                       tol=TOLERANCE[np.dtype(dtype)], hint=hint)


# --- nms --------------------------------------------------------------------------------------

class Nms(Grader):
    exercise = "nms"
    properties = {"keep": "the indices kept, highest score first (stable on equal scores); a box "
                          "is suppressed when its IoU with a kept box is > threshold"}

    @staticmethod
    def make(boxes_, scores, threshold, label=""):
        return Case({"boxes": np.array(boxes_, np.float64).reshape(-1, 4),
                     "scores": np.array(scores, np.float64), "threshold": threshold}, label)

    def edge_cases(self):
        m = self.make
        return [m([[0, 0, 9, 9], [0, 0, 9, 4]], [0.9, 0.8], 0.5,
                  "IoU exactly 0.5 at threshold 0.5: the box survives"),
                m([[0, 0, 9, 9], [1, 1, 9, 9], [20, 20, 25, 25]], [0.5, 0.5, 0.5], 0.3,
                  "equal scores: the earlier box comes first"),
                m(np.zeros((0, 4)), [], 0.3, "no boxes: an empty result"),
                m([[0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9]], [0.1, 0.7, 0.3], 0.7,
                  "three identical boxes"),
                m([[0, 0, 9, 9], [5, 0, 14, 9], [10, 0, 19, 9]], [0.9, 0.8, 0.7], 0.3,
                  "a chain: the middle box suppresses nothing once it is suppressed")]

    def strategy(self):
        def build(seed, count, tied, threshold):
            rng = np.random.default_rng(seed)
            scores = rng.integers(0, 3, count) / 4 if tied else rng.random(count)
            return self.make(case_boxes(rng, count, size=10), scores, threshold)
        return st.builds(build, SEEDS, st.integers(0, 8), st.booleans(),
                         st.sampled_from([0.3, 0.5, 0.7, 0.0, 1.0]))

    def calls(self, case):
        i = case.inputs
        return [Call("nms", (i["boxes"], i["scores"], i["threshold"]), ("boxes", "scores", "threshold"))]

    def judge(self, case, values):
        got, failure = unpack(values[0], 1, "nms", ("keep",))
        if failure:
            return failure
        i = case.inputs
        expected = boxes.nms(i["boxes"], i["scores"], i["threshold"])
        actual = np.asarray(got[0])
        if not np.issubdtype(actual.dtype, np.integer):
            return Failure("keep", f"keep must hold integer indices, got {describe(actual)}",
                           expected=expected, actual=actual)

        def hint(actual, expected):
            overlaps = boxes.iou(i["boxes"], i["boxes"])
            if np.any(np.isclose(overlaps, i["threshold"])) and set(actual.tolist()) < set(expected.tolist()):
                return "a box whose IoU equals the threshold exactly survives: suppress only IoU > threshold."
            if sorted(actual.tolist()) == sorted(expected.tolist()):
                return "the right boxes in the wrong order: highest score first, ties in index order."
            return ""

        return compare("keep", actual.reshape(-1) if actual.ndim == 1 else actual, expected, tol=0,
                       hint=hint)


# --- sample_rois ------------------------------------------------------------------------------

class SampleRois(Grader):
    exercise = "sample_rois"
    properties = {
        "keep": "distinct valid indices, as many as the rule gives: round(fg_fraction * R) "
                "foreground at most, then background up to rois_per_image",
        "foreground first": "the first num_fg have IoU >= 0.5, the rest IoU in [bg_lo, 0.5)",
        "labels": "the class for foreground, 0 for background",
        "uses rng": "the same generator seed gives the same sample",
        "random": "over many seeds, every candidate gets drawn",
    }
    generated_cases = 150

    @staticmethod
    def make(seed, overlaps, rois_per_image, fg_fraction, bg_lo, label=""):
        rng = np.random.default_rng(seed)
        overlaps = np.asarray(overlaps, np.float64)
        # As in py-faster-rcnn's roidb, a RoI carries the class of the box it overlaps most
        # even when that overlap is too small for foreground: sampling must zero it.
        labels = np.where(overlaps > 0, rng.integers(1, 4, len(overlaps)), 0)
        return Case({"entry": Entry(overlaps, labels.astype(np.int64)),
                     "rois_per_image": rois_per_image, "fg_fraction": fg_fraction,
                     "rng": Rng(seed), "bg_lo": bg_lo}, label)

    def edge_cases(self):
        m = self.make
        grid = [0.0, 0.05, 0.1, 0.3, 0.4999, 0.5, 0.7, 1.0]
        return [m(1, grid * 2, 8, 0.25, 0.1, "IoU exactly 0.5 (foreground) and exactly bg_lo (background)"),
                m(2, [0.0, 0.05, 0.2, 0.6], 4, 0.25, 0.0, "bg_lo 0: IoU 0 is background too"),
                m(3, [0.0, 0.2, 0.3], 4, 0.25, 0.1, "no foreground at all"),
                m(4, [0.6, 0.9, 1.0], 8, 0.25, 0.1, "no background at all, too few to fill the sample"),
                m(5, [], 4, 0.25, 0.1, "no RoIs"),
                m(6, [0.5, 0.7, 0.2, 0.3], 1, 0.5, 0.1, "one RoI per image"),
                self.randomness()]

    def randomness(self):
        """10 foreground and 10 background candidates, 2 + 2 places, 60 generators: a sampler
        that draws at random picks every candidate at least once (a given one is missed with
        probability 0.8^60 ~ 1.5e-6)."""
        case = self.make(7, [0.7] * 10 + [0.2] * 10, 4, 0.5, 0.1,
                         "60 different seeds: every candidate must get drawn sometimes")
        case.extra["seeds"] = range(100, 160)
        return case

    def strategy(self):
        def build(seed, count, rois_per_image, fg_fraction, bg_lo):
            rng = np.random.default_rng(seed)
            pool = np.array([0.0, 0.05, 0.1, 0.3, 0.4999, 0.5, 0.7, 1.0])
            overlaps = np.where(rng.random(count) < 0.5, rng.choice(pool, count), rng.random(count))
            return self.make(seed, overlaps, rois_per_image, fg_fraction, bg_lo)
        return st.builds(build, SEEDS, st.integers(0, 30), st.integers(1, 16),
                         st.sampled_from([0.25, 0.5, 0.0, 1.0]), st.sampled_from([0.1, 0.0]))

    def calls(self, case):
        i = case.inputs
        names = ("entry", "rois_per_image", "fg_fraction", "rng", "bg_lo")
        args = tuple(i[n] for n in names)
        if "seeds" in case.extra:
            return [Call("sample_rois", args[:3] + (Rng(s),) + args[4:], names)
                    for s in case.extra["seeds"]]
        return [Call("sample_rois", args, names), Call("sample_rois", args, names)]

    def judge(self, case, values):
        i = case.inputs
        entry = i["entry"]
        overlaps, labels = entry.max_overlaps, entry.labels
        got, failure = unpack(values[0], 2, "sample_rois", ("keep", "labels"))
        if failure:
            return failure
        keep, out_labels = (np.asarray(v) for v in got)
        if keep.ndim != 1 or not (np.issubdtype(keep.dtype, np.integer) or keep.size == 0):
            return Failure("keep", f"keep must be a 1-D array of integer indices, got {describe(keep)}")
        keep = keep.astype(np.int64)
        if keep.size and (keep.min() < 0 or keep.max() >= len(overlaps)):
            return Failure("keep", f"keep holds indices outside [0, {len(overlaps) - 1}]: {keep.tolist()}")
        if len(np.unique(keep)) != len(keep):
            return Failure("keep", f"keep draws a RoI twice: {keep.tolist()}",
                           hint="sample without replacement (rng.choice(..., replace=False)).")
        fg = np.flatnonzero(overlaps >= FG_THRESHOLD)
        bg = np.flatnonzero((overlaps >= i["bg_lo"]) & (overlaps < BG_THRESHOLD_HI))
        share = i["fg_fraction"] * i["rois_per_image"]
        # round() of an exact half: Python's (2.5 -> 2) and floor(x + 0.5) (2.5 -> 3) are both fine.
        allowed_fg = {min(round(share), len(fg)), min(int(np.floor(share + 0.5)), len(fg))}
        num_fg = int(np.count_nonzero(overlaps[keep] >= FG_THRESHOLD))
        expected_total = {f + min(i["rois_per_image"] - f, len(bg)) for f in allowed_fg}
        if num_fg not in allowed_fg or len(keep) not in expected_total:
            want_fg = " or ".join(str(f) for f in sorted(allowed_fg))
            return Failure("keep", f"keep has {num_fg} foreground and {len(keep) - num_fg} other RoIs; "
                                   f"expected {want_fg} foreground and {sorted(expected_total)} in all "
                                   f"({len(fg)} foreground and {len(bg)} background candidates)",
                           hint="foreground: IoU >= 0.5, at most round(fg_fraction * rois_per_image); "
                                "background: IoU in [bg_lo, 0.5), filling up to rois_per_image.")
        head, tail = keep[:num_fg], keep[num_fg:]
        if not (np.all(overlaps[head] >= FG_THRESHOLD) and np.all(np.isin(tail, bg))):
            return Failure("foreground first", f"keep {keep.tolist()} has IoUs "
                                               f"{np.round(overlaps[keep], 4).tolist()}: expected "
                                               f"{num_fg} foreground first, then background in "
                                               f"[{i['bg_lo']}, 0.5)")
        expected_labels = np.concatenate([labels[head], np.zeros(len(tail), np.int64)])
        failure = compare("labels", out_labels, expected_labels, tol=0)
        if failure:
            failure.hint = failure.hint or "background RoIs are labelled 0, whatever entry.labels says."
            return failure
        if "seeds" in case.extra:
            return self.judge_randomness(case, values, fg, bg)
        again, _ = unpack(values[1], 2, "sample_rois", ("keep", "labels"))
        if again is None or not np.array_equal(np.asarray(again[0]), keep):
            return Failure("uses rng", "two calls with generators of the same seed drew different "
                                       "samples", hint="draw only with the rng you are given "
                                                       "(rng.choice), not np.random.")
        return None


    @staticmethod
    def judge_randomness(case, values, fg, bg):
        drawn = set()
        for value in values:
            got, failure = unpack(value, 2, "sample_rois", ("keep", "labels"))
            if failure:
                return failure
            drawn.update(np.asarray(got[0]).astype(np.int64).tolist())
        missed = sorted(set(fg.tolist() + bg.tolist()) - drawn)
        if missed:
            return Failure("random", f"over {len(values)} generators of different seeds, candidates "
                                     f"{missed} were never drawn",
                           hint="draw the foreground and the background at random with the rng "
                                "(rng.choice(..., replace=False)), not the first ones.")
        return None


GRADERS = [Iou(), EncodeDecode(), Nms(), SampleRois()]
