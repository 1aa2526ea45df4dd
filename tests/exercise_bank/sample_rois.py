"""Exercise sample_rois:
sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo) -> (keep, labels).

entry.max_overlaps (P,) float64, entry.labels (P,) int64. Foreground: best IoU >= 0.5; background:
best IoU in [bg_lo, 0.5). Draw, without replacement and with the given rng, at most
round(fg_fraction * rois_per_image) foreground RoIs (Python's round: half to even), then
background RoIs up to rois_per_image in all (fewer when too few qualify). keep (R_i,) int64,
foreground first; labels (R_i,) int64: the entry's label for foreground, 0 for background."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "sample_rois"

FG_THRESHOLD = 0.5
BG_THRESHOLD_HI = 0.5


def sample_rois_choice(entry, rois_per_image, fg_fraction, rng, bg_lo):
    """rng.choice on the candidate indices, without replacement."""
    mo = entry.max_overlaps
    fg = np.flatnonzero(mo >= FG_THRESHOLD)
    bg = np.flatnonzero((mo >= bg_lo) & (mo < BG_THRESHOLD_HI))
    num_fg = min(round(fg_fraction * rois_per_image), fg.size)
    num_bg = min(rois_per_image - num_fg, bg.size)
    fg = rng.choice(fg, size=num_fg, replace=False) if num_fg else fg[:0]
    bg = rng.choice(bg, size=num_bg, replace=False) if num_bg else bg[:0]
    keep = np.concatenate([fg, bg]).astype(np.int64)
    labels = np.zeros(keep.size, dtype=np.int64)
    labels[:num_fg] = entry.labels[fg]
    return keep, labels


def sample_rois_permutation(entry, rois_per_image, fg_fraction, rng, bg_lo):
    """Shuffle each candidate list with rng.permutation and take its head; np.round is also
    half to even."""
    mo = np.asarray(entry.max_overlaps)
    fg_candidates = np.where(mo >= 0.5)[0]
    bg_candidates = np.where(np.logical_and(mo >= bg_lo, mo < 0.5))[0]
    fg_wanted = int(np.round(fg_fraction * rois_per_image))
    fg_keep = rng.permutation(fg_candidates)[:fg_wanted]
    bg_keep = rng.permutation(bg_candidates)[:rois_per_image - fg_keep.size]
    keep = np.concatenate([fg_keep, bg_keep]).astype(np.int64)
    labels = np.concatenate([np.asarray(entry.labels)[fg_keep],
                             np.zeros(bg_keep.size)]).astype(np.int64)
    return keep, labels


def sample_rois_python(entry, rois_per_image, fg_fraction, rng, bg_lo):
    """Lists and a random key per candidate (sorting by independent uniform keys is a uniform
    shuffle)."""
    fg_list = [i for i, o in enumerate(entry.max_overlaps) if o >= 0.5]
    bg_list = [i for i, o in enumerate(entry.max_overlaps) if bg_lo <= o < 0.5]
    fg_keys = rng.random(len(fg_list))
    bg_keys = rng.random(len(bg_list))
    fg_list = [i for _, i in sorted(zip(fg_keys, fg_list))][:round(fg_fraction * rois_per_image)]
    bg_list = [i for _, i in sorted(zip(bg_keys, bg_list))][:rois_per_image - len(fg_list)]
    keep = np.array(fg_list + bg_list, dtype=np.int64)
    labels = np.array([int(entry.labels[i]) for i in fg_list] + [0] * len(bg_list),
                      dtype=np.int64)
    return keep, labels


def _mutant(draw="choice", fg_compare="ge", bg_upper="lt", count="round", zero_bg=True,
            bg_first=False, cap_bg=True, fill_from="num_fg", bg_lo_used=True):
    """The rng.choice version, with one switch turned the wrong way."""

    def sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo):
        mo = entry.max_overlaps
        lo = bg_lo if bg_lo_used else 0.1
        fg = np.flatnonzero(mo >= 0.5 if fg_compare == "ge" else mo > 0.5)
        bg = np.flatnonzero((mo >= lo) & ((mo < 0.5) if bg_upper == "lt" else (mo <= 0.5)))
        wanted = fg_fraction * rois_per_image
        wanted = round(wanted) if count == "round" else int(wanted)
        num_fg = min(wanted, fg.size)
        num_bg = rois_per_image - (num_fg if fill_from == "num_fg" else wanted)
        if cap_bg:
            num_bg = min(num_bg, bg.size)

        def pick(candidates, size):
            if size == 0:
                return candidates[:0]
            if draw == "first":
                return candidates[:size]
            if draw == "replace":
                return rng.choice(candidates, size=size, replace=True)
            if draw == "global":
                return np.random.choice(candidates, size=size, replace=False)
            return rng.choice(candidates, size=size, replace=False)

        fg = pick(fg, num_fg)
        bg = pick(bg, num_bg)
        labels_fg = entry.labels[fg]
        labels_bg = np.zeros(bg.size, dtype=np.int64) if zero_bg else entry.labels[bg]
        if bg_first:
            return (np.concatenate([bg, fg]).astype(np.int64),
                    np.concatenate([labels_bg, labels_fg]).astype(np.int64))
        return (np.concatenate([fg, bg]).astype(np.int64),
                np.concatenate([labels_fg, labels_bg]).astype(np.int64))

    return (sample_rois,)


CORRECT = {
    "choice": (sample_rois_choice,),
    "permutation": (sample_rois_permutation,),
    "random_keys": (sample_rois_python,),
}

MUTANTS = {
    "first_k": Mutant(_mutant(draw="first"),
                      "no randomness: the first candidates in index order"),
    "with_replacement": Mutant(_mutant(draw="replace"),
                               "rng.choice with replace=True: the same RoI can be drawn twice"),
    "global_random": Mutant(_mutant(draw="global"),
                            "np.random.choice instead of the given rng: the same seed does not "
                            "give the same sample"),
    "fg_strictly_above": Mutant(_mutant(fg_compare="gt"),
                                "foreground IoU > 0.5 instead of >= 0.5: a RoI at exactly 0.5 is "
                                "neither foreground nor background"),
    "bg_includes_half": Mutant(_mutant(bg_upper="le"),
                               "background [bg_lo, 0.5] inclusive: a RoI at 0.5 is both"),
    "fg_count_int": Mutant(_mutant(count="int"),
                           "int(fg_fraction * rois_per_image) truncates 1.5 to 1 instead of "
                           "round()"),
    "bg_labels_kept": Mutant(_mutant(zero_bg=False),
                             "background RoIs keep the class of their best ground-truth box "
                             "instead of label 0"),
    "background_first": Mutant(_mutant(bg_first=True),
                               "concatenates background before foreground"),
    "bg_not_capped": Mutant(_mutant(cap_bg=False),
                            "asks for rois_per_image - num_fg background RoIs whatever is "
                            "available: rng.choice raises when there are too few"),
    "bg_fill_from_quota": Mutant(_mutant(fill_from="quota"),
                                 "background count from the foreground quota, not the foreground "
                                 "actually drawn: the sample is not filled up when foreground is "
                                 "scarce"),
    "bg_lo_ignored": Mutant(_mutant(bg_lo_used=False),
                            "the background's lower bound hard-coded at 0.1 instead of bg_lo"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'first_k':             'random',
    'with_replacement':    'keep',
    'global_random':       'uses rng',
    'fg_strictly_above':   'keep',
    'bg_includes_half':    'keep',
    'fg_count_int':        'keep',
    'bg_labels_kept':      'labels',
    'background_first':    'foreground first',
    'bg_not_capped':       'runs',
    'bg_fill_from_quota':  'keep',
    'bg_lo_ignored':       'keep',
}
