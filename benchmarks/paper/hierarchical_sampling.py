"""The paper's section 2.3 in miniature: hierarchical sampling (N = 2 images, R = 128 RoIs, 64
from each) against R-CNN's and SPPnet's way (128 RoIs from 128 different images), per iteration
and per second of training.

    python benchmarks/paper/hierarchical_sampling.py            # 18 minutes on 2 cores (one seed)
    python benchmarks/paper/hierarchical_sampling.py --quick    # a few iterations, to a temporary folder

Both arms train the `small` network from the same start (`--init shapes`: the shipped crop
classifier's trunk, fresh heads from one seed), with the same learning rate (TrainSettings'
default for --init, held constant: no step) and the same loss, on one synthetic VOC-layout
dataset (minifrcnn synth, --images trainval images, seed 0; flipped images included):

- "N=2, R=128": two images per step, 64 RoIs from each, at most 25 % foreground per image
  (MinibatchSampler + get_minibatch, as `minifrcnn train` does);
- "N=128, R=128": 128 images per step, one RoI from each; 32 of them a foreground RoI where the
  image has one (25 % of 128), the other 96 a background RoI.

Each step's loss and the wall time spent (minibatch and train step) are recorded; the chart
plots the loss (a moving average over 20 steps) against iterations and against seconds. The
second arm runs fewer iterations (--iters-128): each of its steps runs the conv layers over 64
times as many pixels. Paper: sharing computation makes the N = 2 minibatch about 64x faster,
and no slower convergence was seen. Results: results/paper_sampling.md, .json and .png.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, WORK, machine, pyplot, results_folder, save, write

from minifrcnn import FastRCNN
from minifrcnn.data.minibatch import (ImageCache, Minibatch, MinibatchSampler, get_minibatch,
                                      target_stats)
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.pretrain import copy_trunk, load_init_model, to_detector
from minifrcnn.sgd import SGD
from minifrcnn.train import TrainSettings, prepare_data, train_step

SMOOTH = 20


def dataset(images, folder):
    """A synthetic VOC-layout dataset of `images` trainval images (and a few test ones), made
    once per size and reused."""
    root = Path(folder) / f"synth-{images}"
    if not (root / ".complete").exists():
        write_synthetic_voc(root, images, 10, seed=0, progress=False)
        (root / ".complete").write_text("")
    return root


def merge(first, second):
    """One Minibatch of two: images padded to the larger size, the second's batch indices moved
    past the first's images."""
    n1 = len(first.images)
    height = max(first.images.shape[2], second.images.shape[2])
    width = max(first.images.shape[3], second.images.shape[3])
    images = np.zeros((n1 + len(second.images), 3, height, width), np.float32)
    images[:n1, :, :first.images.shape[2], :first.images.shape[3]] = first.images
    images[n1:, :, :second.images.shape[2], :second.images.shape[3]] = second.images
    rois = second.rois.copy()
    rois[:, 0] += n1
    return Minibatch(images, np.concatenate([first.rois, rois]),
                     np.concatenate([first.labels, second.labels]),
                     np.concatenate([first.bbox_targets, second.bbox_targets]),
                     np.concatenate([first.bbox_weights, second.bbox_weights]),
                     np.concatenate([first.scale_factors, second.scale_factors]))


def run_arm(name, roidb, classes, settings, iters, seed, progress):
    """Train one arm for `iters` steps; returns {"loss": [...], "seconds": [...]} per step."""
    rng = np.random.default_rng(seed)
    model = FastRCNN("small", classes, backend="numba", rng=rng)
    model.compile_kernels()
    copy_trunk(load_init_model(settings.init, "small"), model)
    to_detector(model, rng)
    sgd = SGD(model.params, model.trainable())
    means, stds = target_stats(roidb, model.num_classes)
    config = model.config
    options = dict(scales=(config.scale,), max_size=config.max_size, pixel_mean=config.pixel_mean,
                   images=ImageCache())
    per_step = 2 if name == "N=2, R=128" else 128
    sampler = MinibatchSampler(roidb, per_step, rng=rng)
    losses, seconds, elapsed = [], [], 0.0
    for step in range(iters):
        start = time.perf_counter()
        entries = sampler.next_batch()
        if per_step == 2:
            batch = get_minibatch(entries, model.num_classes, means, stds, rng, **options)
        else:
            # 25 % of the RoIs foreground: one RoI from each image, the first quarter of the
            # images giving a foreground RoI where they have one.
            quarter = len(entries) // 4
            fg = get_minibatch(entries[:quarter], model.num_classes, means, stds, rng,
                               rois_per_image=1, fg_fraction=1.0, **options)
            bg = get_minibatch(entries[quarter:], model.num_classes, means, stds, rng,
                               rois_per_image=1, fg_fraction=0.0, **options)
            batch = merge(fg, bg)
        loss, _, _ = train_step(model, batch, sgd, settings.lr, rng)
        elapsed += time.perf_counter() - start
        losses.append(loss)
        seconds.append(elapsed)
        if progress and (step + 1) % max(1, iters // 10) == 0:
            print(f"{name}: step {step + 1}/{iters}, loss {np.mean(losses[-SMOOTH:]):.3f}, "
                  f"{elapsed:.0f} s", flush=True)
    return {"loss": losses, "seconds": seconds}


def smooth(values, window=SMOOTH):
    values = np.asarray(values)
    return np.array([values[max(0, i - window + 1):i + 1].mean() for i in range(len(values))])


def summarise(runs, images, seed):
    two, many = runs["N=2, R=128"], runs["N=128, R=128"]
    common = len(many["loss"])
    step_ratio = (many["seconds"][-1] / len(many["seconds"])) / (two["seconds"][-1] / len(two["seconds"]))
    # The N=2 arm at the wall time the other arm took for all its steps (or at its own end,
    # if it finished sooner).
    at_time = int(np.searchsorted(two["seconds"], many["seconds"][-1]))
    at_time = max(1, min(at_time, len(two["loss"])))
    return {
        **machine(), "images": images, "seed": seed,
        "iters": {name: len(run["loss"]) for name, run in runs.items()},
        "seconds_per_step": {name: run["seconds"][-1] / len(run["seconds"]) for name, run in runs.items()},
        "step_cost_ratio": step_ratio,
        "loss_at_common_iteration": {name: float(smooth(run["loss"])[common - 1])
                                     for name, run in runs.items()},
        "common_iteration": common,
        "n2_iteration_at_same_seconds": at_time,
        "n2_seconds_at_that_iteration": two["seconds"][at_time - 1],
        "n2_loss_at_same_seconds": float(smooth(two["loss"])[at_time - 1]),
        "runs": runs,
    }


def markdown(data):
    names = list(data["iters"])
    lines = [
        "# Hierarchical sampling: N = 2, R = 128 against 128 images with one RoI each (paper section 2.3)",
        "",
        f"Measured {data['date']} on {data['machine']}, {data['cpus']} cores: `python "
        f"benchmarks/paper/hierarchical_sampling.py` (synthetic data, {data['images']} trainval "
        f"images and their mirror images, seed {data['seed']}, one seed: a single run per arm).",
        "",
        "| arm | iterations | seconds per step | loss at iteration "
        f"{data['common_iteration']} (mean of {SMOOTH}) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in names:
        lines.append(f"| {name} | {data['iters'][name]} | {data['seconds_per_step'][name]:.2f} | "
                     f"{data['loss_at_common_iteration'][name]:.3f} |")
    many_seconds = data["runs"][names[1]]["seconds"][-1]
    two_steps, two_seconds = data["n2_iteration_at_same_seconds"], data["n2_seconds_at_that_iteration"]
    if two_seconds < many_seconds * 0.99:
        same_time = (f"The 128-image arm took {many_seconds:.0f} s for its "
                     f"{data['iters'][names[1]]} steps; the N = 2 arm ran all its {two_steps} "
                     f"steps in {two_seconds:.0f} s and reached a loss of "
                     f"{data['n2_loss_at_same_seconds']:.3f}.")
    else:
        same_time = (f"In the {many_seconds:.0f} s the 128-image arm took for its "
                     f"{data['iters'][names[1]]} steps, the N = 2 arm ran {two_steps} steps and "
                     f"reached a loss of {data['n2_loss_at_same_seconds']:.3f}.")
    lines += ["", f"One step of 128 images costs **{data['step_cost_ratio']:.0f}x** one step of 2. "
              + same_time,
              "", "Paper: about 64x faster per minibatch with N = 2, and no slower convergence seen."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    plt = pyplot()

    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 4))
    for name, run in data["runs"].items():
        steps = np.arange(1, len(run["loss"]) + 1)
        by_step.plot(steps, smooth(run["loss"]), label=name)
        by_time.plot(run["seconds"], smooth(run["loss"]), label=name)
    by_step.set_xlabel("iteration")
    by_time.set_xlabel("seconds of training")
    by_time.set_xscale("log")
    for ax in (by_step, by_time):
        ax.set_ylabel(f"multi-task loss (mean of {SMOOTH} steps)")
        ax.legend(fontsize=8)
    by_step.set_title("per iteration")
    by_time.set_title("per second")
    save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="trainval images (100)")
    parser.add_argument("--iters-2", type=int, default=1500, help="steps of the N=2 arm (1500)")
    parser.add_argument("--iters-128", type=int, default=60, help="steps of the N=128 arm (60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both arms (0)")
    parser.add_argument("--quick", action="store_true",
                        help="16 images (a step of the second arm takes all 32 entries), 6 and 2 steps, "
                        "results to a temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.iters_2, args.iters_128 = 16, 6, 2
    work = Path(tempfile.mkdtemp()) if args.quick else WORK
    root = dataset(args.images, work)
    settings = TrainSettings(data=str(root), out=str(work / "unused.npz"), iters=1, init="shapes")
    data, roidb = prepare_data(settings, progress=False)
    start = time.perf_counter()
    runs = {"N=2, R=128": run_arm("N=2, R=128", roidb, data.classes, settings, args.iters_2,
                                  args.seed, not args.quick),
            "N=128, R=128": run_arm("N=128, R=128", roidb, data.classes, settings,
                                    args.iters_128, args.seed, not args.quick)}
    result = summarise(runs, args.images, args.seed)
    result["seconds"] = round(time.perf_counter() - start, 1)
    # The json holds every step's loss: one line, not one per number.
    write(results_folder(args), "paper_sampling", result, markdown(result), chart, indent=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
