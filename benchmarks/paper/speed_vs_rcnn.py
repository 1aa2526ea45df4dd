"""The paper's Table 4 and section 4 in miniature: test-time speed of Fast R-CNN against R-CNN,
the same trained network run both ways.

    python benchmarks/paper/speed_vs_rcnn.py              # about 4 minutes on 2 idle cores
    python benchmarks/paper/speed_vs_rcnn.py --quick      # one image, 50 proposals, to a temporary folder

- Fast R-CNN: the image resized to the model's scale, one pass of the conv trunk, RoI pooling of
  every proposal, fc6, fc7 and the heads (minifrcnn.detect.forward_image).
- R-CNN style: every proposal cut out of the image and warped to the crop size (96 x 96 for
  `small`: its conv map pools to the 6 x 6 that fc6 expects), each crop through the whole network
  (the conv trunk once per proposal), then the same heads; crops go through in batches of 128.

The network is the shipped `small` model (`--init shapes`, minifrcnn/pretrained/small_shapes.npz;
its weights do not change the timing), backend numba, and with truncated SVD (fc6 rank 96, fc7 rank 64, as README's `compress` example). Images:
synthetic (minifrcnn.data.synth.render_image, seed 0), 160-320 pixels a side. Proposals: the
first P of selective search, padded with dense sliding windows (minifrcnn.boxes.dense_boxes)
where it returns fewer than P. Each (image, P, variant) is timed --repeats times after a warm-up,
variants in rotating order; the table holds medians over repeats and images, and the speed-up
R-CNN / Fast R-CNN per image. Paper (VGG16, one GPU): 146x without SVD, 213x with it
(47.0 s against 0.32 s and 0.22 s per image).

Results: results/paper_speed.md, .json and .png.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS, machine, pyplot, results_folder, save, write

from minifrcnn import FastRCNN
from minifrcnn.boxes import dense_boxes
from minifrcnn.data.synth import render_image
from minifrcnn.data.transforms import crop_resize, to_network
from minifrcnn.detect import forward_image
from minifrcnn.pretrain import BUILTIN_MODELS
from minifrcnn.proposals import selective_search
from minifrcnn.svd import compress

RANKS = {"fc6": 96, "fc7": 64}
PROPOSALS = (100, 500, 2000)
BATCH = 128
PAPER = {"rcnn_s": 47.0, "fast_s": 0.32, "fast_svd_s": 0.22, "speedup": 146, "speedup_svd": 213}


def proposals_for(image, ranked, count):
    """The first `count` of the selective-search boxes `ranked`, padded with dense windows not
    among them."""
    height, width = image.shape[:2]
    boxes = ranked[:count]
    if len(boxes) < count:
        extra = dense_boxes(height, width, 10 ** 6)
        known = {tuple(b) for b in boxes.tolist()}
        extra = np.array([b for b in extra.tolist() if tuple(b) not in known], np.float32)
        pick = np.linspace(0, len(extra) - 1, count - len(boxes)).round().astype(np.int64)
        boxes = np.concatenate([boxes, extra[np.unique(pick)]])
        if len(boxes) < count:                  # a small image: repeat windows to reach count
            boxes = np.resize(boxes, (count, 4))
    return boxes


def fast_rcnn(model, image, proposals):
    """(P, K+1) scores and (P, 4(K+1)) deltas: one conv pass, then RoI pooling."""
    return forward_image(model, image, proposals, (model.config.scale,))


def rcnn(model, image, proposals):
    """The same outputs R-CNN's way: each proposal warped to the crop size and run through the
    whole network (a RoI covering the whole crop pools its conv map to roi_size)."""
    size = model.config.crop_size
    scores, deltas = [], []
    for start in range(0, len(proposals), BATCH):
        chunk = proposals[start:start + BATCH]
        crops = np.stack([to_network(crop_resize(image, box, size), model.config.pixel_mean)
                          for box in chunk]).astype(model.dtype)
        rois = np.zeros((len(chunk), 5), np.float32)
        rois[:, 0] = np.arange(len(chunk))
        rois[:, 3:] = size - 1
        cls_score, bbox_pred = model.forward(crops, rois, train=False)
        scores.append(cls_score)
        deltas.append(bbox_pred)
    return np.concatenate(scores), np.concatenate(deltas)


def measure(models, images, counts, repeats):
    """{(variant, P): [seconds per image, ...]}: medians over repeats, one entry per image."""
    variants = [(f"{way}{suffix}", fn, model) for suffix, model in models.items()
                for way, fn in (("fast", fast_rcnn), ("rcnn", rcnn))]
    times = {}
    for image in images:
        ranked = selective_search(image)
        for count in counts:
            proposals = proposals_for(image, ranked, count)
            for _, fn, model in variants:          # warm-up: compile, caches
                fn(model, image, proposals[:8])
            samples = {name: [] for name, _, _ in variants}
            for r in range(repeats):
                for name, fn, model in variants[r % len(variants):] + variants[:r % len(variants)]:
                    start = time.perf_counter()
                    fn(model, image, proposals)
                    samples[name].append(time.perf_counter() - start)
            for name, values in samples.items():
                times.setdefault((name, count), []).append(statistics.median(values))
    return times


def summarise(times, counts, images, repeats):
    rows = []
    for count in counts:
        med = {name: statistics.median(times[(name, count)])
               for name in ("fast", "rcnn", "fast_svd", "rcnn_svd")}
        rows.append({"proposals": count, **{f"{k}_s": v for k, v in med.items()},
                     "speedup": med["rcnn"] / med["fast"],
                     "speedup_svd": med["rcnn_svd"] / med["fast_svd"]})
    return {**machine(), "images": images,
            "repeats": repeats, "ranks": RANKS, "rows": rows, "paper": PAPER}


def markdown(data):
    lines = [
        "# Test-time speed: Fast R-CNN against R-CNN (paper Table 4, section 4)",
        "",
        f"Measured {data['date']} on {data['machine']}, {data['cpus']} cores: "
        f"`python benchmarks/paper/speed_vs_rcnn.py` ({data['images']} synthetic images, medians "
        f"of {data['repeats']} runs each). The shipped `small` model on the numba backend; SVD: "
        f"fc6 rank {data['ranks']['fc6']}, fc7 rank {data['ranks']['fc7']}.",
        "",
        "| proposals | Fast R-CNN | R-CNN style | speed-up | Fast R-CNN + SVD | R-CNN + SVD | speed-up |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in data["rows"]:
        lines.append(f"| {r['proposals']} | {1000 * r['fast_s']:.0f} ms | {r['rcnn_s']:.2f} s | "
                     f"**{r['speedup']:.0f}x** | {1000 * r['fast_svd_s']:.0f} ms | "
                     f"{r['rcnn_svd_s']:.2f} s | **{r['speedup_svd']:.0f}x** |")
    p = data["paper"]
    lines += ["", f"Paper (VGG16, 2000 proposals, one GPU): R-CNN {p['rcnn_s']} s per image, Fast "
                  f"R-CNN {p['fast_s']} s ({p['speedup']}x), with SVD {p['fast_svd_s']} s "
                  f"({p['speedup_svd']}x)."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    plt = pyplot()

    counts = [r["proposals"] for r in data["rows"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key, label, style in (("rcnn_s", "R-CNN style", "o-"), ("rcnn_svd_s", "R-CNN + SVD", "o--"),
                              ("fast_s", "Fast R-CNN", "s-"), ("fast_svd_s", "Fast R-CNN + SVD", "s--")):
        ax.plot(counts, [r[key] for r in data["rows"]], style, label=label)
    for r in data["rows"]:
        ax.annotate(f"{r['speedup']:.0f}x", (r["proposals"], r["rcnn_s"]), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("proposals per image")
    ax.set_ylabel("seconds per image (median)")
    ax.set_title("Test time per image: the same network run two ways")
    ax.legend(fontsize=8)
    save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3, help="synthetic images (3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (3)")
    parser.add_argument("--quick", action="store_true",
                        help="one image, 50 proposals, one run, results to a temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    counts = (50,) if args.quick else PROPOSALS
    images_count, repeats = (1, 1) if args.quick else (args.images, args.repeats)
    model = FastRCNN.load(BUILTIN_MODELS["shapes"], backend="numba")
    models = {"": model, "_svd": compress(model, RANKS)}
    rng = np.random.default_rng(0)
    images = [render_image(rng)[0] for _ in range(images_count)]
    start = time.perf_counter()
    times = measure(models, images, counts, repeats)
    data = summarise(times, counts, images_count, repeats)
    data["seconds"] = round(time.perf_counter() - start, 1)
    write(results_folder(args), "paper_speed", data, markdown(data), chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
