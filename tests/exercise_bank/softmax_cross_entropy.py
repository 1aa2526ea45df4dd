"""Exercise softmax_cross_entropy: softmax_cross_entropy(scores, labels) -> (loss, dscores).

scores (R, K+1) float32/float64, labels (R,) ints. loss = mean over rows of -log softmax, in the
scores' dtype; dscores = (softmax - onehot) / R; R = 0 gives loss 0 and an empty gradient."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "softmax_cross_entropy"


def softmax_cross_entropy_logsumexp(scores, labels):
    """Vectorised, through log-sum-exp."""
    rows = scores.shape[0]
    if rows == 0:
        return scores.dtype.type(0), np.zeros_like(scores)
    top = scores.max(axis=1, keepdims=True)
    log_z = top + np.log(np.exp(scores - top).sum(axis=1, keepdims=True))
    log_p = scores - log_z
    loss = -log_p[np.arange(rows), labels].sum() / rows
    onehot = np.zeros_like(scores)
    onehot[np.arange(rows), labels] = 1
    dscores = (np.exp(log_p) - onehot) / rows
    return scores.dtype.type(loss), dscores.astype(scores.dtype)


def softmax_cross_entropy_loops(scores, labels):
    """One row at a time, in plain Python over the rows."""
    rows = len(scores)
    dscores = np.zeros_like(scores)
    total = 0.0
    for r in range(rows):
        row = scores[r] - np.max(scores[r])
        e = np.exp(row)
        z = np.sum(e)
        total += np.log(z) - row[labels[r]]
        dscores[r] = e / z
        dscores[r, labels[r]] -= 1
    if rows:
        dscores /= rows
        total /= rows
    return scores.dtype.type(total), dscores


def _mutant(shift="row", log_of_p=False, mean=True, grad_mean=True, fancy_onehot=False,
            guard_empty=True, keep_dtype=True, in_place=False):
    """The log-sum-exp version, with one switch turned the wrong way."""

    def softmax_cross_entropy(scores, labels):
        rows = scores.shape[0]
        if guard_empty and rows == 0:
            return scores.dtype.type(0), np.zeros_like(scores)
        dtype = scores.dtype
        if not keep_dtype:
            scores = scores.astype(np.float64)
        if in_place:
            scores -= scores.max(axis=1, keepdims=True)
            shifted = scores
        elif shift == "row":
            shifted = scores - scores.max(axis=1, keepdims=True)
        elif shift == "global":
            shifted = scores - scores.max()
        else:
            shifted = scores
        e = np.exp(shifted)
        p = e / e.sum(axis=1, keepdims=True)
        index = np.arange(rows)
        if log_of_p:
            losses = -np.log(p[index, labels])
        else:
            losses = np.log(e.sum(axis=1)) - shifted[index, labels]
        loss = losses.mean() if mean else losses.sum()
        dscores = p.copy()
        if fancy_onehot:
            dscores[:, labels] -= 1
        else:
            dscores[index, labels] -= 1
        if grad_mean and mean:
            dscores /= rows
        out_dtype = dtype if keep_dtype else np.float64
        return np.dtype(out_dtype).type(loss), dscores

    return (softmax_cross_entropy,)


CORRECT = {
    "logsumexp": (softmax_cross_entropy_logsumexp,),
    "loops": (softmax_cross_entropy_loops,),
}

MUTANTS = {
    "no_max_shift": Mutant(_mutant(shift="none"),
                           "exp(scores) without subtracting the row maximum: overflows "
                           "at logit 1000"),
    "global_max_shift": Mutant(_mutant(shift="global"),
                               "subtracts the maximum of the whole batch instead of each row's: "
                               "a row far below it underflows to 0/0"),
    "log_of_softmax": Mutant(_mutant(log_of_p=True),
                             "-log(softmax[label]) instead of log-softmax: log(0) = inf when the "
                             "label's score is far below the row's maximum"),
    "sum_not_mean": Mutant(_mutant(mean=False),
                           "sums the loss and the gradient over rows instead of averaging"),
    "grad_not_divided": Mutant(_mutant(grad_mean=False),
                               "averages the loss but forgets the / R in dscores"),
    "fancy_index_onehot": Mutant(_mutant(fancy_onehot=True),
                                 "dscores[:, labels] -= 1 subtracts 1 in every row, in every "
                                 "labelled column"),
    "empty_nan": Mutant(_mutant(guard_empty=False),
                        "no R = 0 case: the mean over no rows gives nan"),
    "float64_out": Mutant(_mutant(keep_dtype=False),
                          "computes in float64 and returns float64 for float32 scores"),
    "in_place_shift": Mutant(_mutant(in_place=True),
                             "scores -= max subtracts in place, changing the caller's array"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'no_max_shift':        'loss',
    'global_max_shift':    'loss',
    'log_of_softmax':      'loss',
    'sum_not_mean':        'loss',
    'grad_not_divided':    'dscores',
    'fancy_index_onehot':  'dscores',
    'empty_nan':           'loss',
    'float64_out':         'dscores',
    'in_place_shift':      'input unchanged',
}
