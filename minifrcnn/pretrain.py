"""Initialising a detector from a pre-trained classifier (paper section 2.2).

Fast R-CNN starts from a network trained to classify whole images (VGG16 on ImageNet). With no
ImageNet at hand, minifrcnn makes the same kind of start from the training data itself: it trains
the trunk (convs, fc6, fc7) plus a throw-away last layer `fc8` as an image classifier on square
crops, each crop the warped region of an object (labelled with its class) or of a background
proposal (label 0), as R-CNN fine-tuned its classifier on warped regions.

The classifier and the detector share every layer up to fc7; three changes turn one into the
other (`to_detector`):

1. the last max-pool becomes RoI pooling (FastRCNN.classify_forward max-pools, forward RoI-pools:
   a crop of config.crop_size pixels max-pools to exactly roi_size, the size fc6 expects);
2. the last fully connected layer and its softmax (fc8, K+1 classes) are replaced by the two
   sibling heads, cls_score (K+1) and bbox_pred (4(K+1)), freshly drawn from Gaussians with std
   0.01 and 0.001;
3. the network takes two inputs, images and their RoIs.
"""

import os
import time

import numpy as np

from .data import transforms
from .data.minibatch import FG_THRESHOLD, ImageCache, entry_view
from .layers import linear_backward, linear_forward, softmax_cross_entropy
from .model import CONFIGS, FastRCNN, ModelFileError, base_layer
from .schedule import TrainingError, budget_fraction, learning_rate, progress_bar, update_bar
from .sgd import SGD

CROPS_PER_BATCH = 64
IMAGES_PER_BATCH = 8             # crops of a batch come from this many images ...
FG_CROP_FRACTION = 0.75          # ... and three in four are objects
CROP_FG_THRESHOLD = 0.7          # object crops: proposals this close to a box (gt boxes included)
CROP_BG_THRESHOLD = 0.3          # background crops: proposals farther than this from every box


def _is_head(key):
    """Whether parameter `key` belongs to one of the two sibling heads (factored or not)."""
    return base_layer(key.rsplit(".", 1)[0]) in ("cls_score", "bbox_pred")


def _crop_pools(roidb):
    """Per roidb entry: indices of its object-like RoIs and of its background RoIs."""
    pools = []
    for entry in roidb:
        fg = np.flatnonzero(entry.max_overlaps >= CROP_FG_THRESHOLD)
        bg = np.flatnonzero(entry.max_overlaps < CROP_BG_THRESHOLD)
        pools.append((fg, bg))
    return pools


def crop_batch(roidb, pools, config, rng, images):
    """CROPS_PER_BATCH crops (B, 3, S, S) float32, S = config.crop_size, and labels (B,).

    Draws IMAGES_PER_BATCH entries, then from each a share of object crops (label: the class of
    the box they overlap, whose IoU >= 0.7 >= FG_THRESHOLD) and of background crops (label 0),
    with replacement: an image has few boxes but many crops are needed.
    """
    per_image = CROPS_PER_BATCH // IMAGES_PER_BATCH
    n_fg = round(FG_CROP_FRACTION * per_image)
    crops, labels = [], []
    for index in rng.integers(len(roidb), size=IMAGES_PER_BATCH):
        entry, (fg, bg) = roidb[index], pools[index]
        chosen = [rng.choice(fg, n_fg)] if len(fg) else []
        if len(bg):
            chosen.append(rng.choice(bg, per_image - n_fg if len(fg) else per_image))
        chosen = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        image = entry_view(entry, images)
        for roi in chosen:
            crop = transforms.crop_resize(image, entry.rois[roi], config.crop_size)
            crops.append(transforms.to_network(crop, config.pixel_mean))
            is_object = entry.max_overlaps[roi] >= FG_THRESHOLD
            labels.append(entry.labels[roi] if is_object else 0)
    return np.stack(crops), np.asarray(labels, np.int64)


def pretrain_classifier(model, roidb, rng, *, iters=None, seconds=None, lr=0.01, progress=True):
    """Train model's trunk (every conv, fc6, fc7) with a new fc8 as a (K+1)-way crop classifier.

    roidb: from minifrcnn.data.minibatch.build_roidb; rng: np.random.Generator; stop after
    `iters` iterations or `seconds` of wall time, whichever is given (lr drops 10x at 75 %).
    The model's parameters are trained in place (frozen layers included: this is the stage that
    learns them). Returns the history, a list of (iteration, loss, accuracy).
    """
    if (iters is None) == (seconds is None):
        raise ValueError("give exactly one of iters and seconds")
    width = model.config.fc[-1]
    fc8 = {"fc8.w": (rng.standard_normal((model.num_classes, width)) * 0.01).astype(model.dtype),
           "fc8.b": np.zeros(model.num_classes, model.dtype)}
    trunk = [key for key in model.params if not _is_head(key)]
    params = {**{key: model.params[key] for key in trunk}, **fc8}
    sgd = SGD(params, list(params))
    frozen, model.frozen = model.frozen, set()        # the classifier learns every layer
    pools = _crop_pools(roidb)
    images = ImageCache()
    history = []
    start = time.perf_counter()
    bar = progress_bar("pretrain", iters, seconds, progress)
    try:
        iteration = 0
        while (done := budget_fraction(iteration, iters, time.perf_counter() - start,
                                       seconds)) < 1:
            crops, labels = crop_batch(roidb, pools, model.config, rng, images)
            fc7 = model.classify_forward(crops, train=True, rng=rng)
            scores, fc8_cache = linear_forward(fc7, params["fc8.w"], params["fc8.b"])
            loss, dscores = softmax_cross_entropy(scores, labels)
            if not np.isfinite(loss):
                raise TrainingError(f"the pretraining loss became {float(loss)} at iteration "
                                    f"{iteration}: training diverged. Try a smaller learning "
                                    f"rate (--lr, now {lr:g})")
            dfc7, dw, db = linear_backward(dscores, fc8_cache)
            model.trunk_backward(dfc7)
            grads = {**model.grads, "fc8.w": dw, "fc8.b": db}
            sgd.step(grads, learning_rate(lr, done))
            accuracy = float(np.mean(scores.argmax(axis=1) == labels))
            history.append((iteration, float(loss), accuracy))
            iteration += 1
            update_bar(bar, iteration, iters, time.perf_counter() - start)
            bar.set_postfix_str(f"it {iteration}, loss {loss:.3f}, accuracy {accuracy:.2f}")
    finally:
        model.frozen = frozen
        bar.close()
    return history


# Models that ship with minifrcnn, which --init accepts by name (how each was trained:
# minifrcnn/pretrained/README.md).
BUILTIN_MODELS = {"shapes": os.path.join(os.path.dirname(__file__), "pretrained",
                                         "small_shapes.npz")}


def init_path(name_or_path):
    """The model file an --init argument means: a name in BUILTIN_MODELS, else a path."""
    return BUILTIN_MODELS.get(name_or_path, name_or_path)


def load_init_model(name_or_path, config):
    """The trained network an --init argument names (a BUILTIN_MODELS name or a model file),
    checked against `config` (a Config or a CONFIGS name), the configuration to be trained.
    Reads nothing but that file, so a training run checks it before its data.

    Raises ModelFileError naming the file when it cannot be read or holds other layers (stages,
    RoI size, fc widths) or another input rule (pixel mean, input scale)."""
    path = init_path(name_or_path)
    config = CONFIGS[config] if isinstance(config, str) else config
    source = FastRCNN.load(path, backend="numpy")
    if source.config.svd:
        raise ModelFileError(f"{path}: a compressed model (truncated SVD of "
                             f"{', '.join(f'{n} to rank {r}' for n, r in source.config.svd)}); "
                             "start from the model before compression, or continue training "
                             "this one on its own classes with --finetune")
    # What the copied weights depend on: the layers' shapes and what the input pixels mean. The
    # scale rule, dropout and frozen layers are the new training's own business.
    differ = [name for name in ("stages", "roi_size", "fc", "pixel_mean", "input_scale")
              if getattr(source.config, name) != getattr(config, name)]
    if differ:
        raise ModelFileError(f"{path}: a {source.config.name!r} model whose {', '.join(differ)} "
                             f"differ from the {config.name!r} configuration being "
                             "trained; initialise from a model of the same configuration")
    return source


def copy_trunk(source, model):
    """Copy every layer up to fc7 (the convs, fc6, fc7) of FastRCNN `source` into `model`; the two
    heads, whose sizes depend on the classes, are left to to_detector."""
    for key in model.params:
        if not _is_head(key):
            model.params[key] = source.params[key].astype(model.dtype, copy=True)


def init_from_model(model, path, rng):
    """Start a detector from another trained network of the same configuration, as the paper
    starts from an ImageNet classifier: every layer up to fc7 is copied from the model file at
    `path` (trained on any classes; a BUILTIN_MODELS name means that file), and the two sibling
    heads are drawn afresh by to_detector. Raises ModelFileError as load_init_model does."""
    copy_trunk(load_init_model(path, model.config), model)
    to_detector(model, rng)


def to_detector(model, rng):
    """The conversion: fc8 is gone (it never was one of the model's parameters) and the two
    sibling heads are drawn afresh, cls_score ~ N(0, 0.01) and bbox_pred ~ N(0, 0.001), biases 0.
    RoI pooling in place of the last max-pool is FastRCNN.forward itself."""
    for name, std in (("cls_score", 0.01), ("bbox_pred", 0.001)):
        w = model.params[f"{name}.w"]
        model.params[f"{name}.w"] = (rng.standard_normal(w.shape) * std).astype(model.dtype)
        model.params[f"{name}.b"] = np.zeros_like(model.params[f"{name}.b"])
