"""`minifrcnn demo`: Fast R-CNN end to end on the built-in synthetic data, in under 10 minutes on
two CPU cores.

    synth (VOC layout) -> selective search (cached) -> train `small` -> evaluate (VOC07 mAP)
    -> pictures: detections on test images, the loss curve, the precision-recall curves

Each step is the library call that the matching command (`synth`, `proposals`, `train`,
`evaluate`, `detect`) makes, so the demo is also a map of the commands.
"""

import os
import sys
import time

import numpy as np

DEMO_TRAIN_IMAGES = 200
DEMO_TEST_IMAGES = 100
# The training budget that keeps the whole demo (data, proposals for 300 images, training,
# evaluation, pictures and Numba's first compilation) under 10 minutes on 2 cores.
DEMO_MINUTES = 5.5
PICTURES = 6


def detections_grid(model, dataset, proposals, path, count=PICTURES):
    """The first `count` test images with their detections (score >= 0.5), in a 2 x 3 grid."""
    from matplotlib.figure import Figure

    from .data.transforms import read_image
    from .detect import detect, save_figure
    from .viz import draw_detections

    samples = dataset.samples[:count]
    fig = Figure(figsize=(12, 7))
    axes = fig.subplots(2, (len(samples) + 1) // 2)
    for ax, sample in zip(np.ravel(axes), samples):
        image = read_image(sample.image_path)
        detections = detect(model, image, proposals[sample.image_id])
        draw_detections(ax, image, detections)
        ax.set_title(sample.image_id, fontsize=9)
        ax.axis("off")
    fig.suptitle("Detections on held-out test images (score >= 0.5)")
    fig.tight_layout()
    save_figure(fig, path)


def run_demo(out, minutes=DEMO_MINUTES, seed=0, backend=None, progress=True, log=print,
             n_train=DEMO_TRAIN_IMAGES, n_test=DEMO_TEST_IMAGES):
    """Run every step into the folder `out`; returns {"mAP", "ap", "paths", "seconds"}."""
    from .data.synth import write_synthetic_voc
    from .detect import (count_objects, evaluate_model, format_ap_table, precision_recall_figure,
                         save_figure)
    from .proposals.cache import cached_proposals, default_cache_dir
    from .train import TrainSettings, train

    start = time.perf_counter()
    data = os.path.join(out, "data")
    paths = {"data": data, "model": os.path.join(out, "model.npz")}

    log(f"1/4  synthetic dataset: {n_train} trainval + {n_test} test images -> {data}")
    write_synthetic_voc(data, n_train, n_test, seed=seed, progress=progress)

    log("2/4  training the small model for "
        f"{minutes:g} minutes (proposals first, computed once and cached)")
    settings = TrainSettings(data=data, out=paths["model"], config="small", minutes=minutes,
                             seed=seed, backend=backend)
    model, state = train(settings, progress=progress, log=lambda text: log(f"     {text}"))
    paths["loss curve"] = settings.loss_plot_path
    log(f"     {state.iteration} iterations, final loss "
        f"{np.mean(state.history.loss[-100:]):.3f} (mean of the last 100)")

    log("3/4  evaluating on the test split (VOC07 11-point AP, IoU 0.5, difficult ignored)")
    from .model import FastRCNN

    saved = FastRCNN.load(paths["model"], backend=backend)    # what a user of the file gets
    result, dataset, _ = evaluate_model(saved, data, "test", progress=progress)
    log(format_ap_table(result, count_objects(dataset)))
    paths["precision-recall"] = os.path.join(out, "precision_recall.png")
    save_figure(precision_recall_figure(result, f"small model on synthetic test: mAP "
                                                 f"{result['mAP']:.3f} (VOC07)"),
                 paths["precision-recall"])

    log("4/4  drawing detections on test images")
    proposals, _ = cached_proposals(dataset, default_cache_dir(data), progress=False)
    paths["detections"] = os.path.join(out, "detections.png")
    detections_grid(saved, dataset, proposals, paths["detections"])
    return {"mAP": result["mAP"], "ap": result["ap"], "paths": paths,
            "seconds": time.perf_counter() - start}


def demo_command(out, minutes=None, seed=0, backend=None):
    """`minifrcnn demo`: run_demo, then say where everything went; exit status 0 or 1."""
    from .train import TrainingError

    try:
        summary = run_demo(out, DEMO_MINUTES if minutes is None else minutes, seed, backend)
    except (TrainingError, ValueError, OSError) as error:
        print(f"minifrcnn demo: {error}", file=sys.stderr)
        return 1
    print(f"\nmAP {summary['mAP']:.3f} on the synthetic test split, whole demo "
          f"{summary['seconds'] / 60:.1f} minutes. Written:")
    width = max(len(name) for name in summary["paths"])
    for name, path in summary["paths"].items():
        print(f"  {name:<{width}}  {path}")
    return 0
