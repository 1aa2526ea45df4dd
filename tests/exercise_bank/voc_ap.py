"""Exercise voc_ap: voc_ap(recall, precision, use_07_metric) -> float.

use_07_metric: the mean over the 11 thresholds t = k / 10 (exact tenths) of the largest
precision at recall >= t, 0 where the curve never reaches t. Otherwise: the area under the
precision envelope (the largest precision at any recall >= r), the curve extended by the sentinels
(recall 0, precision 0) and (recall 1, precision 0). An empty curve has AP 0."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "voc_ap"


def voc_ap_devkit(recall, precision, use_07_metric):
    """The devkit's shape: a loop over the 11 thresholds; sentinels and a backward envelope loop."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        total = 0.0
        for k in range(11):
            mask = recall >= k / 10
            total += precision[mask].max() if mask.any() else 0.0
        return float(total / 11)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    changes = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def voc_ap_vectorised(recall, precision, use_07_metric):
    """Thresholds against points as an (11, D) mask; the area summed over every step (a zero-width
    step adds nothing, so no need to find where recall changes)."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        thresholds = np.arange(11) / 10.0
        reached = recall[None, :] >= thresholds[:, None]
        best = np.where(reached, precision[None, :], 0.0).max(axis=1, initial=0.0)
        return float(best.mean())
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([0.0], precision, [0.0]))
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum(np.diff(r) * envelope[1:]))


def _mutant(thresholds="tenths", compare="ge", divide=11, first_reached=False, guard_empty=True,
            envelope="backward", sentinels=True, height="after", first_segment=False):
    """The vectorised/devkit version, with one switch turned the wrong way."""

    def voc_ap(recall, precision, use_07_metric):
        recall = np.asarray(recall, dtype=np.float64)
        precision = np.asarray(precision, dtype=np.float64)
        if use_07_metric:
            ts = {"tenths": np.arange(11) / 10, "arange": np.arange(0, 1.1, 0.1),
                  "linspace": np.linspace(0, 1, 11)}[thresholds]
            total = 0.0
            for t in ts:
                mask = recall >= t if compare == "ge" else recall > t
                if first_reached:
                    total += precision[np.argmax(mask)] if mask.any() else 0.0
                elif guard_empty:
                    total += precision[mask].max() if mask.any() else 0.0
                else:
                    total += precision[mask].max()
            return float(total / divide)
        if first_segment:
            env = np.maximum.accumulate(precision[::-1])[::-1]
            area = recall[0] * env[0]
            return float(area + np.sum(np.diff(recall) * env[1:]))
        if sentinels:
            r = np.concatenate(([0.0], recall, [1.0]))
            p = np.concatenate(([0.0], precision, [0.0]))
        else:
            r, p = recall, precision
        if envelope == "backward":
            env = np.maximum.accumulate(p[::-1])[::-1]
        elif envelope == "forward":
            env = np.maximum.accumulate(p)
        else:
            env = p
        steps = np.flatnonzero(r[1:] != r[:-1])
        h = env[steps + 1] if height == "after" else env[steps]
        return float(np.sum((r[steps + 1] - r[steps]) * h))

    return (voc_ap,)


CORRECT = {
    "devkit": (voc_ap_devkit,),
    "vectorised": (voc_ap_vectorised,),
}

MUTANTS = {
    "arange_thresholds": Mutant(_mutant(thresholds="arange"),
                                "np.arange(0, 1.1, 0.1) thresholds: 0.6000000000000001 drops a "
                                "point at recall exactly 0.6"),
    "linspace_thresholds": Mutant(_mutant(thresholds="linspace"),
                                  "np.linspace(0, 1, 11) thresholds: its 0.6 is "
                                  "0.6000000000000001 too"),
    "strict_threshold": Mutant(_mutant(compare="gt"),
                               "recall > t instead of recall >= t in the 11-point rule"),
    "divide_by_ten": Mutant(_mutant(divide=10),
                            "averages the 11 points by dividing by 10"),
    "first_reached_not_max": Mutant(_mutant(first_reached=True),
                                    "takes the precision where recall first reaches t, not the "
                                    "largest at recall >= t"),
    "max_of_empty": Mutant(_mutant(guard_empty=False),
                           "max over the points at recall >= t with no check that there are "
                           "any: crashes on an empty curve or one that stops short of recall 1"),
    "no_envelope": Mutant(_mutant(envelope="none"),
                          "area under the raw precision, without the envelope"),
    "forward_envelope": Mutant(_mutant(envelope="forward"),
                               "running maximum from the start (recall <= r) instead of from "
                               "the end"),
    "no_sentinels": Mutant(_mutant(sentinels=False),
                           "no (0, 0) and (1, 0) sentinels: the area from recall 0 to the first "
                           "point is lost"),
    "height_before_step": Mutant(_mutant(height="before"),
                                 "rectangle height taken at the left end of each recall step"),
    "empty_crash": Mutant(_mutant(first_segment=True),
                          "no sentinels, the first segment added by hand as recall[0] * "
                          "envelope[0]: right, except an empty curve raises IndexError"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'arange_thresholds':      'ap',
    'linspace_thresholds':    'ap',
    'strict_threshold':       'ap',
    'divide_by_ten':          'ap',
    'first_reached_not_max':  'ap',
    'max_of_empty':           'runs',
    'no_envelope':            'ap',
    'forward_envelope':       'ap',
    'no_sentinels':           'ap',
    'height_before_step':     'ap',
    'empty_crash':            'runs',
}
