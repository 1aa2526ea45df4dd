"""Selective search, fast mode: minifrcnn against OpenCV's (opencv-contrib), one thread each, on
held-out synthetic VOC-layout images of 160-320 px: time per image and recall at IoU 0.5 / 0.7.

    python benchmarks/bench_proposals.py [--images 60] [--seed 0] [--out benchmarks/results]

OpenCV is only the reference here, never used by the library (`pip install
opencv-contrib-python-headless` beside minifrcnn to run it; without it only minifrcnn is timed).
Each image is processed by both, alternating which goes first; times are per image, medians and
totals reported. Recall counts non-difficult objects, as the library's recall tool does.
"""

import minifrcnn  # noqa: F401  (first: thread-pool settings before NumPy starts)

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from PIL import Image

from minifrcnn.backend import system_info
from minifrcnn.boxes import from_xywh
from minifrcnn.data import load_voc
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.proposals import selective_search
from minifrcnn.proposals.cache import proposal_recall


def opencv_fast(cv2):
    """OpenCV's selective search in fast mode, as a function image (H, W, 3) RGB -> boxes."""
    def run(image):
        search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        search.setBaseImage(np.ascontiguousarray(image[:, :, ::-1]))    # OpenCV wants BGR
        search.switchToSelectiveSearchFast()
        return from_xywh(search.process()[:2000]).astype(np.float32)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60, help="held-out test images (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic dataset")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    numba.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
        methods = {"minifrcnn": selective_search, "opencv": opencv_fast(cv2)}
    except (ImportError, AttributeError):
        methods = {"minifrcnn": selective_search}

    with tempfile.TemporaryDirectory() as folder:
        write_synthetic_voc(folder, 0, args.images, seed=args.seed, progress=False)
        dataset = load_voc(folder, "test")
        images = [np.asarray(Image.open(s.image_path).convert("RGB")) for s in dataset.samples]
        selective_search(images[0])                      # compile (or load) the kernels first
        times = {name: [] for name in methods}
        proposals = {name: {} for name in methods}
        for i, (sample, image) in enumerate(zip(dataset.samples, images)):
            order = list(methods) if i % 2 == 0 else list(methods)[::-1]
            for name in order:
                start = time.perf_counter()
                proposals[name][sample.image_id] = methods[name](image)
                times[name].append(time.perf_counter() - start)
        recall = {name: proposal_recall(proposals[name], dataset) for name in methods}

    rows = {name: {"median_s": statistics.median(times[name]), "total_s": sum(times[name]),
                   "recall": recall[name]} for name in methods}
    info = system_info()
    lines = [f"Selective search, fast mode, one thread each, {args.images} synthetic test images "
             f"(160-320 px, seed {args.seed}), {info['threads']['cpu cores']}-core x86-64.", "",
             "| method | median s / image | recall@0.5 | recall@0.7 | boxes / image |",
             "| --- | --- | --- | --- | --- |"]
    for name, row in rows.items():
        r = row["recall"]
        # recall: (thresholds, counts); the last count is 2000, all the boxes a method returns
        lines.append(f"| {name} | {row['median_s']:.3f} | {r['recall'][0][-1]:.3f} | "
                     f"{r['recall'][1][-1]:.3f} | {r['mean_boxes']:.0f} |")
    if "opencv" in rows:
        ratio = rows["minifrcnn"]["median_s"] / rows["opencv"]["median_s"]
        lines += ["", f"Time ratio minifrcnn / OpenCV: {ratio:.2f}x (median per image)."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "proposals.md").write_text("\n".join(lines) + "\n")
    (args.out / "proposals.json").write_text(json.dumps(rows, indent=2, default=lambda a: a.tolist()))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
