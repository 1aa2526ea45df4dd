"""`minifrcnn demo`: Fast R-CNN end to end on the built-in synthetic data, in under 10 minutes on
two CPU cores.

    synth (VOC layout) -> selective search (cached) -> train `small` -> evaluate (VOC07 mAP)
    -> pictures: detections on test images, the loss curve, the precision-recall curves

Each step is the library call that the matching command (`synth`, `proposals`, `train`,
`evaluate`, `detect`) makes, so the demo is also a map of the commands.
"""

import os
import time

import numpy as np

from .schedule import quiet

DEMO_TRAIN_IMAGES = 200
DEMO_TEST_IMAGES = 100
# The demo is bounded by iterations, not by time, so that it prints the same mAP on every run
# with the same versions on the same kind of CPU, however busy the machine is. At about 145 ms
# an iteration, this many keep the whole demo (data, proposals, compilation, training,
# evaluation, pictures) under 10 minutes on 2 idle cores. 4000 iterations reached mAP 0.768, but
# took 13.7 minutes in all (partly beside other work).
DEMO_ITERS = 2500
# Training options beyond the `small` defaults. The shapes lie at any angle, so a transposed
# image is as real as the original: with the mirrors, each image is seen in 4 of its 8 turns and
# reflections by 90 degrees, and 200 images overfit less.
DEMO_TRAIN_OPTIONS = {"transpose": True}
# Test-time options: the same four views, scores and boxes averaged (minifrcnn.detect.detect).
DEMO_TEST_OPTIONS = {"scales": (288,), "flip": True, "transpose": True}
PICTURES = 6


def departures(settings, model_config, test_options):
    """The ways a training run and its test settings depart from the paper's recipe for VGG16
    (fast-rcnn-spec.md, "Training recipe"), as sentences: the demo prints them before it
    starts. settings: a TrainSettings; model_config: its Config; test_options: detect's keyword
    arguments (scales, flip, transpose)."""
    from .data.minibatch import BG_THRESHOLD_LO
    from .train import DEFAULT_TRAIN_SCALES

    config = model_config
    widths = "-".join(str(stage[0]) for stage in config.stages)
    found = [
        f"the {config.name} network ({len(config.stages)} stages of 3x3 convs, {widths} channels, "
        f"RoI pooling {config.roi_size[0]}x{config.roi_size[1]} at 1/{round(1 / config.spatial_scale)}, "
        f"fc6 and fc7 of {config.fc[0]}, dropout {config.dropout:g}) instead of VGG16",
        f"random initial weights, nothing frozen, input pixels times {config.input_scale:g}, "
        "instead of an ImageNet classifier with conv1-conv2 frozen",
        f"learning rate {settings.lr:g} (the paper: 0.001), 10x lower after 75 % of "
        + (f"{settings.iters} iterations" if settings.iters else f"{settings.minutes:g} minutes")
        + " (the paper: 30k of 40k)",
    ]
    scales = settings.scales or DEFAULT_TRAIN_SCALES.get(config.name, (config.scale,))
    found.append(f"training scales {', '.join(map(str, scales))}, longer side at most "
                 f"{config.max_size} (the paper: 600, at most 1000)")
    if settings.shuffle_colours:
        found.append("colour shuffling: each training image's channels in a random order, half "
                     "of them negated (not in the paper)")
    if settings.transpose:
        found.append("transposed training images besides the mirrors (not in the paper)")
    if settings.bg_lo != BG_THRESHOLD_LO:
        found.append(f"background RoIs from IoU {settings.bg_lo:g} (the paper: {BG_THRESHOLD_LO})")
    views = ["image"] + ["mirror"] * test_options.get("flip", False)
    if test_options.get("transpose", False):
        views += ["transpose"] + ["both"] * test_options.get("flip", False)
    test_scales = test_options.get("scales") or (config.scale,)
    found.append(f"testing at {', '.join(map(str, test_scales))}"
                 + (f", scores and boxes averaged over {len(views)} views ({', '.join(views)}; "
                    "not in the paper)" if len(views) > 1 else ""))
    return found


def detections_grid(model, dataset, proposals, path, count=PICTURES):
    """Draw the first `count` test images with their detections (score >= 0.5) and their ground
    truth (dashed), three to a row, and save the picture to `path`."""
    from .data.transforms import read_image
    from .detect import detect
    from .viz import detections_figure, save_figure

    samples = dataset.samples[:count]
    images = [read_image(sample.image_path) for sample in samples]
    found = [detect(model, image, proposals[sample.image_id], **DEMO_TEST_OPTIONS)
             for image, sample in zip(images, samples)]
    truths = [(sample.boxes, sample.labels) for sample in samples]
    save_figure(detections_figure(images, found, titles=[s.image_id for s in samples],
                                  ground_truths=truths,
                                  title="Detections on held-out test images"), path)


def run_demo(out, iters=None, minutes=None, seed=0, backend=None, progress=True, log=None,
             n_train=DEMO_TRAIN_IMAGES, n_test=DEMO_TEST_IMAGES):
    """Run every step into the folder `out` (files of an earlier demo there are overwritten).

    iters / minutes: the training budget, at most one of them (default DEMO_ITERS iterations);
    log: called with a line of text at each step (None: say nothing).
    Returns {"mAP", "ap", "objects" (the non-difficult test objects of each class),
    "iterations", "departures", "paths" (every file and folder written), "seconds"}.
    """
    from .data.synth import write_synthetic_voc
    from .evaluate import count_objects, evaluate_model
    from .model import CONFIGS, FastRCNN
    from .proposals.cache import cached_proposals, default_cache_dir
    from .train import TrainSettings, train
    from .viz import loss_figure, precision_recall_figure, save_figure

    log = log or quiet
    if iters is None and minutes is None:
        iters = DEMO_ITERS
    start = time.perf_counter()
    data = os.path.join(out, "data")
    paths = {"data": data, "model": os.path.join(out, "model.npz")}
    settings = TrainSettings(data=data, out=paths["model"], config="small", iters=iters,
                             minutes=minutes, seed=seed, backend=backend, **DEMO_TRAIN_OPTIONS)
    paths["checkpoint"] = settings.checkpoint_path
    found = departures(settings, CONFIGS[settings.config], DEMO_TEST_OPTIONS)
    log("Where this run departs from the paper's recipe (a laptop, minutes, 6 synthetic classes):")
    for line in found:
        log(f"  - {line}")

    log(f"1/4  synthetic dataset: {n_train} trainval + {n_test} test images -> {data}")
    write_synthetic_voc(data, n_train, n_test, seed=seed, progress=progress)

    budget = f"{iters} iterations" if iters is not None else f"{minutes:g} minutes"
    log(f"2/4  training the small model for {budget} (proposals first, computed once and cached)")
    model, state = train(settings, progress=progress, log=lambda text: log(f"     {text}"))
    paths["loss curve"] = settings.loss_plot_path
    save_figure(loss_figure(state.history), paths["loss curve"])
    log(f"     {state.iteration} iterations, final loss "
        f"{np.mean(state.history.loss[-100:]):.3f} (mean of the last 100)")

    log("3/4  evaluating on the test split (VOC07 11-point AP, IoU 0.5, difficult ignored)")
    saved = FastRCNN.load(paths["model"], backend=backend)    # what a user of the file gets
    result, dataset, _ = evaluate_model(saved, data, "test", progress=progress,
                                        **DEMO_TEST_OPTIONS)
    log(f"     mAP {result['mAP']:.3f} over {len(result['ap'])} object classes")
    paths["precision-recall"] = os.path.join(out, "precision_recall.png")
    save_figure(precision_recall_figure(result, f"small model on synthetic test: mAP "
                                                 f"{result['mAP']:.3f} (VOC07)"),
                paths["precision-recall"])

    log("4/4  drawing detections on test images")
    proposals, _ = cached_proposals(dataset, default_cache_dir(data), progress=False)
    paths["detections"] = os.path.join(out, "detections.png")
    detections_grid(saved, dataset, proposals, paths["detections"])
    return {"mAP": result["mAP"], "ap": result["ap"], "objects": count_objects(dataset),
            "iterations": state.iteration, "departures": found, "paths": paths,
            "seconds": time.perf_counter() - start}
