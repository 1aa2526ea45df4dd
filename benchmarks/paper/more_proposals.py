"""The paper's Figure 3 in miniature: recall and mAP against the number of proposals per image,
selective search's and densely sampled sliding windows'.

    python benchmarks/paper/more_proposals.py                  # 3 minutes, plus 10 to train once
    python benchmarks/paper/more_proposals.py --demo DIR       # use a folder `minifrcnn demo` wrote
    python benchmarks/paper/more_proposals.py --quick          # 10 test images, to a temporary folder

The detector is the demo's: `minifrcnn demo` (synthetic data, 200 trainval and 100 test images,
2500 iterations, seed 0), trained into benchmarks/work/paper/demo on first use; the same versions
train the same model (README: mAP 0.705 with its flip and transpose test options). It is tested
here single-scale at 224 without those options, so only the proposals change between rows:

- "selective search, first N": the ranked boxes of minifrcnn.proposals (at most all it returns:
  about 350-400 on these 160-320 pixel images; the table gives the mean);
- "dense, N": minifrcnn.boxes.dense_boxes (sliding windows of 4 sizes and 3 aspect ratios, steps
  of half a window), N of them, or all;
- "selective search + dense": all of both.

Recall: the share of the non-difficult test objects that some proposal overlaps with IoU >= 0.5
(and 0.7). mAP: VOC07 11-point, over the test split. Unlike the paper, the network is not
retrained for each proposal setting (training once costs 10 minutes here; 5 settings x 3 seeds
would cost hours): this measures what more or other boxes do to one trained detector.
Paper (VGG16, VOC07, retrained per setting): mAP rises a little from 1k to 2k selective-search
boxes and then falls slightly as more are added, while recall keeps rising; adding dense boxes
to selective search lowers mAP (66.9 -> 65.9 at ~45k boxes), dense boxes alone reach 52.9.

Results: results/paper_proposals.md, .json and .png.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import DEMO, RESULTS, demo_model, machine, pyplot, results_folder, save, write

from minifrcnn.boxes import dense_boxes
from minifrcnn.data.voc import load_voc
from minifrcnn.detect import detect_dataset
from minifrcnn.evaluate import evaluate_detections
from minifrcnn.proposals.cache import cached_proposals, default_cache_dir, proposal_recall

SS_COUNTS = (25, 50, 100, 200, None)          # None: every box selective search returns
DENSE_COUNTS = (100, 500, None)


def settings(ss, sizes):
    """{label: (kind, {image_id: boxes})} for every row of the table."""
    rows = {}
    for count in SS_COUNTS:
        label = f"selective search, first {count}" if count else "selective search, all"
        rows[label] = ("selective search", {k: v[:count] if count else v for k, v in ss.items()})
    for count in DENSE_COUNTS:
        label = f"dense, {count}" if count else "dense, all"
        rows[label] = ("dense", {k: dense_boxes(*sizes[k], count or 10 ** 7) for k in ss})
    rows["selective search + dense"] = ("both", {
        k: np.concatenate([v, dense_boxes(*sizes[k], 10 ** 7)]) for k, v in ss.items()})
    return rows


def measure(model, dataset, rows):
    results = []
    for label, (kind, proposals) in rows.items():
        start = time.perf_counter()
        recall = proposal_recall(proposals, dataset, thresholds=(0.5, 0.7), counts=(10 ** 7,))
        records = detect_dataset(model, dataset, proposals, progress=False)
        result = evaluate_detections(records, dataset)
        results.append({"setting": label, "kind": kind,
                        "boxes": float(np.mean([len(v) for v in proposals.values()])),
                        "recall_05": float(recall["recall"][0, 0]),
                        "recall_07": float(recall["recall"][1, 0]),
                        "mAP": float(result["mAP"]),
                        "seconds": round(time.perf_counter() - start, 1)})
        print(f"{label}: {results[-1]['boxes']:.0f} boxes, recall {results[-1]['recall_05']:.3f}, "
              f"mAP {results[-1]['mAP']:.3f}", flush=True)
    return results


def markdown(data):
    lines = [
        "# More proposals: recall and mAP against the number of boxes (paper Figure 3)",
        "",
        f"Measured {data['date']} on {data['machine']}, {data['cpus']} cores: `python "
        f"benchmarks/paper/more_proposals.py` ({data['test_images']} test images, "
        f"{data['objects']} objects; the demo's detector, tested single-scale at 224, not "
        f"retrained per row).",
        "",
        "| proposals | boxes per image | recall (IoU 0.5) | recall (IoU 0.7) | mAP |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in data["rows"]:
        lines.append(f"| {r['setting']} | {r['boxes']:.0f} | {r['recall_05']:.3f} | "
                     f"{r['recall_07']:.3f} | {r['mAP']:.3f} |")
    lines += ["", "Paper (VGG16, VOC07, retrained per setting): mAP peaks near 2k selective-search "
              "boxes and falls slightly beyond, recall keeps rising; selective search + ~45k dense "
              "boxes 65.9 against 66.9, dense alone 52.9."]
    return "\n".join(lines) + "\n"


def chart(data, path):
    plt = pyplot()

    fig, (ax_map, ax_recall) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, marker in (("selective search", "o-"), ("dense", "s-"), ("both", "^")):
        rows = [r for r in data["rows"] if r["kind"] == kind]
        boxes = [r["boxes"] for r in rows]
        label = "selective search + dense" if kind == "both" else kind
        ax_map.plot(boxes, [r["mAP"] for r in rows], marker, label=label)
        ax_recall.plot(boxes, [r["recall_05"] for r in rows], marker, label=label)
    for ax, name in ((ax_map, "mAP (VOC07)"), (ax_recall, "recall at IoU 0.5")):
        ax.set_xscale("log")
        ax.set_xlabel("proposals per image")
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
    save(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=DEMO,
                        help="a folder `minifrcnn demo` wrote (trained there if missing)")
    parser.add_argument("--quick", action="store_true",
                        help="a 60-iteration demo on 10 test images, to a temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    model, data = demo_model(args.demo, args.quick)
    start = time.perf_counter()
    dataset = load_voc(data, "test", classes=model.classes)
    ss, _ = cached_proposals(dataset, default_cache_dir(data), progress=False)
    sizes = {s.image_id: (s.height, s.width) for s in dataset.samples}
    rows = measure(model, dataset, settings(ss, sizes))
    result = {**machine(), "test_images": len(dataset.samples),
              "objects": int(sum((~np.asarray(s.difficult, bool)).sum() for s in dataset.samples)),
              "rows": rows, "seconds": round(time.perf_counter() - start, 1)}
    write(results_folder(args), "paper_proposals", result, markdown(result), chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
