"""The paper's Table 8 in miniature: does the network's own softmax classify as well as the
one-vs-rest linear SVMs that R-CNN and SPPnet train afterwards on the same features?

    python benchmarks/paper/svm_vs_softmax.py              # 3 minutes, plus 10 to train once
    python benchmarks/paper/svm_vs_softmax.py --demo DIR   # use a folder `minifrcnn demo` wrote
    python benchmarks/paper/svm_vs_softmax.py --quick      # a tiny demo, to a temporary folder

The network is the demo's (see more_proposals.py; trained into benchmarks/work/paper/demo on
first use). Its fc7 features (256 per RoI, single scale 224) of every trainval image (mirror
images left out) train one linear SVM per class, R-CNN's way:

- positives: the class's ground-truth boxes; negatives: selective-search proposals whose IoU
  with every box of that class is below 0.3;
- features scaled so that their mean norm is 20 (R-CNN's feature normalisation);
- an L2-regularised squared-hinge SVM (liblinear's default loss), positives weighted 2, solved
  by scipy.optimize's L-BFGS; C chosen as R-CNN's 0.001 per example, in the objective
  0.5 |w|^2 + C sum(loss);
- hard negative mining: start from 2000 random negatives (drawn with --seeds, one set of SVMs
  per seed), then 3 rounds adding every negative the current SVM scores above -1 (inside the
  margin), retraining each time.

Test: the same network, the same boxes (class-specific regression from bbox_pred), the same NMS
and at most 100 detections per image (minifrcnn.detect.select); only the class scores differ:
the softmax's probabilities (threshold 0.05, as detect) or the SVMs' scores (threshold -1).
mAP: VOC07 11-point on the test split. Paper (Table 8, VOC07): the softmax slightly better than
the SVMs for all three networks, by 0.1 to 0.8 mAP points. Ours is one trained network, so there
is no seed spread of the network itself; the seeds move only the first draw of negatives.

Results: results/paper_svm.md, .json, .png.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import DEMO, RESULTS, demo_model, machine, pyplot, results_folder, save, write
from scipy.optimize import minimize

from minifrcnn import boxes as box_ops
from minifrcnn.data.transforms import read_image, resize, scale_factor, to_network
from minifrcnn.data.voc import load_voc
from minifrcnn.detect import select
from minifrcnn.evaluate import evaluate_detections
from minifrcnn.layers import softmax
from minifrcnn.proposals.cache import cached_proposals, default_cache_dir

C = 0.001
POSITIVE_WEIGHT = 2.0
NEGATIVE_IOU = 0.3
FEATURE_NORM = 20.0
FIRST_NEGATIVES = 2000
ROUNDS = 3
SVM_THRESHOLD = -1.0


def image_outputs(model, image, proposals):
    """fc7 (P, D), class scores (P, K+1) and boxes (P, K+1, 4) of one image, single scale."""
    config = model.config
    factor = scale_factor(*image.shape[:2], config.scale, config.max_size)
    x = to_network(resize(image, factor), config.pixel_mean)[None].astype(model.dtype)
    rois = np.zeros((len(proposals), 5), np.float32)
    rois[:, 1:] = box_ops.scale(proposals, factor)
    fc7 = model.trunk_forward(x, rois.astype(model.dtype), False, None)
    cls_score, bbox_pred = model.forward(x, rois, train=False)
    decoded = box_ops.decode(proposals, bbox_pred).reshape(len(proposals), -1, 4)
    return fc7, cls_score, box_ops.clip(decoded, *image.shape[:2])


def training_features(model, dataset, proposals):
    """fc7 of every ground-truth box and proposal of the trainval split, and for each row its
    class (gt) or -1 (proposal) and its IoU with every class's boxes (R, K+1)."""
    features, labels, overlaps = [], [], []
    for sample in dataset.samples:
        keep = ~np.asarray(sample.difficult, bool)
        gt, gt_labels = sample.boxes[keep].astype(np.float32), sample.labels[keep]
        rois = np.concatenate([gt, proposals[sample.image_id]])
        fc7, _, _ = image_outputs(model, read_image(sample.image_path), rois)
        iou = box_ops.iou(rois, gt) if len(gt) else np.zeros((len(rois), 0))
        per_class = np.zeros((len(rois), model.num_classes))
        for c in range(1, model.num_classes):
            if np.any(gt_labels == c):
                per_class[:, c] = iou[:, gt_labels == c].max(axis=1)
        features.append(fc7)
        labels.append(np.concatenate([gt_labels, np.full(len(rois) - len(gt), -1)]))
        overlaps.append(per_class)
    return np.concatenate(features), np.concatenate(labels), np.concatenate(overlaps)


def fit_svm(x, y, weights):
    """w (D,), b: argmin 0.5 |w|^2 + C sum(weight * max(0, 1 - y (x w + b))^2), L-BFGS."""
    def objective(theta):
        w, b = theta[:-1], theta[-1]
        margin = np.maximum(0.0, 1 - y * (x @ w + b))
        loss = 0.5 * w @ w + C * np.sum(weights * margin ** 2)
        g = -2 * C * weights * margin * y
        return loss, np.concatenate([w + x.T @ g, [g.sum()]])
    theta = minimize(objective, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B",
                     options={"maxiter": 500}).x
    return theta[:-1], theta[-1]


def train_svms(features, labels, overlaps, num_classes, rng):
    """One (w, b) per object class, with hard negative mining; and a log of the mining."""
    svms, log = {}, []
    for c in range(1, num_classes):
        positives = features[labels == c]
        negative_pool = np.flatnonzero((labels == -1) & (overlaps[:, c] < NEGATIVE_IOU))
        chosen = rng.choice(negative_pool, min(FIRST_NEGATIVES, len(negative_pool)), replace=False)
        for round_ in range(ROUNDS + 1):
            x = np.concatenate([positives, features[chosen]])
            y = np.concatenate([np.ones(len(positives)), -np.ones(len(chosen))])
            weights = np.where(y > 0, POSITIVE_WEIGHT, 1.0)
            w, b = fit_svm(x, y, weights)
            hard = negative_pool[features[negative_pool] @ w + b > -1]
            new = np.setdiff1d(hard, chosen)
            log.append({"class": int(c), "round": round_, "negatives": int(len(chosen)),
                        "hard_outside": int(len(new))})
            if round_ == ROUNDS or not len(new):
                break
            chosen = np.concatenate([chosen, new])
        svms[c] = (w, b)
    return svms, log


def test_outputs(model, dataset, proposals):
    """{image_id: (fc7, class scores, boxes)} of every test image."""
    return {sample.image_id: image_outputs(model, read_image(sample.image_path),
                                           proposals[sample.image_id])
            for sample in dataset.samples}


def evaluate(model, dataset, outputs, svms=None, scale=1.0):
    """mAP and per-class AP of the softmax (svms None) or of the SVMs, the same boxes for both."""
    records = []
    for image_id, (fc7, cls_score, boxes) in outputs.items():
        if svms is None:
            detections = select(softmax(cls_score), boxes, model.classes)
        else:
            scores = np.full(cls_score.shape, -np.inf)
            for c, (w, b) in svms.items():
                scores[:, c] = (fc7 * scale) @ w + b
            detections = select(scores, boxes, model.classes, score_threshold=SVM_THRESHOLD)
        records += detections.records(image_id)
    result = evaluate_detections(records, dataset)
    return {"mAP": float(result["mAP"]), "ap": {k: float(v) for k, v in result["ap"].items()}}


def markdown(data):
    svm_maps = [run["mAP"] for run in data["svm"]]
    mean, std = float(np.mean(svm_maps)), float(np.std(svm_maps))
    seeds = ", ".join(str(run["seed"]) for run in data["svm"])
    lines = [
        "# Softmax against post-hoc SVMs (paper Table 8)",
        "",
        f"Measured {data['date']} on {data['machine']}, {data['cpus']} cores: `python "
        f"benchmarks/paper/svm_vs_softmax.py` (the demo's network; SVMs on fc7 of "
        f"{data['train_images']} trainval images, {data['train_rois']} RoIs, trained with seeds "
        f"{seeds}; {data['test_images']} test images).",
        "",
        "| class | softmax AP | SVM AP (mean over seeds) |",
        "| --- | ---: | ---: |",
    ]
    for name in data["classes"]:
        svm_ap = np.mean([run["ap"][name] for run in data["svm"]])
        lines.append(f"| {name} | {data['softmax']['ap'][name]:.3f} | {svm_ap:.3f} |")
    lines.append(f"| **mAP** | **{data['softmax']['mAP']:.3f}** | **{mean:.3f} ± {std:.3f}** |")
    lines += ["", f"Softmax minus SVM: {data['softmax']['mAP'] - mean:+.3f} mAP (the SVMs' spread "
              f"over seeds: {std:.3f}). Paper (Table 8, VOC07): the softmax slightly better, by "
              "0.1 to 0.8 points."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    """Per class and for the mAP: the softmax's AP beside the SVMs' (mean over seeds, the
    standard deviation as an error bar)."""
    plt = pyplot()
    names = list(data["classes"]) + ["mAP"]
    softmax_ap = [data["softmax"]["ap"][c] for c in data["classes"]] + [data["softmax"]["mAP"]]
    svm_ap = np.array([[run["ap"][c] for c in data["classes"]] + [run["mAP"]]
                       for run in data["svm"]])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(x - 0.2, softmax_ap, 0.4, label="softmax (the network's own)")
    ax.bar(x + 0.2, svm_ap.mean(axis=0), 0.4, yerr=svm_ap.std(axis=0, ddof=1)
           if len(svm_ap) > 1 else None, capsize=3,
           label=f"linear SVMs on fc7 (mean of {len(svm_ap)} seeds)")
    ax.set_xticks(x, names)
    ax.set_ylabel("test AP (VOC07)")
    ax.set_title("Table 8 in miniature: the same boxes, only the class scores differ", fontsize=9)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=DEMO,
                        help="a folder `minifrcnn demo` wrote (trained there if missing)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of the first negatives, one set of SVMs each (0 1 2)")
    parser.add_argument("--quick", action="store_true",
                        help="a 60-iteration demo on 10 + 10 images, to a temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    model, data = demo_model(args.demo, args.quick)
    start = time.perf_counter()
    train = load_voc(data, "trainval", classes=model.classes)
    test = load_voc(data, "test", classes=model.classes)
    cache = default_cache_dir(data)
    features, labels, overlaps = training_features(
        model, train, cached_proposals(train, cache, progress=False)[0])
    scale = FEATURE_NORM / np.linalg.norm(features, axis=1).mean()
    outputs = test_outputs(model, test, cached_proposals(test, cache, progress=False)[0])
    svm_runs = []
    for seed in [0] if args.quick else args.seeds:
        svms, mining = train_svms(features * scale, labels, overlaps, model.num_classes,
                                  np.random.default_rng(seed))
        svm_runs.append({"seed": seed, "mining": mining,
                         **evaluate(model, test, outputs, svms, scale)})
    result = {**machine(), "train_images": len(train.samples), "train_rois": int(len(features)),
              "test_images": len(test.samples), "classes": list(model.classes[1:]),
              "feature_scale": float(scale), "softmax": evaluate(model, test, outputs),
              "svm": svm_runs,
              "seconds": round(time.perf_counter() - start, 1)}
    write(results_folder(args), "paper_svm", result, markdown(result), chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
