"""Training a Fast R-CNN (paper section 2.3; fast-rcnn-spec.md, "Training recipe").

    dataset + cached proposals --build_roidb--> roidb (+ flips) --target_stats--> means, stds
    [start from another model's layers up to fc7, new heads]                      (--init)
    [or pretrain the trunk as a crop classifier, then convert it to a detector]   (--pretrain)
    repeat: minibatch (N=2 images, R=128 RoIs) -> forward -> multitask loss -> backward -> SGD
    save: the model file with the target normalisation folded into bbox_pred, a loss curve

A run is bounded by iterations (`iters`) or by wall time (`minutes`, pretraining included). The
learning rate drops 10x at 75 % of the budget, where the paper drops it (30k of 40k iterations).

Checkpoints (`<out>.ckpt.npz`, written atomically every `checkpoint_every` iterations and at the
end) hold the raw weights, the momentum, the statistics, the random generator's state, the
sampler's position and the loss history: `resume=True` continues an `iters` run exactly where it
stopped, and reaches bit for bit the weights of a run that never stopped.
"""

import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from .data.minibatch import (BG_THRESHOLD_HI, BG_THRESHOLD_LO, IMAGES_PER_BATCH, MinibatchSampler,
                             build_roidb, get_minibatch, target_stats)
from .data.voc import load_voc
from .layers import multitask_loss, softmax_cross_entropy
from .model import FastRCNN, ModelFileError, read_npz, write_npz
from .proposals.cache import cached_proposals, default_cache_dir
from .sgd import SGD

CHECKPOINT_FORMAT = "minifrcnn-checkpoint"
LR_STEP_FRACTION = 0.75        # the paper: 30k of 40k iterations
LR_GAMMA = 0.1
# The paper fine-tunes ImageNet-trained VGG16 at 0.001. The small networks here start from
# nothing (or a short pretraining on the data itself) and have minutes, not hours: 0.02 learns
# fastest of what was tried on the synthetic shapes (0.003 was clearly slower).
DEFAULT_LR = {"tiny": 0.02, "small": 0.02, "vgg16": 0.001}
# Started from trained layers (--init), a network is closer to a good solution and a smaller step
# keeps what it learned: fine-tuning the built-in shapes model for 10 minutes on an unseen shapes
# dataset gave test mAP 0.706 at lr 0.02, 0.737 at 0.01 and 0.736 at 0.005.
INIT_LR_FACTOR = 0.5
# Multi-scale training (the paper's option; it draws a shorter side per image) is the default
# for `small`: with a few hundred images the detector overfits, and scale jitter is the
# augmentation the paper offers. Measured on a 5-class shapes dataset it had never seen, 10
# minutes of training: test mAP 0.48 at the single scale 224 (0.88 on its own training
# images), 0.55 with these scales. Their mean area is about 224^2, so a step costs the same.
DEFAULT_TRAIN_SCALES = {"small": (160, 192, 224, 256, 288)}
# Colour shuffling (transforms.shuffle_colours) by default for `small`, the configuration of the
# shapes datasets, whose objects come in any colour: it multiplies the images' colourings by 12
# without changing a single edge. Off elsewhere: in photographs colour can mean something.
# Measured on that unseen dataset, 10 minutes from nothing: test mAP 0.619 with it, 0.606
# without (at test scale 352): within the noise of one run, so this rests on the argument.
SHUFFLE_COLOURS_BY_DEFAULT = ("small",)
PRETRAIN_FRACTION = 0.25       # share of the budget spent pretraining, with --pretrain
# Two options stay off by default, as in the paper, though the unseen shapes of the README want
# both. Transposed images (--transpose) would teach a VOC detector people lying on their side. The
# background's lower IoU bound (--bg-lo, minibatch.py) stays 0.1: from nothing, 0 gave test mAP
# 0.557 against 0.619 in 10 minutes, and only from --init shapes did it help (0.737 to 0.762).


class TrainingError(RuntimeError):
    """Training cannot go on (the loss diverged, a checkpoint does not fit this run)."""


@dataclass
class TrainSettings:
    """Everything that decides a run's result; a checkpoint stores it, resume checks it."""

    data: str
    out: str
    split: str = "trainval"
    config: str = "small"
    iters: int = None
    minutes: float = None
    seed: int = 0
    backend: str = None
    pretrain: bool = False
    init: str = None                # a model file to start from (every layer up to fc7), or a
                                    # built-in model's name (pretrain.BUILTIN_MODELS)
    lr: float = None
    scales: tuple = None
    flip: bool = True
    transpose: bool = False         # also train on every image transposed (data without an up)
    shuffle_colours: bool = None    # default: on for the configurations in SHUFFLE_COLOURS_BY_DEFAULT
    bg_lo: float = BG_THRESHOLD_LO  # background RoIs: best IoU in [bg_lo, 0.5)
    checkpoint_every: int = 500
    resume: bool = False            # continue from checkpoint_path if it exists

    def __post_init__(self):
        if (self.iters is None) == (self.minutes is None):
            raise ValueError("give exactly one of iters and minutes")
        if self.iters is not None and self.iters < 1:
            raise ValueError(f"iters must be at least 1, got {self.iters}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.init is not None and self.pretrain:
            raise ValueError("give at most one of init and pretrain")
        if not 0 <= self.bg_lo < BG_THRESHOLD_HI:
            raise ValueError(f"bg_lo must be in [0, {BG_THRESHOLD_HI}), got {self.bg_lo}")
        if self.lr is None:
            self.lr = DEFAULT_LR.get(self.config, 0.001) * (1 if self.init is None else
                                                             INIT_LR_FACTOR)
        if self.shuffle_colours is None:
            self.shuffle_colours = self.config in SHUFFLE_COLOURS_BY_DEFAULT

    @property
    def checkpoint_path(self):
        root, _ = os.path.splitext(self.out)
        return root + ".ckpt.npz"

    @property
    def loss_plot_path(self):
        root, _ = os.path.splitext(self.out)
        return root + "_loss.png"

    def fingerprint(self):
        """The settings a resumed run must share with the run that wrote the checkpoint."""
        keys = ("split", "config", "iters", "minutes", "seed", "backend", "pretrain", "init", "lr",
                "scales", "flip", "transpose", "shuffle_colours", "bg_lo")
        values = asdict(self)
        return {key: list(values[key]) if isinstance(values[key], tuple) else values[key]
                for key in keys}


@dataclass
class History:
    """Per iteration: total, classification and box loss, learning rate, seconds since start."""

    iteration: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    loss_cls: list = field(default_factory=list)
    loss_box: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    pretrain: list = field(default_factory=list)     # (iteration, loss, accuracy)

    def append(self, **values):
        for key, value in values.items():
            getattr(self, key).append(value)


@dataclass
class TrainState:
    """What a checkpoint restores besides the weights."""

    iteration: int = 0
    elapsed: float = 0.0           # seconds of training so far (pretraining included)
    pretrain_seconds: float = 0.0
    history: History = field(default_factory=History)


def prepare_data(settings, progress=True, log=print):
    """The dataset, its proposals (from the cache, computed where missing) and the roidb."""
    dataset = load_voc(settings.data, settings.split)
    if not dataset.samples:
        raise TrainingError(f"{settings.data}: split {settings.split!r} has no images")
    cache_dir = default_cache_dir(settings.data)
    proposals, stats = cached_proposals(dataset, cache_dir, progress=progress)
    if stats["computed"]:
        log(f"proposals: computed {stats['computed']} images in {stats['compute_seconds']:.0f} s "
            f"(cached in {cache_dir})")
    roidb = build_roidb(dataset, proposals, flip=settings.flip, transpose=settings.transpose,
                        bg_lo=settings.bg_lo)
    if roidb.dropped:
        log(f"{len(roidb.dropped)} images have no usable object (none, or only difficult ones) "
            "and are left out")
    if not roidb:
        raise TrainingError(f"{settings.data}: no image of split {settings.split!r} has a "
                            "non-difficult object to train on")
    return dataset, roidb


def save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds):
    arrays = {f"param/{key}": value for key, value in model.params.items()}
    arrays.update({f"velocity/{key}": value for key, value in sgd.velocity.items()})
    arrays["bbox_means"], arrays["bbox_stds"] = means, stds
    meta = model.metadata()
    meta.update(format=CHECKPOINT_FORMAT, settings=settings.fingerprint(),
                iteration=state.iteration, elapsed=state.elapsed,
                pretrain_seconds=state.pretrain_seconds, frozen=sorted(model.frozen),
                rng=rng.bit_generator.state, sampler=sampler.state(),
                history=asdict(state.history))
    write_npz(settings.checkpoint_path, arrays, meta)


def load_checkpoint(settings, model, sampler, rng):
    """Restore a checkpoint into model, sampler and rng; returns (TrainState, SGD, means, stds)."""
    path = settings.checkpoint_path
    arrays, meta = read_npz(path, expected_format=CHECKPOINT_FORMAT)
    if meta.get("settings") != settings.fingerprint():
        saved = meta.get("settings") or {}
        differ = sorted(key for key, value in settings.fingerprint().items()
                        if saved.get(key) != value)
        raise TrainingError(f"{path}: the checkpoint was written by a run with other settings "
                            f"({', '.join(differ)} differ); resume with the same options, or "
                            "start afresh without --resume")
    if meta.get("classes") != model.classes:
        raise TrainingError(f"{path}: the checkpoint's classes {meta.get('classes')} are not "
                            f"the dataset's {model.classes}")
    model.set_params({key[len("param/"):]: value for key, value in arrays.items()
                      if key.startswith("param/")}, path)
    model.frozen = set(meta["frozen"])
    sgd = SGD(model.params, model.trainable())
    sgd.velocity = {key: arrays[f"velocity/{key}"].copy() for key in sgd.keys}
    sampler.set_state(meta["sampler"])
    rng.bit_generator.state = meta["rng"]
    state = TrainState(iteration=meta["iteration"], elapsed=meta["elapsed"],
                       pretrain_seconds=meta["pretrain_seconds"], history=History(**meta["history"]))
    return state, sgd, arrays["bbox_means"], arrays["bbox_stds"]


def progress_bar(desc, iters, seconds, enabled):
    """A tqdm bar over iterations, or over the seconds of a time budget (then it shows seconds
    done out of the budget, and the postfix says which iteration)."""
    if iters is not None:
        return tqdm(total=iters, desc=desc, unit="it", disable=not enabled)
    return tqdm(total=round(seconds), desc=desc, disable=not enabled,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} s{postfix}")


def _budget_fraction(settings, state, seconds_now):
    """How much of the run is done, in [0, 1]: iterations, or wall time, over the budget."""
    if settings.iters is not None:
        return state.iteration / settings.iters
    return seconds_now / (settings.minutes * 60)


def train(settings, progress=True, log=print):
    """Run (or resume) a training run; returns (model, TrainState), the model as saved (the
    target normalisation folded into bbox_pred, so it emits raw deltas). Raises TrainingError
    when the loss stops being finite (after saving nothing: the last checkpoint stays as it was)."""
    dataset, roidb = prepare_data(settings, progress, log)
    rng = np.random.default_rng(settings.seed)
    model = FastRCNN(settings.config, dataset.classes, backend=settings.backend, rng=rng)
    config = model.config
    scales = settings.scales or DEFAULT_TRAIN_SCALES.get(config.name, (config.scale,))
    means, stds = target_stats(roidb, model.num_classes)
    sampler = MinibatchSampler(roidb, IMAGES_PER_BATCH, rng=rng)
    state = TrainState()

    resumed = settings.checkpoint_path if os.path.exists(settings.checkpoint_path) else None
    if settings.resume and resumed:
        state, sgd, means, stds = load_checkpoint(settings, model, sampler, rng)
        log(f"resuming from {resumed} at iteration {state.iteration}")
    else:
        if settings.resume:
            log(f"no checkpoint at {settings.checkpoint_path}: starting from the beginning")
        start = time.perf_counter()
        if settings.init is not None:
            from .pretrain import init_from_model, init_path

            log(f"initialising every layer up to fc7 from {init_path(settings.init)}; new heads "
                f"for {model.num_classes} classes")
            init_from_model(model, settings.init, rng)
        elif settings.pretrain:
            from .pretrain import pretrain_classifier, to_detector

            budget = ({"iters": max(1, settings.iters // 4)} if settings.iters is not None else
                      {"seconds": PRETRAIN_FRACTION * settings.minutes * 60})
            log(f"pretraining the trunk as a {model.num_classes}-way crop classifier "
                f"({config.crop_size}x{config.crop_size} crops)")
            state.history.pretrain = pretrain_classifier(model, roidb, rng, lr=settings.lr,
                                                         progress=progress, **budget)
            to_detector(model, rng)
        else:
            # A frozen layer keeps its initial weights: worth it for learned filters, not for
            # random ones. From scratch every layer trains.
            model.frozen = set()
        sgd = SGD(model.params, model.trainable())
        state.pretrain_seconds = state.elapsed = time.perf_counter() - start
        save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds)

    images = {}
    bar = progress_bar("train", settings.iters, None if settings.minutes is None else
                       settings.minutes * 60, progress)
    bar.update(state.iteration if settings.iters is not None else round(state.elapsed))
    started = time.perf_counter() - state.elapsed
    last_save = state.iteration
    try:
        while (done := _budget_fraction(settings, state, time.perf_counter() - started)) < 1:
            lr = settings.lr * (LR_GAMMA if done >= LR_STEP_FRACTION else 1.0)
            batch = get_minibatch(sampler.next_batch(), model.num_classes, means, stds, rng,
                                  scales=scales, max_size=config.max_size,
                                  pixel_mean=config.pixel_mean,
                                  bg_lo=settings.bg_lo, shuffle_colours=settings.shuffle_colours,
                                  images=images)
            # A diverging run overflows somewhere first; the finite-loss check below says so
            # once, in words, instead of NumPy's warnings from deep inside the layers.
            with np.errstate(over="ignore", invalid="ignore"):
                cls_score, bbox_pred = model.forward(batch.images, batch.rois, train=True, rng=rng)
                loss, dcls_score, dbbox_pred = multitask_loss(
                    cls_score, bbox_pred, batch.labels, batch.bbox_targets, batch.bbox_weights)
                loss_cls = float(softmax_cross_entropy(cls_score, batch.labels)[0])
            if not np.isfinite(loss):
                raise TrainingError(
                    f"the loss became {float(loss)} at iteration {state.iteration} (classification "
                    f"{loss_cls:.4g}): training diverged. Try a smaller learning rate (--lr, now "
                    f"{settings.lr:g}); the last good checkpoint, iteration {last_save}, is "
                    f"{settings.checkpoint_path}")
            model.backward(dcls_score, dbbox_pred)
            sgd.step(model.grads, lr)
            state.iteration += 1
            state.elapsed = time.perf_counter() - started
            state.history.append(iteration=state.iteration, loss=float(loss), loss_cls=loss_cls,
                                 loss_box=float(loss) - loss_cls, lr=lr, seconds=state.elapsed)
            bar.n = state.iteration if settings.iters is not None else min(round(state.elapsed), bar.total)
            bar.set_postfix_str(f"it {state.iteration}, loss {float(loss):.3f} (cls {loss_cls:.3f} "
                                f"box {float(loss) - loss_cls:.3f}), lr {lr:g}")
            if state.iteration - last_save >= settings.checkpoint_every:
                save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds)
                last_save = state.iteration
    finally:
        bar.close()
    save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds)
    model.save(settings.out, bbox_means=means, bbox_stds=stds)
    plot_loss(state.history, settings.loss_plot_path)
    # Return what was saved: a model whose bbox_pred emits raw deltas, ready for detect.
    model.params = model.folded_params(means, stds)
    return model, state


def plot_loss(history, path, smooth=50):
    """The loss curve: total, classification and box loss per iteration (a moving average over
    `smooth` iterations over the raw values), the learning-rate step marked."""
    # A Figure of its own, not pyplot: training inside a notebook leaves its plots alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.asarray(history.iteration)
    for name, color in (("loss", "black"), ("loss_cls", "tab:blue"), ("loss_box", "tab:orange")):
        y = np.asarray(getattr(history, name))
        ax.plot(x, y, color=color, alpha=0.2, linewidth=0.8)
        if len(y) >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(x[smooth - 1:], np.convolve(y, kernel, mode="valid"), color=color,
                    label={"loss": "multi-task loss", "loss_cls": "classification (log loss)",
                           "loss_box": "box regression (smooth L1)"}[name])
    lrs = np.asarray(history.lr)
    steps = np.flatnonzero(np.diff(lrs) != 0)
    for step in steps:
        ax.axvline(x[step + 1], color="grey", linestyle="--", linewidth=1)
        ax.text(x[step + 1], ax.get_ylim()[1] * 0.95, " lr x0.1", color="grey", va="top")
    ax.set_xlabel("iteration (N=2 images, R=128 RoIs each)")
    ax.set_ylabel("loss")
    ax.set_title("Fast R-CNN training")
    if len(x) >= smooth:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def train_command(settings):
    """`minifrcnn train`: train, print where everything went; exit status 0, or 1 with a message
    (a broken dataset, a diverged loss, a checkpoint from another run), never a traceback."""
    import sys

    from .data.voc import DatasetError

    start = time.perf_counter()
    try:
        model, state = train(settings)
    except (DatasetError, TrainingError, ModelFileError, ValueError) as error:
        print(f"minifrcnn train: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nminifrcnn train: interrupted. The last checkpoint is {settings.checkpoint_path}; "
              "continue with the same command and --resume", file=sys.stderr)
        return 130
    history = state.history
    tail = history.loss[-100:]
    print(f"trained {state.iteration} iterations in {time.perf_counter() - start:.0f} s "
          f"(final loss {np.mean(tail):.3f}, mean of the last {len(tail)})")
    print(f"model:      {settings.out}")
    print(f"loss curve: {settings.loss_plot_path}")
    print(f"checkpoint: {settings.checkpoint_path}")
    return 0
