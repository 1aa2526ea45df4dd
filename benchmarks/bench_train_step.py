"""Time one SGD training step of Fast R-CNN (N=2 images, R=128 RoIs) with its breakdown by layer,
against the same network in PyTorch on the CPU when it is installed, in one process.

    python benchmarks/bench_train_step.py [--config small] [--backend numba] [--samples 21]
        [--direct-samples 3] [--train-all] [--no-torch] [--quick] [--load]
        [--out benchmarks/results]
    python benchmarks/bench_train_step.py --iteration [--iters 150] [--load] [--out ...]

The minibatch is a real one: two synthetic VOC-layout images (`minifrcnn synth`), selective search
proposals, the hierarchical sampler (64 RoIs per image, 25 % foreground) and the config's scale
rule, exactly the data path of training. One step is forward (dropout on), the multi-task loss,
backward, and the SGD update of minifrcnn.sgd (momentum 0.9, weight decay 0.0005 on weights,
biases lr x2). Frozen layers are the config's (`small` freezes conv1_1, as after pretraining);
--train-all trains every layer, as `minifrcnn train` without --pretrain does.

Four variants are visited in rotating order after a warm-up, as in bench_layers.py:

- "minifrcnn": the model as training runs it;
- "minifrcnn, timed layers": a twin model whose backend functions are wrapped with a stopwatch
  (LayerClock), which gives each layer's forward and backward time (its ReLU and dropout
  included); comparing it with the plain step shows the stopwatch costs nothing measurable;
- "1 image, 1 RoI": the same timed model on a minibatch of one image and one RoI, the unit of
  R-CNN and SPPnet training, which sample each of the 128 RoIs from a different image;
- "pytorch": the same architecture in torch.nn with torchvision.ops.roi_pool, the same initial
  weights, autograd and torch.optim.SGD (skipped when PyTorch is not installed).

Hierarchical sampling (paper section 2.3, lesson 06): the same 128 RoIs as one minibatch of 128
images with one RoI each (each RoI on its own copy of its image), measured directly after the
interleaved runs, and as 128 times the "1 image, 1 RoI" step; the ratio of their conv trunks to
the N=2 step's is the paper's "roughly 64x".

--load: after the idle runs, the four variants run again beside one busy Python process per core
(benchmarks/_load.py), and the results show both, with the ratio to PyTorch idle and loaded.

--iteration: a different measurement. `minifrcnn demo`'s training iteration as a whole (reading,
sampling, resizing, colour shuffling, the step, the history and the progress bar), by running
`minifrcnn.train.train` itself with the demo's settings, against the bare step (train_step on
prepared minibatches of the same kind), in one process, with a breakdown of the iteration.
"""

import minifrcnn  # noqa: F401  (first: sets the thread-pool variables before NumPy starts)

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from minifrcnn.backend import get_backend, system_info
from minifrcnn.data import load_voc
from minifrcnn.data.minibatch import Minibatch, build_roidb, get_minibatch, target_stats
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.model import CONFIGS, FastRCNN
from minifrcnn.proposals import selective_search
from minifrcnn.sgd import BIAS_LR_FACTOR, MOMENTUM, SGD, WEIGHT_DECAY

sys.path.insert(0, str(Path(__file__).resolve().parent))     # benchmarks/ is not a package
from _load import CompetingLoad  # noqa: E402

LR = 0.001      # the paper's; the time of a step does not depend on it
IMAGES, ROIS_PER_IMAGE = 2, 64


def real_minibatch(config, seed, workdir):
    """A training minibatch of N=2 synthetic images and their R<=128 sampled RoIs, built as
    training builds it. Returns (Minibatch, classes)."""
    write_synthetic_voc(workdir, IMAGES, 0, seed=seed, progress=False)
    dataset = load_voc(workdir, "trainval")
    proposals = {}
    for sample in dataset.samples:
        with Image.open(sample.image_path) as picture:
            proposals[sample.image_id] = selective_search(np.asarray(picture.convert("RGB")))
    roidb = build_roidb(dataset, proposals, flip=False)
    means, stds = target_stats(roidb, len(dataset.classes))
    batch = get_minibatch(roidb[:IMAGES], len(dataset.classes), means, stds,
                          np.random.default_rng(seed), scales=(config.scale,),
                          max_size=config.max_size, pixel_mean=config.pixel_mean,
                          rois_per_image=ROIS_PER_IMAGE)
    return batch, dataset.classes


def one_roi_per_image_batch(batch):
    """The same R RoIs, each on its own copy of the image it came from: N = R images with one RoI
    each, the minibatch of R-CNN and SPPnet (paper section 2.3)."""
    owner = batch.rois[:, 0].astype(np.int64)
    rois = batch.rois.copy()
    rois[:, 0] = np.arange(len(rois))
    return Minibatch(batch.images[owner], rois, batch.labels, batch.bbox_targets,
                     batch.bbox_weights, batch.scale_factors[owner])


def one_roi_batch(batch):
    """The first image of `batch` with its first RoI (sample_rois puts foreground RoIs first): the
    unit of work of R-CNN and SPPnet, one RoI per image."""
    return Minibatch(batch.images[:1], batch.rois[:1], batch.labels[:1], batch.bbox_targets[:1],
                     batch.bbox_weights[:1], batch.scale_factors[:1])


class LayerClock:
    """A backend whose functions are the real ones wrapped with a stopwatch.

    Give a model `clock.ops` as its backend and every call is timed and charged to a row named
    after the layer: conv and fc layers by their parameter name (their ReLU and dropout go to the
    same row), max-pools pool1, pool2, ... in forward order, "roi_pool", "heads" for cls_score and
    bbox_pred, "loss" for the multi-task loss (its value and gradient come from one call). A
    backward call finds its row through the cache its forward returned.
    """

    def __init__(self, ops, model):
        self.model = model
        functions = {name: self._wrap(name, fn) for name, fn in vars(ops).items() if callable(fn)}
        self.ops = SimpleNamespace(name=ops.name, **functions)
        self.start_step()

    def start_step(self):
        self.seconds = defaultdict(float)        # (row, "forward" | "backward" | "update") -> s
        self.order = []                          # rows in the order they first ran
        self._row_of_cache = {}
        self._current = None
        self._pools = 0

    def charge(self, row, phase, seconds):
        if row not in self.order:
            self.order.append(row)
        self.seconds[row, phase] += seconds

    def _forward_row(self, name, args):
        if name in ("conv2d_forward", "linear_forward"):
            param = next(key for key, value in self.model.params.items() if value is args[1])
            layer = param.rsplit(".", 1)[0]
            self._current = "heads" if layer in ("cls_score", "bbox_pred") else layer
        elif name == "maxpool2d_forward":
            self._pools += 1
            self._current = f"pool{self._pools}"
        elif name == "roi_pool_forward":
            self._current = "roi_pool"
        return self._current                     # ReLU and dropout: the layer they follow

    def _wrap(self, name, fn):
        def timed(*args, **kwargs):
            if name.endswith("_backward"):
                row, phase = self._row_of_cache[id(args[1])], "backward"
            elif name.endswith("_forward"):
                row, phase = self._forward_row(name, args), "forward"
            else:
                row, phase = "loss", "forward"
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            self.charge(row, phase, time.perf_counter() - start)
            if phase == "forward" and row != "loss":
                self._row_of_cache[id(result[1])] = row
            return result
        return timed


def our_step(model, batch, rng, clock=None):
    """A function running one training step of `model` on `batch`; with a clock it returns the
    step's seconds by row (the clock must be the model's backend)."""
    sgd = SGD(model.params, model.trainable())
    ops = model.backend

    def step():
        if clock is not None:
            clock.start_step()
        cls_score, bbox_pred = model.forward(batch.images, batch.rois, train=True, rng=rng)
        _, dcls_score, dbbox_pred = ops.multitask_loss(cls_score, bbox_pred, batch.labels,
                                                       batch.bbox_targets, batch.bbox_weights)
        model.backward(dcls_score, dbbox_pred)
        start = time.perf_counter()
        sgd.step(model.grads, LR)
        if clock is None:
            return None
        clock.charge("update", "update", time.perf_counter() - start)
        return dict(clock.seconds)

    return step


def torch_twin(torch, torchvision, model):
    """The same network as `model` in PyTorch, with its weights copied.

    Returns forward(images, rois, train) -> (cls_score, bbox_pred) tensors and make_step(batch) ->
    a function running one training step (autograd, torch.optim.SGD with the same recipe: torch's
    v = m v + g, w -= lr v equals minifrcnn.sgd's v = m v + lr g, w -= v at a constant lr)."""
    nn, functional = torch.nn, torch.nn.functional
    config = model.config
    layers = {}
    for name, shape in model.layer_shapes().items():
        layer, kind = name.rsplit(".", 1)
        if kind == "w":
            layers[layer] = (nn.Conv2d(shape[1], shape[0], 3, padding=1) if len(shape) == 4
                             else nn.Linear(shape[1], shape[0]))
    with torch.no_grad():
        for name, value in model.params.items():
            layer, kind = name.rsplit(".", 1)
            getattr(layers[layer], {"w": "weight", "b": "bias"}[kind]).copy_(torch.from_numpy(value))
    for layer in model.frozen:
        layers[layer].requires_grad_(False)

    def forward(images, rois, train):
        x = images * config.input_scale
        names = iter(config.conv_names)
        for stage, widths in enumerate(config.stages):
            for _ in widths:
                x = functional.relu(layers[next(names)](x))
            if stage < len(config.stages) - 1:
                x = functional.max_pool2d(x, 2, 2)
        x = torchvision.ops.roi_pool(x, rois, config.roi_size, config.spatial_scale).flatten(1)
        for name in ("fc6", "fc7"):
            x = functional.dropout(functional.relu(layers[name](x)), config.dropout, train)
        return layers["cls_score"](x), layers["bbox_pred"](x)

    trainable = [layers[key.rsplit(".", 1)[0]] for key in model.trainable() if key.endswith(".w")]
    optimizer = torch.optim.SGD(
        [{"params": [m.weight for m in trainable], "lr": LR, "weight_decay": WEIGHT_DECAY},
         {"params": [m.bias for m in trainable], "lr": BIAS_LR_FACTOR * LR, "weight_decay": 0.0}],
        momentum=MOMENTUM)

    def make_step(batch):
        images, rois = torch.from_numpy(batch.images), torch.from_numpy(batch.rois)
        labels = torch.from_numpy(batch.labels)
        targets, weights = torch.from_numpy(batch.bbox_targets), torch.from_numpy(batch.bbox_weights)

        def step():
            cls_score, bbox_pred = forward(images, rois, train=True)
            # weights are 0 or 1, so smooth L1 of w*pred - w*target is ours of w*(pred - target)
            loss = functional.cross_entropy(cls_score, labels) + functional.smooth_l1_loss(
                weights * bbox_pred, weights * targets, reduction="sum", beta=1.0) / len(rois)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    return forward, make_step


def measure(variants, samples, warmup_calls=2):
    """variants: {label: fn}, fn() -> a breakdown or None. Every variant is warmed up, then they
    run in rotating order. Returns {label: [seconds]} and {label: [breakdown]}."""
    for fn in variants.values():
        for _ in range(warmup_calls):
            fn()
    times = {label: [] for label in variants}
    breakdowns = {label: [] for label in variants}
    labels = list(variants)
    for i in range(samples):
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            start = time.perf_counter()
            breakdown = variants[label]()
            times[label].append(time.perf_counter() - start)
            if breakdown is not None:
                breakdowns[label].append(breakdown)
    return times, breakdowns


def breakdown_rows(breakdowns, step_times, order):
    """Median milliseconds per row and phase over the samples, an "other" row for what no layer
    accounts for (Python between the calls, the sum of the two heads' gradients), and each row's
    share of the median step. Medians do not add up exactly; the shares come close to 100 %."""
    def median_ms(values):
        return 1000 * statistics.median(values)

    rows = []
    for row in order:
        phases = {}
        for phase in ("forward", "backward"):
            if any((row, phase) in b for b in breakdowns):
                phases[phase] = median_ms([b.get((row, phase), 0.0) for b in breakdowns])
        total = median_ms([sum(s for (r, _), s in b.items() if r == row) for b in breakdowns])
        rows.append({"layer": row, "forward_ms": phases.get("forward"),
                     "backward_ms": phases.get("backward"), "total_ms": total})
    other = median_ms([t - sum(b.values()) for t, b in zip(step_times, breakdowns)])
    rows.append({"layer": "other", "forward_ms": None, "backward_ms": None, "total_ms": other})
    step = median_ms(step_times)
    for row in rows:
        row["percent"] = 100 * row["total_ms"] / step
    return rows


def trunk_ms(rows):
    """Milliseconds of the per-image work: the convs and max-pools, forward and backward."""
    return sum(r["total_ms"] for r in rows if r["layer"].startswith(("conv", "pool")))


def timed_model(config, classes, ops, seed, train_all):
    """A model whose backend is a LayerClock over `ops`. Returns (model, clock)."""
    model = FastRCNN(config, classes, backend=ops.name, rng=np.random.default_rng(seed))
    clock = LayerClock(ops, model)
    model.backend = clock.ops
    if train_all:
        model.frozen = set()
    return model, clock


def cpu_reading():
    """(seconds all CPUs have been busy, seconds this process has run, wall clock), from Linux's
    /proc/stat; None elsewhere."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    own = os.times()
    busy = sum(ticks) - ticks[3] - ticks[4]          # everything but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.perf_counter()


def others_share(before, after):
    """The share of the machine's CPU time that other processes took between two cpu_reading()s.
    Worth recording: on 2 cores a second busy process does not cost us half the speed but up to
    100x on some layers, as the threads of one GEMM wait for each other across time slices."""
    if before is None or after is None:
        return None
    busy, own, wall = (a - b for a, b in zip(after, before))
    return max(0.0, (busy - own) / (wall * os.cpu_count()))


def measure_train_step(config="small", backend=None, samples=21, seed=0, use_torch=True,
                       train_all=False, direct_samples=3, load=False):
    """Run the benchmark and return its results as a JSON-serialisable dict (see main).

    train_all: no frozen layers (the config's frozen layers otherwise); direct_samples: timed
    steps of the 128-image minibatch (0: skip it, it needs a few GB of memory at `small`);
    load: also time the variants again beside one busy process per core (result "loaded")."""
    config = CONFIGS[config] if isinstance(config, str) else config
    with tempfile.TemporaryDirectory() as workdir:
        batch, classes = real_minibatch(config, seed, workdir)
    ops = get_backend(backend)
    model = FastRCNN(config, classes, backend=ops.name, rng=np.random.default_rng(seed))
    if train_all:
        model.frozen = set()
    layered, clock = timed_model(config, classes, ops, seed, train_all)
    single, single_clock = timed_model(config, classes, ops, seed, train_all)
    variants = {
        "minifrcnn": our_step(model, batch, np.random.default_rng(seed)),
        "minifrcnn, timed layers": our_step(layered, batch, np.random.default_rng(seed), clock),
        "1 image, 1 RoI": our_step(single, one_roi_batch(batch), np.random.default_rng(seed),
                                   single_clock),
    }

    torch = torchvision = check = None
    if use_torch:
        try:
            import torch
            import torchvision
        except ImportError:
            torch = torchvision = None
    if torch is not None:
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        forward, make_step = torch_twin(torch, torchvision, model)
        # Same weights, dropout off: the two networks must agree before their timings compare.
        ours = model.forward(batch.images, batch.rois, train=False)
        with torch.no_grad():
            theirs = forward(torch.from_numpy(batch.images), torch.from_numpy(batch.rois), False)
        check = {"max_abs_diff_cls_score": float(np.abs(ours[0] - theirs[0].numpy()).max()),
                 "max_abs_diff_bbox_pred": float(np.abs(ours[1] - theirs[1].numpy()).max())}
        if max(check.values()) > 1e-4:
            raise RuntimeError(f"the PyTorch twin is not the same network as minifrcnn's model "
                               f"({check}): its timings would compare different work")
        variants["pytorch"] = make_step(batch)

    before = cpu_reading()
    times, breakdowns = measure(variants, samples)
    medians = {label: 1000 * statistics.median(t) for label, t in times.items()}
    rows = breakdown_rows(breakdowns["minifrcnn, timed layers"], times["minifrcnn, timed layers"],
                          clock.order)
    single_rows = breakdown_rows(breakdowns["1 image, 1 RoI"], times["1 image, 1 RoI"],
                                 single_clock.order)
    rois = len(batch.rois)
    # Section 2.3: a minibatch of R RoIs, two ways. Fast R-CNN shares each image's conv work
    # among its R/N RoIs; R-CNN and SPPnet took every RoI from a different image.
    regimes = [{"minibatch": f"N=2 images, {rois // 2} RoIs each (Fast R-CNN)",
                "step_ms": medians["minifrcnn"], "trunk_ms": trunk_ms(rows), "how": "measured"},
               {"minibatch": f"{rois} x (N=1 image, R=1 RoI)",
                "step_ms": rois * medians["1 image, 1 RoI"], "trunk_ms": rois * trunk_ms(single_rows),
                "how": f"{rois} x the median step on 1 image with 1 RoI"}]
    if direct_samples:
        # The same RoIs, each on its own copy of its image, in one step (timed after the
        # others: it is R/2 times longer, and needs memory for R images' activations).
        direct, direct_clock = timed_model(config, classes, ops, seed, train_all)
        step = our_step(direct, one_roi_per_image_batch(batch), np.random.default_rng(seed),
                        direct_clock)
        direct_times, direct_breakdowns = measure({"direct": step}, direct_samples, warmup_calls=1)
        direct_rows = breakdown_rows(direct_breakdowns["direct"], direct_times["direct"],
                                     direct_clock.order)
        regimes.insert(1, {"minibatch": f"N={rois} images, 1 RoI each",
                           "step_ms": 1000 * statistics.median(direct_times["direct"]),
                           "trunk_ms": trunk_ms(direct_rows),
                           "how": f"measured, median of {direct_samples}"})
    after = cpu_reading()
    loaded = None
    if load:
        # The same variants again while other processes want every core (benchmarks/_load.py).
        with CompetingLoad() as competing:
            loaded_times, loaded_breakdowns = measure(variants, samples)
        loaded_medians = {label: 1000 * statistics.median(t) for label, t in loaded_times.items()}
        loaded = {"processes": competing.count, "cpu_share": competing.cpu_share,
                  "step_ms": loaded_medians,
                  "breakdown": breakdown_rows(loaded_breakdowns["minifrcnn, timed layers"],
                                              loaded_times["minifrcnn, timed layers"],
                                              clock.order)}
        if "pytorch" in loaded_medians:
            loaded["minifrcnn_vs_pytorch"] = loaded_medians["minifrcnn"] / loaded_medians["pytorch"]
    for regime in regimes:
        regime["step_ratio"] = regime["step_ms"] / regimes[0]["step_ms"]
        regime["trunk_ratio"] = regime["trunk_ms"] / regimes[0]["trunk_ms"]

    info = system_info()
    result = {
        "machine": (f"{platform.processor() or platform.machine()}, {info['threads']['cpu cores']} "
                    f"cores, numpy {info['versions']['numpy']} ({info['threads']['numpy BLAS']}), "
                    f"numba {info['versions']['numba']} ({info['threads']['numba threads']} threads), "
                    f"torch {info['versions']['torch']}"
                    + (f" ({torch.get_num_threads()} threads)" if torch is not None else "")
                    + f", torchvision {info['versions']['torchvision']}"),
        "others_cpu_share": others_share(before, after),
        "info": info,
        "config": config.name,
        "backend": ops.name,
        "frozen": sorted(model.frozen),
        "samples": samples,
        "batch": {"images": list(batch.images.shape), "rois": rois,
                  "foreground": int((batch.labels > 0).sum()), "classes": len(classes)},
        "step_ms": medians,
        "breakdown": rows,
        "hierarchical": regimes,
    }
    if "pytorch" in medians:
        result["minifrcnn_vs_pytorch"] = medians["minifrcnn"] / medians["pytorch"]
        result["pytorch_check"] = check
    if loaded is not None:
        result["loaded"] = loaded
    return result


# --iteration: the whole training iteration of `minifrcnn demo` against its bare step.

# What the iteration's breakdown times: row -> (module, attribute) of the function charged to it.
# The rows indented under get_minibatch are parts of it.
def _iteration_targets():
    from minifrcnn import train as train_module
    from minifrcnn.data import minibatch as minibatch_module, transforms

    return {
        "next_batch": (minibatch_module.MinibatchSampler, "next_batch"),
        "get_minibatch": (train_module, "get_minibatch"),
        "  image (cached decode, transpose, mirror)": (minibatch_module, "entry_view"),
        "  sample_rois": (minibatch_module, "sample_rois"),
        "  shuffle_colours": (transforms, "shuffle_colours"),
        "  resize": (transforms, "resize"),
        "  to_network (mean, layout)": (transforms, "to_network"),
        "  bbox_targets_and_weights": (minibatch_module, "bbox_targets_and_weights"),
        "train_step": (train_module, "train_step"),
    }


class FunctionClock:
    """For the duration of a `with` block, the functions of `targets` ({row: (owner, name)}) are
    replaced in their modules or classes by stopwatch wrappers; everything is put back on exit.

    records: (row, iteration, seconds) per call, where iteration counts the calls of the row
    `step_row` that had begun before it: the parts of the training loop's iteration k (from 0)
    all carry k.
    """

    def __init__(self, targets, step_row):
        self.targets = targets
        self.step_row = step_row
        self.records = []
        self._steps = 0
        self._saved = []

    def _wrap(self, row, fn):
        def timed(*args, **kwargs):
            iteration = self._steps
            if row == self.step_row:
                self._steps += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.records.append((row, iteration, time.perf_counter() - start))
        return timed

    def __enter__(self):
        for row, (owner, name) in self.targets.items():
            fn = vars(owner)[name]
            self._saved.append((owner, name, fn))
            setattr(owner, name, self._wrap(row, fn))
        return self

    def __exit__(self, *exc_info):
        for owner, name, fn in reversed(self._saved):
            setattr(owner, name, fn)
        self._saved = []
        return False

    def mean_ms(self, row, first, count):
        """Mean milliseconds per iteration of `row` over iterations first .. first + count - 1,
        and its mean number of calls per iteration."""
        times = [t for r, i, t in self.records if r == row and first <= i < first + count]
        return 1000 * sum(times) / count, len(times) / count


def bare_steps(settings, batches, steps, repeat=1):
    """Seconds of `steps` calls of train.train_step, cycling through the prepared `batches`, on a
    fresh model as `train` builds it from scratch (nothing frozen). repeat=2: each minibatch is
    stepped on twice in a row and only the second time is returned, a step that follows one of
    the same shape."""
    from minifrcnn.train import train_step

    model = FastRCNN(settings.config, batches.classes, backend=settings.backend,
                     rng=np.random.default_rng(settings.seed))
    model.frozen = set()
    sgd = SGD(model.params, model.trainable())
    rng = np.random.default_rng(settings.seed)
    seconds = []
    for i in range(steps):
        for _ in range(repeat):
            start = time.perf_counter()
            train_step(model, batches[i % len(batches)], sgd, settings.lr, rng)
            last = time.perf_counter() - start
        seconds.append(last)
    return seconds


class PreparedBatches(list):
    """Minibatches built as `train` builds them, with the dataset's classes."""

    def __init__(self, batches, classes):
        super().__init__(batches)
        self.classes = classes


def prepared_batches(settings, count):
    """`count` minibatches drawn as `train` draws them (sampler, scales, flips, colours)."""
    from minifrcnn.data.minibatch import IMAGES_PER_BATCH, ImageCache, MinibatchSampler
    from minifrcnn.train import DEFAULT_TRAIN_SCALES, prepare_data

    dataset, roidb = prepare_data(settings, progress=False)
    config = CONFIGS[settings.config]
    scales = settings.scales or DEFAULT_TRAIN_SCALES.get(config.name, (config.scale,))
    num_classes = len(dataset.classes)
    means, stds = target_stats(roidb, num_classes)
    rng = np.random.default_rng(settings.seed)
    sampler = MinibatchSampler(roidb, IMAGES_PER_BATCH, rng=rng)
    images = ImageCache()
    batches = [get_minibatch(sampler.next_batch(), num_classes, means, stds, rng, scales=scales,
                             max_size=config.max_size, pixel_mean=config.pixel_mean,
                             bg_lo=settings.bg_lo, shuffle_colours=settings.shuffle_colours,
                             images=images)
               for _ in range(count)]
    return PreparedBatches(batches, dataset.classes)


def measure_iteration(images=16, warmup=20, iters=100, seed=0, backend=None):
    """The demo's training iteration, whole and bare, in one process. Returns a JSON-able dict.

    The data: `images` synthetic training images (the demo has 200; an iteration does not
    depend on how many, once the image cache holds them all, as it does the demo's). The
    settings: the demo's (TrainSettings defaults for `small` from scratch: multi-scale, flips,
    colour shuffling, nothing frozen; and minifrcnn.demo.DEMO_TRAIN_OPTIONS).

    - bare step: train.train_step on prepared minibatches of the same kind (a new one each
      step, so the shapes vary as in training), timed before and after the run;
    - whole iteration: `minifrcnn.train.train` itself for warmup + iters iterations with its
      progress bar (written to a string), each iteration's time from its history; the
      breakdown wraps the functions of _iteration_targets with a stopwatch (FunctionClock).
    Means over the `iters` iterations after `warmup` (compilation, first decodes): a run's
    throughput is a mean.
    """
    import contextlib
    import io

    from minifrcnn.demo import DEMO_TRAIN_OPTIONS
    from minifrcnn.train import TrainSettings, train

    with tempfile.TemporaryDirectory() as workdir:
        write_synthetic_voc(workdir, images, 0, seed=seed, progress=False)
        settings = TrainSettings(data=workdir, out=os.path.join(workdir, "model.npz"),
                                 config="small", iters=warmup + iters, seed=seed,
                                 backend=backend, **DEMO_TRAIN_OPTIONS)
        batches = prepared_batches(settings, 2 * images)
        bare_steps(settings, batches, warmup)                          # compile, warm up
        before = bare_steps(settings, batches, iters)
        # The same minibatches, each right after a step on itself: what changing shapes cost.
        same_shape = bare_steps(settings, batches, iters, repeat=2)
        # train() on the same data, its progress bar written to a string: the demo shows one.
        with FunctionClock(_iteration_targets(), "train_step") as clock, \
                contextlib.redirect_stderr(io.StringIO()):
            _, state = train(settings, progress=True)
        after = bare_steps(settings, batches, iters)
    # history.seconds[k]: seconds from the start to the end of iteration k (from 0)
    seconds = np.diff(state.history.seconds)[warmup - 1:]       # iterations warmup, warmup+1 ...
    iteration_ms = 1000 * float(np.mean(seconds))
    bare = before + after
    bare_ms = 1000 * float(np.mean(bare))
    rows = []
    for row in clock.targets:
        ms, calls = clock.mean_ms(row, warmup, len(seconds))
        rows.append({"part": row, "ms": ms, "calls": calls})
    accounted = sum(r["ms"] for r in rows if not r["part"].startswith(" "))
    rows.append({"part": "rest of the loop (history, progress bar, checkpoints, budget)",
                 "ms": iteration_ms - accounted, "calls": 1.0})
    inside = sum(r["ms"] for r in rows if r["part"].startswith(" "))
    minibatch = next(r for r in rows if r["part"] == "get_minibatch")
    rows.insert(rows.index(minibatch) + 1 + sum(r["part"].startswith(" ") for r in rows),
                {"part": "  rest of get_minibatch (padding, RoIs, concatenation)",
                 "ms": minibatch["ms"] - inside, "calls": None})
    info = system_info()
    return {
        "machine": (f"{platform.processor() or platform.machine()}, {info['threads']['cpu cores']} "
                    f"cores, numpy {info['versions']['numpy']}, numba {info['versions']['numba']}"),
        "info": info,
        "settings": {**settings.fingerprint(), "images": images, "warmup": warmup},
        "iterations": len(seconds),
        "iteration_ms": {"mean": iteration_ms, "median": 1000 * float(np.median(seconds))},
        "bare_step_ms": {"mean": bare_ms, "median": 1000 * float(np.median(bare)),
                         "mean_before_run": 1000 * float(np.mean(before)),
                         "mean_after_run": 1000 * float(np.mean(after)),
                         "mean_after_same_shape": 1000 * float(np.mean(same_shape))},
        "startup_s": state.history.seconds[warmup - 1],
        "iteration_vs_bare": iteration_ms / bare_ms,
        "breakdown": rows,
    }


def iteration_markdown(result):
    """The --iteration results as markdown."""
    it, bare, st = result["iteration_ms"], result["bare_step_ms"], result["settings"]
    lines = [
        (f"The demo's training iteration (`small` from scratch, scales "
         f"{st['scales'] or 'default'}, flip {st['flip']}, transpose {st['transpose']}, colour "
         f"shuffling {st['shuffle_colours']}, {st['images']} synthetic images), mean of "
         f"{result['iterations']} iterations after {st['warmup']} of warm-up, in one process. "
         f"Machine: {result['machine']}."),
        "", "| | mean ms | median ms |", "| --- | --- | --- |",
        f"| whole iteration (minifrcnn.train.train) | {it['mean']:.1f} | {it['median']:.1f} |",
        (f"| bare step (train_step on prepared minibatches) | {bare['mean']:.1f} | "
         f"{bare['median']:.1f} |"),
        "",
        (f"Whole iteration / bare step: **{result['iteration_vs_bare']:.2f}x**. The bare step: "
         f"{bare['mean_before_run']:.1f} ms before the run, {bare['mean_after_run']:.1f} ms "
         f"after it, and {bare['mean_after_same_shape']:.1f} ms when each minibatch follows a "
         f"step on itself (no change of shape). Before the timed iterations, train() took "
         f"{result['startup_s']:.1f} s to set up and run the first {st['warmup']} (Numba "
         "kernels loaded from the on-disk cache or compiled, first image decodes)."),
        "", "| part of the iteration | ms | calls |", "| --- | --- | --- |"]
    for row in result["breakdown"]:
        calls = "" if row["calls"] is None else f"{row['calls']:.1f}"
        lines.append(f"| {row['part'].replace('  ', '&nbsp;&nbsp;')} | {row['ms']:.2f} | {calls} |")
    return "\n".join(lines) + "\n"


def _ms(value):
    return "-" if value is None else f"{value:.1f}"


def markdown(result):
    """The results as markdown: the step, its breakdown, and the hierarchical-sampling ratio."""
    b, m = result["batch"], result["step_ms"]
    share = result["others_cpu_share"]
    load = "." if share is None else f"; other processes took {100 * share:.0f} % of the CPUs meanwhile."
    lines = [(f"`{result['config']}` model, backend `{result['backend']}`, float32: one SGD step on "
              f"N={b['images'][0]} images ({b['images'][2]}x{b['images'][3]} padded), "
              f"R={b['rois']} RoIs ({b['foreground']} foreground), {b['classes']} classes, frozen: "
              f"{', '.join(result['frozen']) or 'nothing'}. Median of {result['samples']} "
              f"interleaved runs. Machine: {result['machine']}{load}"),
             "", "| variant | step ms |", "| --- | --- |"]
    lines += [f"| {label} | {ms:.1f} |" for label, ms in m.items()]
    if "minifrcnn_vs_pytorch" in result:
        agree = max(result["pytorch_check"].values())
        lines += ["", (f"minifrcnn / PyTorch: **{result['minifrcnn_vs_pytorch']:.2f}x** (same "
                       f"initial weights; with dropout off the outputs agree to {agree:.1e}).")]
    lines += ["", ("Breakdown of the step (timed layers; a conv or fc row includes its ReLU and "
                   "dropout; `loss` is the value and its gradient):"), "",
              "| layer | forward ms | backward ms | total ms | % of step |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['layer']} | {_ms(r['forward_ms'])} | {_ms(r['backward_ms'])} | "
              f"{_ms(r['total_ms'])} | {r['percent']:.0f} % |" for r in result["breakdown"]]
    lines += ["", (f"Hierarchical sampling: one minibatch of the same {b['rois']} RoIs, from 2 "
                   "images or each from its own image (conv trunk: convs and max-pools, forward + "
                   "backward):"), "",
              "| minibatch | step ms | x | conv trunk ms | x | how |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['minibatch']} | {r['step_ms']:.0f} | {r['step_ratio']:.0f}x | "
              f"{r['trunk_ms']:.0f} | {r['trunk_ratio']:.0f}x | {r['how']} |"
              for r in result["hierarchical"]]
    if "loaded" in result:
        lines += ["", *load_markdown(result)]
    return "\n".join(lines) + "\n"


def load_markdown(result):
    """Lines of markdown: the idle and the loaded step side by side (result of --load)."""
    loaded = result["loaded"]
    share = loaded["cpu_share"]
    lines = [(f"Under load: the same variants again beside {loaded['processes']} busy Python "
              "processes (one per core)"
              + ("." if share is None else f", which took {100 * share:.0f} % of the CPUs.")),
             "", "| variant | idle ms | loaded ms | loaded / idle |", "| --- | --- | --- | --- |"]
    lines += [f"| {label} | {ms:.1f} | {loaded['step_ms'][label]:.1f} | "
              f"{loaded['step_ms'][label] / ms:.2f}x |" for label, ms in result["step_ms"].items()]
    if "minifrcnn_vs_pytorch" in loaded:
        idle, busy = result["minifrcnn_vs_pytorch"], loaded["minifrcnn_vs_pytorch"]
        lines += ["", (f"minifrcnn / PyTorch: **{idle:.2f}x** idle, **{busy:.2f}x** under load "
                       f"({busy / idle:.2f} times the idle ratio).")]
    lines += ["", "| layer | idle ms | loaded ms | loaded / idle |", "| --- | --- | --- | --- |"]
    for idle_row, loaded_row in zip(result["breakdown"], loaded["breakdown"]):
        lines.append(f"| {idle_row['layer']} | {idle_row['total_ms']:.1f} | "
                     f"{loaded_row['total_ms']:.1f} | "
                     f"{loaded_row['total_ms'] / max(idle_row['total_ms'], 1e-9):.2f}x |")
    return lines


def chart(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["breakdown"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.4 * len(rows) + 2),
                                      gridspec_kw={"width_ratios": [3, 1.3]})
    names = [r["layer"] for r in rows]
    forward = [r["forward_ms"] or 0 for r in rows]
    backward = [r["backward_ms"] or 0 for r in rows]
    # update and other are neither pass; a layer's bar is its forward and backward medians
    rest = [r["total_ms"] if r["forward_ms"] is None and r["backward_ms"] is None else 0
            for r in rows]
    left.barh(names, forward, label="forward")
    left.barh(names, backward, left=forward, label="backward")
    left.barh(names, rest, left=[f + b for f, b in zip(forward, backward)], label="update / other",
              color="grey")
    for i, r in enumerate(rows):
        left.text(r["total_ms"], i, f" {r['percent']:.0f} %", va="center", fontsize=8)
    left.invert_yaxis()
    left.set_xlim(0, 1.12 * max(r["total_ms"] for r in rows))     # room for the labels
    left.set_xlabel("median ms per step")
    left.legend(loc="lower right")
    left.set_title(f"{result['config']} model, N=2, R={result['batch']['rois']}: breakdown "
                   f"({result['backend']})")
    steps = {k: v for k, v in result["step_ms"].items() if k != "1 image, 1 RoI"}
    right.bar(range(len(steps)), list(steps.values()), color=["C0", "C0", "C3"][:len(steps)])
    right.set_xticks(range(len(steps)), [k.replace(", ", ",\n") for k in steps], fontsize=8)
    right.set_ylabel("median ms per step")
    right.set_title("whole step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="small", choices=sorted(CONFIGS))
    parser.add_argument("--backend", default=None, choices=("numpy", "numba", "cuda"),
                        help="minifrcnn's backend (default: numba where installed)")
    parser.add_argument("--samples", type=int, default=21, help="timed steps per variant (median)")
    parser.add_argument("--seed", type=int, default=0, help="images, weights and dropout")
    parser.add_argument("--direct-samples", type=int, default=3,
                        help="timed steps of the 128-image minibatch (0: skip; about 5 GB at small)")
    parser.add_argument("--train-all", action="store_true",
                        help="train every layer (default: the config's frozen layers stay frozen)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    parser.add_argument("--quick", action="store_true", help="3 samples, 1 direct: a smoke test")
    parser.add_argument("--load", action="store_true",
                        help="also time the step beside one busy process per core; writes "
                             "train_step_load.* instead of train_step.* (with --iteration: "
                             "all of it under load, train_iteration_load.*)")
    parser.add_argument("--iteration", action="store_true",
                        help="instead: the demo's whole training iteration against its bare step, "
                             "with a breakdown; writes train_iteration.md and .json")
    parser.add_argument("--iters", type=int, default=150,
                        help="--iteration: timed iterations (after 20 of warm-up)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder for train_step.md, train_step.json and train_step.png")
    args = parser.parse_args(argv)
    if args.iteration:
        with CompetingLoad(None if args.load else 0) as competing:     # 0: no processes
            result = measure_iteration(iters=10 if args.quick else args.iters, seed=args.seed,
                                       backend=args.backend)
        text = iteration_markdown(result)
        if args.load:
            result["load"] = {"processes": competing.count, "cpu_share": competing.cpu_share}
            text += (f"\nAll of it beside {competing.count} busy Python processes (one per core)"
                     f", which took {100 * (competing.cpu_share or 0):.0f} % of the CPUs.\n")
        stem = args.out / ("train_iteration_load" if args.load else "train_iteration")
        args.out.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
        stem.with_suffix(".md").write_text(text)
        print(text)
        print(f"wrote {stem}.md, {stem}.json")
        return 0
    result = measure_train_step(args.config, args.backend, 3 if args.quick else args.samples,
                                args.seed, use_torch=not args.no_torch, train_all=args.train_all,
                                direct_samples=1 if args.quick else args.direct_samples,
                                load=args.load)
    text = markdown(result)
    stem = args.out / ("train_step_load" if args.load else "train_step")
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    stem.with_suffix(".md").write_text(text)
    chart(result, stem.with_suffix(".png"))
    print(text)
    print(f"wrote {stem}.md, {stem}.json, {stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
