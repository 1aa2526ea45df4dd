"""What a training run and a pretraining run share: the budget, the learning-rate schedule, the
progress bar and the error that stops them.

A run is bounded by iterations or by wall time, and the learning rate drops 10x at the same
fraction of that budget as in the paper (30k of 40k iterations: 75 %). `minifrcnn.train` and
`minifrcnn.pretrain` both import this module, which imports neither of them.
"""

from tqdm import tqdm

LR_STEP_FRACTION = 0.75        # the paper: 30k of 40k iterations
LR_GAMMA = 0.1


class TrainingError(RuntimeError):
    """Training cannot go on (the loss diverged, a checkpoint does not fit this run)."""


def budget_fraction(iteration, iters, seconds, budget_seconds):
    """How much of a run is done, in [0, 1] until the run ends: iteration / iters for a run of
    `iters` iterations, else seconds / budget_seconds for a run bounded by wall time."""
    if iters is not None:
        return iteration / iters
    return seconds / budget_seconds


def learning_rate(base_lr, done):
    """base_lr until `done` (budget_fraction) reaches LR_STEP_FRACTION, LR_GAMMA * base_lr after."""
    return base_lr * (LR_GAMMA if done >= LR_STEP_FRACTION else 1.0)


def progress_bar(desc, iters, seconds, enabled):
    """A tqdm bar over iterations, or over the seconds of a time budget (then it shows seconds
    done out of the budget, and the postfix says which iteration)."""
    if iters is not None:
        return tqdm(total=iters, desc=desc, unit="it", disable=not enabled)
    return tqdm(total=round(seconds), desc=desc, disable=not enabled,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} s{postfix}")


def update_bar(bar, iteration, iters, seconds):
    """Move `bar` (from progress_bar) to the run's position: the iteration, or the seconds done."""
    bar.n = iteration if iters is not None else min(round(seconds), bar.total)


def quiet(text):
    """The default `log` of train and the demo: library functions say nothing by themselves;
    the command line passes print."""
