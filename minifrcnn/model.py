"""The Fast R-CNN network (paper section 2, figure 1), its configurations and its model files.

    images (N, 3, H, W) --conv/relu, max-pool 2x2 between stages--> conv features (N, C, H/s, W/s)
    features + rois (R, 5) --RoI pooling (PH, PW), spatial_scale 1/s--> (R, C, PH, PW)
    --fc6, relu, dropout--> --fc7, relu, dropout--> (R, D)
        --cls_score--> (R, K+1) class scores           (the softmax lives in the loss and in detect)
        --bbox_pred--> (R, 4(K+1)) class-specific box deltas

Every layer is one of `minifrcnn.layers` (or its Numba/CUDA twin, chosen by `backend`). A
training forward (`train=True`) keeps each layer's cache in a list; `backward` walks that list in
reverse, layer by layer, and writes the gradient of every trainable parameter into `model.grads`:
there is no autograd. A test-time forward keeps no cache: each is dropped as soon as its layer
has run (for VGG16 and 2000 RoIs they would hold hundreds of megabytes for nothing).

The network is described by a `Config`: conv stages (a 2x2 max-pool follows every stage but the
last), the RoI pooling size, the fc widths, which layers are frozen, and the image scale rule.
The same trunk doubles as the image classifier that initialises a detector (section 2.2): with
`rois=None` the last stage is followed by an ordinary max-pool instead of RoI pooling, which is
exactly the change the paper makes when it converts a classifier into a Fast R-CNN.

Parameters and gradients are plain dicts keyed "<layer>.w" / "<layer>.b": conv weights
(F, C, 3, 3), linear weights (out, in), as Caffe and PyTorch store them. A linear layer
compressed by truncated SVD (minifrcnn.svd, config.svd) is stored as its two factors,
"<layer>_first.w" and "<layer>_second.w" / ".b", and runs as two linear layers.
"""

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .backend import get_backend

# Class 0 of every model, and of every dataset: the RoIs that are no object.
BACKGROUND = "__background__"

MODEL_FORMAT = "minifrcnn-model"
MODEL_VERSION = 1


@dataclass(frozen=True)
class Config:
    """A Fast R-CNN architecture and its input rule.

    stages: conv widths per stage, e.g. ((64, 64), (128, 128), ...): every conv is 3x3, pad 1,
        stride 1, followed by ReLU; a 2x2 max-pool (stride 2) follows each stage but the last.
        The feature stride is therefore 2 ** (len(stages) - 1) and spatial_scale its inverse.
    roi_size: (PH, PW), the RoI pooling output (7x7 for VGG16), matching the input of fc6.
    fc: widths of fc6 and fc7.
    dropout: probability of dropping a unit after fc6 and after fc7 (0.5 in the paper).
    frozen: layers that are never updated (VGG16: conv1_1 to conv2_2, as in the paper).
    scale, max_size: the scale rule (shorter side, cap on the longer side).
    pixel_mean: (3,) RGB mean subtracted from every pixel.
    svd: ((layer, rank), ...), the linear layers replaced by their truncated SVD (minifrcnn.svd,
        paper section 3.1): each named layer is two, `<layer>_first` (rank, in), no bias, then
        `<layer>_second` (out, rank) with the bias. Empty for a model as trained; see `ranks`.
    input_scale: the network multiplies its input by this before conv1, as Caffe's data layer
        `scale` does. VGG16's ImageNet weights expect raw pixels minus the mean (1.0). Networks
        trained here from scratch use 1/64, which brings the pixels' spread of about +-64 to
        about +-1: conv1's gradient, which grows with its input, then matches the other layers'
        (with raw pixels it was ~100x larger and training stalled or diverged).
    """

    name: str
    stages: tuple
    roi_size: tuple
    fc: tuple
    dropout: float = 0.5
    frozen: tuple = ()
    scale: int = 600
    max_size: int = 1000
    pixel_mean: tuple = (122.77, 115.95, 102.98)
    input_scale: float = 1.0
    svd: tuple = ()

    @property
    def spatial_scale(self):
        """Feature-map pixels per input pixel (1/16 for VGG16)."""
        return 1.0 / 2 ** (len(self.stages) - 1)

    @property
    def conv_names(self):
        """VGG's names: conv<stage>_<index>, both counted from 1."""
        return [f"conv{s + 1}_{i + 1}" for s, widths in enumerate(self.stages)
                for i in range(len(widths))]

    @property
    def crop_size(self):
        """Side of the square crops the classifier (pretraining) sees: the size whose last conv
        map, max-pooled 2x2, is exactly roi_size (224 for VGG16: 14x14 -> 7x7)."""
        return self.roi_size[0] * 2 ** len(self.stages)

    @property
    def ranks(self):
        """{layer: rank} of the layers factored by truncated SVD (empty when none is)."""
        return dict(self.svd)

    def with_ranks(self, ranks):
        """This configuration with the layers of `ranks` ({layer: rank}) factored."""
        return dataclasses.replace(self, svd=tuple(sorted(ranks.items(), key=lambda item:
                                                          LINEAR_LAYERS.index(item[0]))))

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}")
        values = dict(values)
        values["stages"] = tuple(tuple(int(w) for w in stage) for stage in values["stages"])
        for key in ("roi_size", "fc", "frozen", "pixel_mean"):
            if key in values:
                values[key] = tuple(values[key])
        if "svd" in values:
            values["svd"] = tuple((str(name), int(rank)) for name, rank in values["svd"])
        return cls(**values)


CONFIGS = {
    # For tests and whole-network gradient checks: two tiny stages, a 2x2 RoI pool at 1/2.
    "tiny": Config("tiny", stages=((4,), (6,)), roi_size=(2, 2), fc=(8, 8), scale=32,
                   max_size=48, input_scale=1 / 64),
    # The demo and lessons: trains on 2 CPU cores in minutes on images of 160-320 px. Four
    # one-conv stages give a feature stride of 8, fine enough for 15-pixel objects, and the
    # 6x6 RoI pool feeds fc6 with 128 * 36 inputs. No dropout: in a run of a few thousand
    # iterations it slows learning far more than it helps (on the synthetic shapes, 800
    # iterations reached mAP 0.18 with dropout 0.5 and 0.40 without). Twice the channels learned
    # no faster per iteration at three times the cost.
    "small": Config("small", stages=((16,), (32,), (64,), (128,)), roi_size=(6, 6),
                    fc=(256, 256), dropout=0.0, frozen=("conv1_1",), scale=224, max_size=400,
                    input_scale=1 / 64),
    # The paper's "L" model, VGG16: 13 convs, RoI pooling 7x7 at 1/16, fc6/fc7 4096, conv1 and
    # conv2 frozen, shorter side 600 capped at 1000. For fidelity and benchmarks, not CPU training.
    "vgg16": Config("vgg16", stages=((64, 64), (128, 128), (256, 256, 256), (512, 512, 512),
                                     (512, 512, 512)),
                    roi_size=(7, 7), fc=(4096, 4096),
                    frozen=("conv1_1", "conv1_2", "conv2_1", "conv2_2"), scale=600, max_size=1000),
}


class ModelFileError(ValueError):
    """A model file that cannot be loaded: missing, truncated, foreign or inconsistent."""


def _resolve_config(config):
    if isinstance(config, Config):
        return config
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {', '.join(CONFIGS)} or a Config, got {config!r}")
    return CONFIGS[config]


def _check_classes(classes):
    classes = [str(name) for name in classes]
    if len(classes) < 2 or classes[0] != BACKGROUND:
        raise ValueError(f"classes must be [{BACKGROUND!r}, name, ...] with at least one object "
                         f"class, got {classes}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes}")
    return classes


# The fully connected layers, in the order of the forward pass: the heads both read fc7.
LINEAR_LAYERS = ("fc6", "fc7", "cls_score", "bbox_pred")


def linear_layers(config, num_classes):
    """{layer: (out, in)} of the fully connected layers, as trained (before any SVD)."""
    inputs = config.stages[-1][-1] * config.roi_size[0] * config.roi_size[1]
    fc6, fc7 = config.fc
    return {"fc6": (fc6, inputs), "fc7": (fc7, fc6), "cls_score": (num_classes, fc7),
            "bbox_pred": (4 * num_classes, fc7)}


def base_layer(layer):
    """The layer a parameter's layer name belongs to: "fc6_first" and "fc6_second" (the factors
    of a compressed fc6) are parts of fc6; every other name is its own layer."""
    for suffix in ("_first", "_second"):
        if layer.endswith(suffix):
            return layer[:-len(suffix)]
    return layer


def param_shapes(config, num_classes):
    """{parameter name: shape} of a configuration with num_classes = K + 1 outputs, in the
    order of the forward pass. Conv weights (F, C, 3, 3); linear weights (out, in). A layer
    factored by truncated SVD at rank t (config.svd) has `<layer>_first.w` (t, in), no bias,
    and `<layer>_second.w` (out, t) with `<layer>_second.b` (out,)."""
    shapes = {}
    channels = 3
    for name, width in zip(config.conv_names, [w for stage in config.stages for w in stage]):
        shapes[f"{name}.w"], shapes[f"{name}.b"] = (width, channels, 3, 3), (width,)
        channels = width
    ranks = config.ranks
    for name, (out, inputs) in linear_layers(config, num_classes).items():
        if name in ranks:
            shapes[f"{name}_first.w"] = (ranks[name], inputs)
            shapes[f"{name}_second.w"], shapes[f"{name}_second.b"] = (out, ranks[name]), (out,)
        else:
            shapes[f"{name}.w"], shapes[f"{name}.b"] = (out, inputs), (out,)
    return shapes


class FastRCNN:
    """Fast R-CNN: a conv trunk, RoI pooling, fc6, fc7 and two sibling heads.

    config: "tiny", "small", "vgg16" or a Config; classes: [__background__, name, ...] (K+1);
    backend: "numpy", "numba" or "cuda" (default: minifrcnn.backend.default_backend());
    dtype: float32 to train and detect, float64 for gradient checks;
    rng: np.random.Generator for the initial weights (default: seed 0).
    """

    def __init__(self, config, classes, backend=None, dtype=np.float32, rng=None):
        self.config = _resolve_config(config)
        self.classes = _check_classes(classes)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.backend = get_backend(backend)
        unknown = sorted(set(self.config.frozen) - set(self.config.conv_names + ["fc6", "fc7"]))
        if unknown:
            raise ValueError(f"config.frozen names unknown layers {unknown}")
        self.frozen = set(self.config.frozen)
        shapes = linear_layers(self.config, self.num_classes)
        for name, rank in self.config.svd:
            if name not in shapes:
                raise ValueError(f"config.svd names {name!r}, not a linear layer "
                                 f"({', '.join(LINEAR_LAYERS)})")
            if not 1 <= rank <= min(shapes[name]):
                raise ValueError(f"config.svd gives {name} rank {rank}; a {shapes[name][0]} x "
                                 f"{shapes[name][1]} layer takes 1 to {min(shapes[name])}")
        self.params = self._initial_params(np.random.default_rng(0) if rng is None else rng)
        self.grads = {}
        self._caches = self._head_caches = None

    @property
    def num_classes(self):
        """K + 1: the object classes and the background."""
        return len(self.classes)

    def layer_shapes(self):
        """{parameter name: shape} of this model (see param_shapes)."""
        return param_shapes(self.config, self.num_classes)

    def _initial_params(self, rng):
        """He-normal convs and fc6/fc7 (std sqrt(2 / fan_in), right for ReLU, which keeps the
        activations' scale from layer to layer); the two heads Gaussian with std 0.01
        (cls_score) and 0.001 (bbox_pred) as in the paper; biases 0."""
        params = {}
        for key, shape in self.layer_shapes().items():
            layer, kind = key.rsplit(".", 1)
            if kind == "b":
                params[key] = np.zeros(shape, self.dtype)
                continue
            std = {"cls_score": 0.01, "bbox_pred": 0.001}.get(base_layer(layer))
            if std is None:
                std = np.sqrt(2.0 / np.prod(shape[1:]))

            params[key] = (rng.standard_normal(shape) * std).astype(self.dtype)
        return params

    def trainable(self):
        """Names of the parameters an optimiser updates: everything but the frozen layers."""
        return [key for key in self.params if base_layer(key.rsplit(".", 1)[0]) not in self.frozen]

    # ----------------------------------------------------------------------------------------
    # forward and backward
    # ----------------------------------------------------------------------------------------

    def forward(self, images, rois, train=False, rng=None):
        """images: (N, 3, H, W) mean-subtracted, zero-padded, in the model's dtype;
        rois: (R, 5) (batch_index, x1, y1, x2, y2) in pixels of those images;
        train: dropout on (needs rng, a np.random.Generator) and the layer caches kept for
        backward; False: dropout off and no cache kept (backward then raises).

        Returns cls_score (R, K+1) raw scores and bbox_pred (R, 4(K+1)) box deltas.
        """
        rois = np.asarray(rois)
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError(f"rois must have shape (R, 5), got {rois.shape}")
        fc7 = self.trunk_forward(images, rois.astype(self.dtype, copy=False), train, rng)
        return self._heads_forward(fc7, train)

    def classify_forward(self, crops, train=False, rng=None):
        """The pre-training classifier: crops (N, 3, S, S), S = config.crop_size, through the same
        trunk with a max-pool in place of RoI pooling. Returns fc7 activations (N, D); the
        classifier's own last layer lives in minifrcnn.pretrain."""
        return self.trunk_forward(crops, None, train, rng)

    def trunk_forward(self, images, rois, train, rng):
        """images -> fc7 (R, D). rois=None: the classifier's trunk (max-pool, one row per image).
        With train=True the layers' caches are kept for trunk_backward, else none is."""
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be an array (N, 3, H, W), got "
                             f"{getattr(images, 'shape', type(images).__name__)}")
        if images.dtype != self.dtype:
            raise ValueError(f"images must be {self.dtype} like the model, got {images.dtype}")
        if train and rng is None:
            raise ValueError("train=True needs rng (a np.random.Generator) for dropout")
        # Dropped before the pass starts: a failing or test-time forward never leaves the caches
        # of an earlier pass behind for backward to use by mistake.
        self._caches = self._head_caches = None
        caches = [] if train else None
        x = images * self.dtype.type(self.config.input_scale)
        names = iter(self.config.conv_names)
        for stage, widths in enumerate(self.config.stages):
            for _ in widths:
                x = self._conv_relu(x, next(names), caches)
            if stage < len(self.config.stages) - 1:
                x = self._maxpool(x, caches)
        # Section 2.1: the last max-pool of the classifier is replaced by RoI pooling, which
        # pools each RoI's window of the shared feature map to the fixed size fc6 expects.
        if rois is None:
            x = self._maxpool(x, caches)
            if x.shape[2:] != tuple(self.config.roi_size):
                raise ValueError(f"classifier crops must be {self.config.crop_size}x"
                                 f"{self.config.crop_size} pixels, got {images.shape[2:]}")
        else:
            x = self._roi_pool(x, rois, caches)
        for name in ("fc6", "fc7"):
            x = self._fc_relu_dropout(x, name, train, rng, caches)
        self._caches = caches
        return x

    # One method per kind of layer, each a forward with its cache appended to `caches` when
    # training (caches is a list) and dropped when the method returns otherwise (caches is None).
    # trunk_backward undoes each kind with the matching backward.

    def _conv_relu(self, x, name, caches):
        """3x3 convolution (pad 1, stride 1) and ReLU: (N, C, H, W) -> (N, F, H, W)."""
        ops = self.backend
        x, conv = ops.conv2d_forward(x, self.params[f"{name}.w"], self.params[f"{name}.b"],
                                     stride=1, pad=1)
        x, relu = ops.relu_forward(x)
        if caches is not None:
            caches.append(("conv", name, (conv, relu)))
        return x

    def _maxpool(self, x, caches):
        """2x2 max-pool, stride 2: (N, C, H, W) -> (N, C, H // 2, W // 2)."""
        x, pool = self.backend.maxpool2d_forward(x, 2, 2)
        if caches is not None:
            caches.append(("maxpool", None, pool))
        return x

    def _roi_pool(self, features, rois, caches):
        """RoI pooling: features (N, C, H, W), rois (R, 5) -> (R, C, PH, PW)."""
        x, pool = self.backend.roi_pool_forward(features, rois, self.config.roi_size,
                                                self.config.spatial_scale)
        if caches is not None:
            caches.append(("roi_pool", None, pool))
        return x

    def _fc_relu_dropout(self, x, name, train, rng, caches):
        """Fully connected layer, ReLU and dropout: (R, ...) flattened to (R, D) -> (R, M)."""
        ops = self.backend
        x, fc = self.linear_forward(x, name)
        x, relu = ops.relu_forward(x)
        x, drop = ops.dropout_forward(x, self.config.dropout, train, rng)
        if caches is not None:
            caches.append(("fc", name, (fc, relu, drop)))
        return x

    def _heads_forward(self, fc7, train):
        """The two sibling heads on fc7 (R, D): cls_score (R, K+1) and bbox_pred (R, 4(K+1))."""
        cls_score, cls_cache = self.linear_forward(fc7, "cls_score")
        bbox_pred, bbox_cache = self.linear_forward(fc7, "bbox_pred")
        self._head_caches = (cls_cache, bbox_cache) if train else None
        return cls_score, bbox_pred

    def linear_forward(self, x, name):
        """x (R, D) through the linear layer `name` (fc6, fc7, cls_score, bbox_pred), plain or
        factored: (R, M) and a cache for _linear_backward.

        A layer factored by truncated SVD (config.svd) is two linear layers with nothing between
        them (layers.factored_linear_forward): x -> x w_first^T (R, t), no bias, -> (R, M)."""
        ops, params = self.backend, self.params
        if name not in self.config.ranks:
            return ops.linear_forward(x, params[f"{name}.w"], params[f"{name}.b"])
        return ops.factored_linear_forward(x, params[f"{name}_first.w"],
                                           params[f"{name}_second.w"], params[f"{name}_second.b"])

    def _linear_backward(self, dout, name, cache):
        """dout (R, M) -> dx, the gradient of the input of the linear layer `name`; stores the
        gradients of its parameters (both factors' for a factored layer: backward through the
        second, then through the first)."""
        ops = self.backend
        if name not in self.config.ranks:
            dx, dw, db = ops.linear_backward(dout, cache)
            self._store(name, {"w": dw, "b": db})
            return dx
        dx, dw_first, dw_second, db = ops.factored_linear_backward(dout, cache)
        self._store(f"{name}_second", {"w": dw_second, "b": db})
        self._store(f"{name}_first", {"w": dw_first})
        return dx

    def backward(self, dcls_score, dbbox_pred):
        """dcls_score (R, K+1), dbbox_pred (R, 4(K+1)): gradients of the loss with respect to the
        last forward's outputs, which must have been a forward(..., train=True). Fills self.grads
        for every trainable parameter."""
        if self._head_caches is None:
            raise RuntimeError("backward needs a forward(images, rois, train=True) first: a "
                               "test-time forward keeps no layer caches")
        self.grads = {}
        cls_cache, bbox_cache = self._head_caches
        # The two sibling heads both read fc7, so fc7's gradient is the sum of theirs.
        dfc7_cls = self._linear_backward(dcls_score, "cls_score", cls_cache)
        dfc7_bbox = self._linear_backward(dbbox_pred, "bbox_pred", bbox_cache)
        self.trunk_backward(dfc7_cls + dfc7_bbox)

    def trunk_backward(self, dfc7):
        """dfc7 (R, D) -> gradients of the trunk, walking the caches of the last training forward
        (forward or classify_forward with train=True) in reverse. Stops below the lowest trainable
        layer: nothing under a frozen bottom needs a gradient. Returns the gradient of the lowest
        layer reached (with nothing frozen, of the input images)."""
        if self._caches is None:
            raise RuntimeError("trunk_backward needs a forward with train=True first: a "
                               "test-time forward keeps no layer caches")
        ops = self.backend
        lowest = next((i for i, (_, name, _) in enumerate(self._caches)
                       if name is not None and name not in self.frozen), len(self._caches))
        dx = dfc7
        for kind, name, cache in reversed(self._caches[lowest:]):
            if kind == "fc":
                fc, relu, drop = cache
                dx = ops.relu_backward(ops.dropout_backward(dx, drop), relu)
                dx = self._linear_backward(dx, name, fc)
            elif kind == "conv":
                conv, relu = cache
                dx, dw, db = ops.conv2d_backward(ops.relu_backward(dx, relu), conv)
                self._store(name, {"w": dw, "b": db})
            elif kind == "roi_pool":
                dx = ops.roi_pool_backward(dx, cache)
            elif kind == "maxpool":
                dx = ops.maxpool2d_backward(dx, cache)
            else:
                raise ValueError(f"trunk_backward: no backward pass for a layer of kind {kind!r}")
        return dx

    def _store(self, layer, grads):
        """grads {"w": ..., "b": ...} of `layer`, kept unless its layer (fc6 for fc6_first) is
        frozen."""
        if base_layer(layer) not in self.frozen:
            self.grads.update({f"{layer}.{kind}": value for kind, value in grads.items()})

    def compile_kernels(self):
        """Run one training forward and backward on a tiny input, so that the backend's kernels
        are compiled now rather than inside the first training iteration. Numba compiles a
        kernel on its first call for each dtype (about 20 s for all of them when nothing is
        cached, a fraction of a second from the cache): a run bounded by wall time would
        otherwise spend that on compiling. Weights, the optimiser and any random generator of
        the caller are left untouched; the gradients it leaves in self.grads mean nothing."""
        side = self.config.crop_size
        images = np.zeros((1, 3, side, side), self.dtype)
        rois = np.array([[0, 0, 0, side - 1, side - 1]], self.dtype)
        frozen, self.frozen = self.frozen, set()      # reach every layer's backward
        try:
            cls_score, bbox_pred = self.forward(images, rois, train=True,
                                                rng=np.random.default_rng(0))
            self.backward(np.ones_like(cls_score), np.ones_like(bbox_pred))
            self.classify_forward(images, train=False)   # the classifier's last max-pool
        finally:
            self.frozen = frozen
            self.grads = {}
            self._caches = self._head_caches = None

    # ----------------------------------------------------------------------------------------
    # model files
    # ----------------------------------------------------------------------------------------

    def metadata(self):
        """What a model file stores besides the arrays (JSON)."""
        return {"format": MODEL_FORMAT, "version": MODEL_VERSION, "config": self.config.to_dict(),
                "classes": self.classes, "dtype": self.dtype.name}

    def folded_params(self, bbox_means=None, bbox_stds=None):
        """The parameters with the box-target normalisation folded into bbox_pred.

        Training regresses standardised targets (t - mean) / std (per class and coordinate, both
        (K+1, 4)). Scaling bbox_pred's rows by std and shifting its bias, W <- W std,
        b <- b std + mean, makes the saved layer emit raw deltas, so detection needs no extra
        step (forgetting this is a classic bug: py-faster-rcnn #365). A factored bbox_pred folds
        into its second factor, the one that emits the deltas.
        """
        return self._bbox_rescaled(bbox_means, bbox_stds, unfold=False)

    def unfolded_params(self, bbox_means, bbox_stds):
        """The inverse of folded_params: the parameters of a saved model (bbox_pred emitting raw
        deltas) made to emit targets standardised with these means and stds again,
        W <- W / std, b <- (b - mean) / std. Continuing to train a saved model starts here."""
        return self._bbox_rescaled(bbox_means, bbox_stds, unfold=True)

    def _bbox_rescaled(self, bbox_means, bbox_stds, unfold):
        params = dict(self.params)
        if bbox_means is None and bbox_stds is None:
            return params
        shape = (self.num_classes, 4)
        means = np.zeros(shape) if bbox_means is None else np.asarray(bbox_means, np.float64)
        stds = np.ones(shape) if bbox_stds is None else np.asarray(bbox_stds, np.float64)
        if means.shape != shape or stds.shape != shape:
            raise ValueError(f"bbox_means and bbox_stds must have shape {shape}, got "
                             f"{means.shape} and {stds.shape}")
        std, mean = stds.reshape(-1), means.reshape(-1)
        layer = "bbox_pred_second" if "bbox_pred" in self.config.ranks else "bbox_pred"
        w, b = params[f"{layer}.w"], params[f"{layer}.b"]
        if unfold:
            w, b = w / std[:, None], (b - mean) / std
        else:
            w, b = w * std[:, None], b * std + mean
        params[f"{layer}.w"], params[f"{layer}.b"] = w.astype(self.dtype), b.astype(self.dtype)
        return params

    def save(self, path, bbox_means=None, bbox_stds=None):
        """Write a .npz model file (atomically: a crash never leaves half a file at path).

        With bbox_means/bbox_stds (K+1, 4), the normalisation is folded into bbox_pred first.
        """
        arrays = {f"param/{key}": value
                  for key, value in self.folded_params(bbox_means, bbox_stds).items()}
        write_npz(path, arrays, self.metadata())

    @classmethod
    def load(cls, path, backend=None):
        """Read a model file written by save(). Raises ModelFileError naming the file when it is
        missing, truncated, not a minifrcnn model, or inconsistent with its own configuration."""
        arrays, meta = read_npz(path)
        model = cls.from_metadata(meta, path, backend)
        model.set_params({key[len("param/"):]: value for key, value in arrays.items()
                          if key.startswith("param/")}, path)
        return model

    @classmethod
    def from_metadata(cls, meta, path, backend=None):
        """An (untrained) model of the configuration and classes a file's metadata names."""
        try:
            config = Config.from_dict(meta["config"])
            return cls(config, meta["classes"], backend=backend, dtype=meta.get("dtype", "float32"))
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{path}: the model description inside is not valid ({error})") from None

    def set_params(self, params, path="parameters"):
        """Replace every parameter, checking names, shapes and finiteness against the config."""
        expected = self.layer_shapes()
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        if missing or extra:
            raise ModelFileError(f"{path}: parameters do not match the {self.config.name} "
                                 f"configuration (missing {missing}, unexpected {extra})")
        for key, shape in expected.items():
            value = params[key]
            if value.shape != shape:
                layer = base_layer(key.rsplit(".", 1)[0])
                rank = (f" ({layer} compressed to rank {self.config.ranks[layer]})"
                        if layer in self.config.ranks else "")
                raise ModelFileError(f"{path}: parameter {key} has shape {value.shape}, the "
                                     f"configuration{rank} and {self.num_classes - 1} object "
                                     f"classes (and the background) need {shape}")
            if not np.all(np.isfinite(value)):
                raise ModelFileError(f"{path}: parameter {key} contains NaN or infinite values")
        self.params = {key: np.ascontiguousarray(params[key], dtype=self.dtype) for key in expected}


def write_npz(path, arrays, meta):
    """Save arrays plus a JSON metadata string to path atomically (write a temporary file in the
    same folder, flush it to disk, then rename it over path)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as out:
            np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_npz(path, expected_format=MODEL_FORMAT):
    """(arrays {name: array}, metadata dict) of a file written by write_npz, without pickle.

    Every way a file can be wrong becomes a ModelFileError that names it and says what is wrong.
    """
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    # A zip archive's directory sits at its end, so a file cut short is not a zip any more.
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a minifrcnn model file (not an .npz archive, or "
                             "truncated)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "pickle" in str(error):
            raise ModelFileError(f"{path}: contains pickled Python objects; minifrcnn never "
                                 "writes those and refuses to load them") from None
        raise ModelFileError(f"{path}: damaged ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ModelFileError(f"{path}: truncated or damaged ({type(error).__name__}: {error})") from None
    if "meta" not in arrays:
        raise ModelFileError(f"{path}: an .npz file but not a minifrcnn model (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError:
        raise ModelFileError(f"{path}: its 'meta' entry is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"{path}: not a {expected_format} file (format {found!r})")
    if meta.get("version") != MODEL_VERSION:
        raise ModelFileError(f"{path}: file version {meta.get('version')!r}, this minifrcnn reads "
                             f"version {MODEL_VERSION}")
    return arrays, meta
