"""The paper's Table 6 in miniature: does multi-task training (classification and box regression
together, eq. 1) help, compared with training for classification alone and with stage-wise
training?

    python benchmarks/paper/multitask.py            # 14 minutes on 2 cores (3 seeds)
    python benchmarks/paper/multitask.py --quick    # a few iterations, to a temporary folder

Every arm fine-tunes the shipped `small` model (`--init shapes`, trained on minifrcnn's six
synthetic shapes) on the unseen shapes (benchmarks/unseen_shapes.py: five other classes, 300
trainval images, seed 1) for --iters iterations with the library's defaults, once per seed, and
is tested on the 150 test images (VOC07 mAP, single scale 224):

- classification only: trained with lam = 0 (no box loss), tested without box regression;
- multi-task, tested without box regression: lam = 1, the proposals themselves as boxes;
- stage-wise: the classification-only network, then its box regressor alone trained for as many
  iterations on the frozen network (`--finetune` with `--train-from bbox_pred`), tested with
  box regression;
- multi-task: lam = 1, tested with box regression (the paper's method).

Paper (Table 6, VOC07 test, networks S / M / L): 52.2 / 54.7 / 62.6, 53.3 / 55.5 / 63.4,
54.6 / 56.6 / 64.0, 57.1 / 59.2 / 66.9 for the four arms. Multi-task training improves pure
classification by 0.8-1.1 points and beats stage-wise training. Results:
results/paper_multitask.md, .json, .png. Trained models are kept in benchmarks/work/paper/runs
(the multi-task runs are shared with finetune_layers.py and scales.py).
"""

import sys

from common import compared, experiment, measured, per_seed, seed_bars, shown, test_map, trained

PAPER = {  # Table 6: S, M, L
    "classification only": (52.2, 54.7, 62.6),
    "multi-task, no box regression at test": (53.3, 55.5, 63.4),
    "stage-wise": (54.6, 56.6, 64.0),
    "multi-task": (57.1, 59.2, 66.9),
}


def run_seed(data, seed, iters, runs):
    """The four arms' test results for one seed: {arm: test_map's dict}."""
    cls_only, _ = trained("cls-only", data, seed, iters, runs, lam=0.0)
    both, _ = trained("multitask", data, seed, iters, runs)
    stagewise, _ = trained("stagewise", data, seed, iters, runs, finetune=str(cls_only),
                           train_from="bbox_pred")
    return {"classification only": test_map(cls_only, data, box_regression=False),
            "multi-task, no box regression at test": test_map(both, data, box_regression=False),
            "stage-wise": test_map(stagewise, data),
            "multi-task": test_map(both, data)}


def markdown(data):
    arms = list(PAPER)
    maps = per_seed(data, arms)
    lines = [
        "# Multi-task training against classification only and stage-wise training (paper Table 6)",
        "",
        measured(data, "multitask.py"),
        "",
        "| arm | box loss in training | box regression at test | paper S / M / L | ours |",
        "| --- | --- | --- | --- | ---: |",
    ]
    training = {"classification only": "no", "multi-task, no box regression at test": "yes",
                "stage-wise": "afterwards, on the frozen network", "multi-task": "yes"}
    for arm in arms:
        at_test = "yes" if arm in ("stage-wise", "multi-task") else "no"
        lines.append(f"| {arm} | {training[arm]} | {at_test} "
                     f"| {' / '.join(f'{v:.1f}' for v in PAPER[arm])} | {shown(maps[arm])} |")
    only, both, stagewise, full = (maps[arm] for arm in arms)
    gain, noise = compared(only, both)
    lines += ["", f"Multi-task training against classification only, both without box regression "
              f"at test: {gain} mAP (paper: +0.8 to +1.1); {noise} the seed noise (|difference "
              "of means| against the sum of the two standard deviations)."]
    gain, noise = compared(stagewise, full)
    lines += ["", f"Multi-task against stage-wise, both with box regression: {gain}; {noise} the "
              "seed noise (paper: +2.5 / +2.6 / +2.9)."]
    gain, noise = compared(both, full)
    lines += ["", f"Box regression at test, the same multi-task networks with and without it: "
              f"{gain}; {noise} the seed noise (paper: +3.8 / +3.7 / +3.5)."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    arms = list(PAPER)
    seed_bars(data, arms, [arm.replace(", ", ",\n") for arm in arms],
              ("classification only", "stage-wise"), "Table 6 in miniature", path, width=8)


if __name__ == "__main__":
    sys.exit(experiment("paper_multitask", __doc__, run_seed, markdown, chart))
