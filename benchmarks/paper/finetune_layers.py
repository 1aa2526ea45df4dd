"""The paper's Table 5 in miniature: which layers need fine-tuning? SPPnet could not train the
convs below its pooling layer; Fast R-CNN can. Is that worth it?

    python benchmarks/paper/finetune_layers.py            # 12 minutes on 2 cores after multitask.py
    python benchmarks/paper/finetune_layers.py --quick    # a few iterations, to a temporary folder

Every arm fine-tunes the shipped `small` model (`--init shapes`: its convs learned on
minifrcnn's six synthetic shapes, as VGG16's on ImageNet) on the unseen shapes (see
multitask.py) for --iters iterations, once per seed, and differs only in `--train-from`:

- fc6: the conv layers stay as the shipped model has them (SPPnet's situation);
- conv2_1: conv1_1 stays fixed (the library's default for a trained start, as the paper keeps
  VGG16's conv1 and conv2; the multi-task runs of multitask.py);
- conv1_1: every layer learns.

Test: VOC07 mAP on the 150 test images, single scale. Also reported: seconds per training
iteration (a frozen bottom needs no backward pass). Paper (Table 5 and section 4.5, VGG16,
VOC07): fc6 and up 61.4, conv3_1 and up 66.9, conv2_1 and up 67.2 (1.3x the training time).
Results: results/paper_finetune.md, .json, .png.
"""

import sys

import numpy as np
from common import compared, experiment, measured, per_seed, seed_bars, shown, test_map, trained

# arm: (the run's name, TrainSettings options); "multitask" is the default run multitask.py trains.
ARMS = {"fc6": ("from-fc6", {"train_from": "fc6"}),
        "conv2_1": ("multitask", {}),
        "conv1_1": ("from-conv1_1", {"train_from": "conv1_1"})}
PAPER = {"fc6": "61.4 (VGG16 from fc6)", "conv2_1": "66.9 (from conv3_1)",
         "conv1_1": "67.2 (from conv2_1)"}


def run_seed(data, seed, iters, runs):
    results = {}
    for arm, (name, options) in ARMS.items():
        path, run = trained(name, data, seed, iters, runs, **options)
        results[arm] = {**test_map(path, data), "seconds_per_iteration": run["seconds"] / iters}
    return results


def markdown(data):
    maps = per_seed(data, ARMS)
    lines = [
        "# Which layers to fine-tune (paper Table 5)",
        "",
        measured(data, "finetune_layers.py"),
        "",
        "| layers trained | paper (VGG16) | ours | seconds per iteration (median) |",
        "| --- | --- | ---: | ---: |",
    ]
    for arm in ARMS:
        seconds = np.median([run[arm]["seconds_per_iteration"] for run in data["runs"]])
        lines.append(f"| {arm} and up | {PAPER[arm]} | {shown(maps[arm])} | {seconds:.3f} |")
    (convs, noise), (first, first_noise) = (compared(maps["fc6"], maps["conv2_1"]),
                                            compared(maps["conv2_1"], maps["conv1_1"]))
    lines += ["", f"Fine-tuning the convs (from conv2_1) against fc layers only: {convs} mAP, "
              f"{noise} the seed noise (paper: +5.5). conv1_1 too, against conv2_1: {first}, "
              f"{first_noise} the seed noise (paper: +0.3)."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    seed_bars(data, list(ARMS), [f"{arm} and up" for arm in ARMS], ("fc6",),
              "Table 5 in miniature", path)


if __name__ == "__main__":
    sys.exit(experiment("paper_finetune", __doc__, run_seed, markdown, chart))
