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
# The training budget that keeps the whole demo (data, proposals for 300 images, training,
# evaluation, pictures and Numba's first compilation) under 10 minutes on 2 cores.
DEMO_MINUTES = 5.5
PICTURES = 6


def detections_grid(model, dataset, proposals, path, count=PICTURES):
    """Draw the first `count` test images with their detections (score >= 0.5) and their ground
    truth (dashed), three to a row, and save the picture to `path`."""
    from .data.transforms import read_image
    from .detect import detect
    from .viz import detections_figure, save_figure

    samples = dataset.samples[:count]
    images = [read_image(sample.image_path) for sample in samples]
    found = [detect(model, image, proposals[sample.image_id])
             for image, sample in zip(images, samples)]
    truths = [(sample.boxes, sample.labels) for sample in samples]
    save_figure(detections_figure(images, found, titles=[s.image_id for s in samples],
                                  ground_truths=truths,
                                  title="Detections on held-out test images"), path)


def run_demo(out, minutes=DEMO_MINUTES, seed=0, backend=None, progress=True, log=None,
             n_train=DEMO_TRAIN_IMAGES, n_test=DEMO_TEST_IMAGES):
    """Run every step into the folder `out`; returns {"mAP", "ap", "objects", "paths",
    "seconds"} ("objects": the non-difficult test objects of each class). log: called with a
    line of text at each step (None: say nothing)."""
    from .data.synth import write_synthetic_voc
    from .evaluate import count_objects, evaluate_model
    from .proposals.cache import cached_proposals, default_cache_dir
    from .train import TrainSettings, train
    from .viz import loss_figure, precision_recall_figure, save_figure

    log = log or quiet

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
    save_figure(loss_figure(state.history), paths["loss curve"])
    log(f"     {state.iteration} iterations, final loss "
        f"{np.mean(state.history.loss[-100:]):.3f} (mean of the last 100)")

    log("3/4  evaluating on the test split (VOC07 11-point AP, IoU 0.5, difficult ignored)")
    from .model import FastRCNN

    saved = FastRCNN.load(paths["model"], backend=backend)    # what a user of the file gets
    result, dataset, _ = evaluate_model(saved, data, "test", progress=progress)
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
            "paths": paths, "seconds": time.perf_counter() - start}
