"""The paper's Table 7 in miniature: does scale invariance need an image pyramid, or does a
single scale learn it from the data?

    python benchmarks/paper/scales.py            # 8 minutes on 2 cores after multitask.py
    python benchmarks/paper/scales.py --quick    # a few iterations, to a temporary folder

Two trainings of the shipped `small` model on the unseen shapes (`--init shapes`, --iters
iterations, once per seed; see multitask.py), each tested two ways:

- training at one scale: every image resized to a shorter side of 224 (`--scales 224`);
- training at five: each image's shorter side drawn from 160, 192, 224, 256, 288 (the library's
  default for `small`; the multi-task runs of multitask.py);
- testing at one scale (224) or on a five-level pyramid of the same sides, each proposal scored
  at the level where its area is closest to 224 x 224 (minifrcnn.detect's multi-scale rule).

Reported: VOC07 test mAP and seconds per test image (detection alone, proposals cached; median
of the seeds). Paper (Table 7, VOC07, 1 / 5 scales in training and test): S 57.1 / 58.4 mAP at
0.10 / 0.39 s per image, M 59.2 / 60.7 at 0.15 / 0.64 s, L 66.9 at one scale only (0.32 s):
the pyramid buys about 1.3-1.5 points for about 4x the time, and deep networks learn scale
invariance directly. Results: results/paper_scales.md, .json, .png.
"""

import sys

import numpy as np
from common import (compared, experiment, measured, per_seed, pyplot, save, shown, spread, test_map,
                    trained)

PYRAMID = (160, 192, 224, 256, 288)
TRAINING = {"1 scale": ("one-scale", {"scales": (224,)}), "5 scales": ("multitask", {})}
TESTING = {"1 scale": {}, "5 scales": {"scales": PYRAMID}}
PAPER = {("1 scale", "1 scale"): "S 57.1, M 59.2, L 66.9 (0.10 / 0.15 / 0.32 s)",
         ("5 scales", "5 scales"): "S 58.4, M 60.7 (0.39 / 0.64 s)"}


def arm(train, test):
    return f"train {train}, test {test}"


def run_seed(data, seed, iters, runs):
    results = {}
    for train, (name, options) in TRAINING.items():
        path, _ = trained(name, data, seed, iters, runs, **options)
        for test, detect_options in TESTING.items():
            results[arm(train, test)] = test_map(path, data, **detect_options)
    return results


def markdown(data):
    lines = [
        "# Single scale against an image pyramid, in training and at test (paper Table 7)",
        "",
        measured(data, "scales.py", "; seconds per test image, median over seeds"),
        "",
        "| training | test | paper (VGG networks) | ours mAP | seconds per image |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for train in TRAINING:
        for test in TESTING:
            seconds = np.median([run[arm(train, test)]["seconds_per_image"]
                                 for run in data["runs"]])
            lines.append(f"| {train} | {test} | {PAPER.get((train, test), '')} | "
                         f"{shown(per_seed(data, [arm(train, test)])[arm(train, test)])} | "
                         f"{seconds:.3f} |")
    one, five = arm("1 scale", "1 scale"), arm("5 scales", "5 scales")
    maps = per_seed(data, [one, five])
    cost = [run[five]["seconds_per_image"] / run[one]["seconds_per_image"] for run in data["runs"]]
    gain, noise = compared(maps[one], maps[five])
    lines += ["", f"Five scales in training and test against one: {gain} mAP for "
              f"{np.median(cost):.1f}x the test time per image; {noise} the seed noise (paper: "
              "+1.3 to +1.5 for about 4x the time)."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    fig, ax = pyplot().subplots(figsize=(6.5, 4))
    for i, train in enumerate(TRAINING):
        for test, marker in zip(TESTING, "os"):
            name = arm(train, test)
            mean, std = spread(per_seed(data, [name])[name])
            seconds = np.median([run[name]["seconds_per_image"] for run in data["runs"]])
            ax.errorbar(seconds, mean, yerr=std, fmt=marker, color=f"C{i}", capsize=4, label=name)
    ax.set_xlabel("seconds per test image (detection, 2 cores)")
    ax.set_ylabel("test mAP (VOC07)")
    ax.set_title(f"Table 7 in miniature: mean ± std over {len(data['runs'])} seeds", fontsize=9)
    ax.legend(fontsize=8)
    save(fig, path)


if __name__ == "__main__":
    sys.exit(experiment("paper_scales", __doc__, run_seed, markdown, chart))
