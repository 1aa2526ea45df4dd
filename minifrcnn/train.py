"""Training a Fast R-CNN (paper section 2.3; fast-rcnn-spec.md, "Training recipe").

    dataset + cached proposals --build_roidb--> roidb (+ flips) --target_stats--> means, stds
    [start from another model's layers up to fc7, new heads]                      (--init)
    [or continue a model on its own classes, heads and SVD factors kept]        (--finetune)
    [or pretrain the trunk as a crop classifier, then convert it to a detector]   (--pretrain)
    repeat: minibatch (N=2 images, R=128 RoIs) -> train_step: forward -> multitask loss ->
            backward -> SGD
    save: the model file with the target normalisation folded into bbox_pred; the history
          of losses (minifrcnn.viz.loss_figure draws it)

`train_step` is the paper's loop body, section 2.3, on one screen; `train` is the run around it
(budget, checkpoints, resume, progress, logging) and stays out of it.

A run is bounded by iterations (`iters`) or by wall time (`minutes`, pretraining included). The
learning rate drops 10x at 75 % of the budget, where the paper drops it (30k of 40k iterations).

Checkpoints (`<out>.ckpt.npz`, written atomically every `checkpoint_every` iterations and at the
end) hold the raw weights, the momentum, the statistics, the random generator's state, the
sampler's position and the loss history: `resume=True` continues an `iters` run exactly where it
stopped, and reaches bit for bit the weights of a run that never stopped. Without a checkpoint
to resume from, it refuses (a run that silently started afresh would look like a resumed one).
"""

import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .data.minibatch import (BG_THRESHOLD_HI, BG_THRESHOLD_LO, IMAGES_PER_BATCH, ImageCache,
                             MinibatchSampler, build_roidb, get_minibatch, target_stats)
from .data.voc import load_voc
from .layers import multitask_loss
from .model import CONFIGS, LINEAR_LAYERS, FastRCNN, ModelFileError, read_npz, write_npz
from .pretrain import copy_trunk, init_path, load_init_model, pretrain_classifier, to_detector
from .proposals.cache import cached_proposals, default_cache_dir
from .schedule import (TrainingError, budget_fraction, learning_rate, progress_bar, quiet,
                       update_bar)
from .sgd import SGD

CHECKPOINT_FORMAT = "minifrcnn-checkpoint"
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


# Settings added to the fingerprint after checkpoints had been written without them: their
# values then (load_checkpoint reads an older checkpoint as having them).
SETTINGS_ADDED_LATER = {"lam": 1.0, "train_from": None}


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
    finetune: str = None            # a model file to continue training as it is: same classes,
                                    # heads kept, factored (compressed) layers kept
    lr: float = None
    scales: tuple = None
    flip: bool = True
    transpose: bool = False         # also train on every image transposed (data without an up)
    shuffle_colours: bool = None    # default: on for the configurations in SHUFFLE_COLOURS_BY_DEFAULT
    bg_lo: float = BG_THRESHOLD_LO  # background RoIs: best IoU in [bg_lo, 0.5)
    lam: float = 1.0                # weight of the box loss (eq. 1); 0 trains classification only
    train_from: str = None          # the lowest layer that learns (frozen_below); None: the
                                    # configuration's frozen layers when starting from a trained
                                    # model, nothing frozen from scratch
    checkpoint_every: int = 500
    resume: bool = False            # continue from checkpoint_path; without one, train refuses
                                    # (TrainingError) rather than silently start afresh

    def __post_init__(self):
        if self.config not in CONFIGS:
            raise ValueError(f"config must be one of {', '.join(CONFIGS)}, got {self.config!r}")
        if (self.iters is None) == (self.minutes is None):
            raise ValueError("give exactly one of iters and minutes")
        if self.iters is not None and self.iters < 1:
            raise ValueError(f"iters must be at least 1, got {self.iters}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if sum((self.init is not None, self.pretrain, self.finetune is not None)) > 1:
            raise ValueError("give at most one of init, pretrain and finetune")
        if not 0 <= self.bg_lo < BG_THRESHOLD_HI:
            raise ValueError(f"bg_lo must be in [0, {BG_THRESHOLD_HI}), got {self.bg_lo}")
        if not self.lam >= 0:
            raise ValueError(f"lam must be 0 or more, got {self.lam}")
        order = layer_order(CONFIGS[self.config])
        if self.train_from is not None and self.train_from not in order:
            raise ValueError(f"train_from must be a layer of {self.config}: {', '.join(order)}; "
                             f"got {self.train_from!r}")
        if self.lr is None:
            started = self.init is not None or self.finetune is not None
            self.lr = DEFAULT_LR.get(self.config, 0.001) * (INIT_LR_FACTOR if started else 1)
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
        keys = ("split", "config", "iters", "minutes", "seed", "backend", "pretrain", "init",
                "finetune", "lr",
                "scales", "flip", "transpose", "shuffle_colours", "bg_lo", "lam", "train_from")
        values = asdict(self)
        return {key: list(values[key]) if isinstance(values[key], tuple) else values[key]
                for key in keys}


def layer_order(config):
    """The layers in the order of the forward pass, the two sibling heads last: conv1_1, ...,
    fc6, fc7, cls_score, bbox_pred."""
    return config.conv_names + list(LINEAR_LAYERS)


def frozen_below(config, train_from):
    """The layers a run that trains from `train_from` upwards keeps fixed: every layer before it
    in layer_order. The paper's Table 5 trains from conv3_1 (VGG16) or from fc6; "bbox_pred"
    freezes everything but the box regressor, the second stage of stage-wise training
    (Table 6)."""
    order = layer_order(config)
    return set(order[:order.index(train_from)])


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


def prepare_data(settings, progress=True, log=None, classes=None):
    """The dataset, its proposals (from the cache, computed where missing) and the roidb.
    log: called with a line of text for what a user should know (None: say nothing);
    classes: the class list to read the dataset with (None: the names its files use, sorted)."""
    log = log or quiet
    dataset = load_voc(settings.data, settings.split, classes=classes)
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


def load_finetune_model(path, config_name):
    """The model a --finetune argument names, read before any data. Its configuration is kept,
    compressed layers included; its name must be the one being trained (`config_name`).
    Raises ModelFileError naming the file."""
    source = FastRCNN.load(path, backend="numpy")
    if source.config.name != config_name:
        raise ModelFileError(f"{path}: a {source.config.name!r} model; fine-tuning keeps a "
                             f"model's configuration, so train it with --config "
                             f"{source.config.name}")
    return source


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
    saved = {**SETTINGS_ADDED_LATER, **(meta.get("settings") or {})}
    if saved != settings.fingerprint():
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


def train_step(model, minibatch, optimizer, lr, rng, lam=1.0):
    """One iteration of Fast R-CNN training (paper section 2.3) on one minibatch.

    model: a FastRCNN; minibatch: a Minibatch (N images, R RoIs, from get_minibatch);
    optimizer: an SGD over model.trainable(); lr: this iteration's learning rate;
    rng: np.random.Generator (dropout); lam: the weight of the box loss (eq. 1).

    Returns (loss, loss_cls, loss_box) as floats: the multi-task loss and its two terms, the
    classification log loss and lam times the box loss. Raises TrainingError, before any weight
    has changed, when the loss is not finite.
    """
    # A diverging run overflows somewhere first; the finite-loss check below says so once, in
    # words, instead of NumPy's warnings from deep inside the layers.
    with np.errstate(over="ignore", invalid="ignore"):
        cls_score, bbox_pred = model.forward(minibatch.images, minibatch.rois, train=True, rng=rng)
        result = multitask_loss(cls_score, bbox_pred, minibatch.labels, minibatch.bbox_targets,
                                minibatch.bbox_weights, lam)
    loss, dcls_score, dbbox_pred = result
    if not np.isfinite(loss):
        raise TrainingError(f"the loss became {float(loss)} (classification "
                            f"{float(result.loss_cls):.4g}): training diverged")
    model.backward(dcls_score, dbbox_pred)          # fills model.grads, layer by layer
    optimizer.step(model.grads, lr)                 # momentum, weight decay (sgd.py)
    return float(loss), float(result.loss_cls), float(result.loss_box)


def train(settings, progress=True, log=None):
    """Run (or resume) a training run; returns (model, TrainState), the model as saved (the
    target normalisation folded into bbox_pred, so it emits raw deltas). Raises TrainingError
    when the loss stops being finite (after saving nothing: the last checkpoint stays as it was)
    or when resume is asked for and there is no checkpoint, and minifrcnn.model.ModelFileError
    for an init model that cannot be used; both before the data and its proposals are read.
    log: called with a line of text at each stage (None: say nothing)."""
    log = log or quiet
    if settings.resume and not os.path.exists(settings.checkpoint_path):
        raise TrainingError(f"--resume: no checkpoint at {settings.checkpoint_path}; run without "
                            "--resume to start afresh")
    init_source = finetune_source = None
    if settings.init is not None and not settings.resume:
        init_source = load_init_model(settings.init, settings.config)
    if settings.finetune is not None:           # read when resuming too: it has the config
        finetune_source = load_finetune_model(settings.finetune, settings.config)
    dataset, roidb = prepare_data(settings, progress, log, classes=(
        None if finetune_source is None else finetune_source.classes))
    rng = np.random.default_rng(settings.seed)
    config = settings.config if finetune_source is None else finetune_source.config
    model = FastRCNN(config, dataset.classes, backend=settings.backend, rng=rng)
    if model.backend.name != "numpy":
        compiling = time.perf_counter()
        model.compile_kernels()
        log(f"{model.backend.name} kernels compiled in {time.perf_counter() - compiling:.1f} s, "
            "before the training clock starts (cached for later runs)")
    config = model.config
    scales = settings.scales or DEFAULT_TRAIN_SCALES.get(config.name, (config.scale,))
    means, stds = target_stats(roidb, model.num_classes)
    sampler = MinibatchSampler(roidb, IMAGES_PER_BATCH, rng=rng)
    state = TrainState()

    # User-facing counts are of object classes, K = num_classes - 1: the background is not one.
    object_classes = model.num_classes - 1
    if settings.resume:
        state, sgd, means, stds = load_checkpoint(settings, model, sampler, rng)
        log(f"resuming from {settings.checkpoint_path} at iteration {state.iteration}")
    else:
        start = time.perf_counter()
        if init_source is not None:
            log(f"initialising every layer up to fc7 from {init_path(settings.init)}; new heads "
                f"for {object_classes} object classes and the background")
            copy_trunk(init_source, model)
            to_detector(model, rng)
        elif finetune_source is not None:
            ranks = ", ".join(f"{name} at rank {rank}" for name, rank in config.svd)
            log(f"continuing {settings.finetune} on its {object_classes} object classes: every "
                f"layer and both heads kept{f', {ranks}' if ranks else ''}")
            # The file's bbox_pred emits raw deltas (the statistics folded in when it was
            # saved); training regresses standardised targets, so unfold with this data's own.
            model.set_params(finetune_source.unfolded_params(means, stds), settings.finetune)
        elif settings.pretrain:
            budget = ({"iters": max(1, settings.iters // 4)} if settings.iters is not None else
                      {"seconds": PRETRAIN_FRACTION * settings.minutes * 60})
            log(f"pretraining the trunk as a crop classifier of {object_classes} object classes "
                f"and the background ({config.crop_size}x{config.crop_size} crops)")
            state.history.pretrain = pretrain_classifier(model, roidb, rng, lr=settings.lr,
                                                         progress=progress, **budget)
            to_detector(model, rng)
        else:
            # A frozen layer keeps its initial weights: worth it for learned filters, not for
            # random ones. From scratch every layer trains.
            model.frozen = set()
        if settings.train_from is not None:
            model.frozen = frozen_below(config, settings.train_from)
            kept = [name for name in layer_order(config) if name in model.frozen]
            log(f"training from {settings.train_from}: "
                + (f"{', '.join(kept)} stay as they started" if kept else "every layer learns"))
        sgd = SGD(model.params, model.trainable())
        state.pretrain_seconds = state.elapsed = time.perf_counter() - start
        save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds)

    images = ImageCache()
    budget_seconds = None if settings.minutes is None else settings.minutes * 60
    bar = progress_bar("train", settings.iters, budget_seconds, progress)
    update_bar(bar, state.iteration, settings.iters, state.elapsed)
    started = time.perf_counter() - state.elapsed
    last_save = state.iteration
    try:
        while (done := budget_fraction(state.iteration, settings.iters,
                                       time.perf_counter() - started, budget_seconds)) < 1:
            lr = learning_rate(settings.lr, done)
            batch = get_minibatch(sampler.next_batch(), model.num_classes, means, stds, rng,
                                  scales=scales, max_size=config.max_size,
                                  pixel_mean=config.pixel_mean,
                                  bg_lo=settings.bg_lo, shuffle_colours=settings.shuffle_colours,
                                  images=images)
            try:
                loss, loss_cls, loss_box = train_step(model, batch, sgd, lr, rng, settings.lam)
            except TrainingError as error:
                raise TrainingError(
                    f"{error} at iteration {state.iteration}. Try a smaller learning rate (--lr, "
                    f"now {settings.lr:g}); the last good checkpoint, iteration {last_save}, is "
                    f"{settings.checkpoint_path}") from None
            state.iteration += 1
            state.elapsed = time.perf_counter() - started
            state.history.append(iteration=state.iteration, loss=loss, loss_cls=loss_cls,
                                 loss_box=loss_box, lr=lr, seconds=state.elapsed)
            update_bar(bar, state.iteration, settings.iters, state.elapsed)
            bar.set_postfix_str(f"it {state.iteration}, loss {loss:.3f} (cls {loss_cls:.3f} "
                                f"box {loss_box:.3f}), lr {lr:g}")
            if state.iteration - last_save >= settings.checkpoint_every:
                save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds)
                last_save = state.iteration
    finally:
        bar.close()
    save_checkpoint(settings, model, sgd, sampler, rng, state, means, stds)
    model.save(settings.out, bbox_means=means, bbox_stds=stds)
    # Return what was saved: a model whose bbox_pred emits raw deltas, ready for detect.
    model.params = model.folded_params(means, stds)
    return model, state
