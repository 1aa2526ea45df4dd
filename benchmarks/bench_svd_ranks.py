"""mAP against rank: truncated SVD of a trained `small` model's fc6 and fc7, on the unseen shapes.

    python benchmarks/bench_svd_ranks.py [--work benchmarks/work/svd_ranks] [--model MODEL.npz]
        [--out benchmarks/results] [--quick]

1. The data: `benchmarks/unseen_shapes.py`'s dataset (300 trainval, 150 test images, seed 1).
2. The model: trained as README.md's "How good after 6000 iterations" commands train it, bounded by
   iterations (6000, seed 0, --init shapes --transpose --bg-lo 0), so the numbers repeat.
   `--model` skips this and uses a model those commands already trained.
3. The sweep: for each pair of ranks (fc6, fc7), `minifrcnn.svd.compress`, then
   - the parameters of fc6 and fc7;
   - the time of fc6 and fc7 (with their ReLUs) on 2000 RoIs, and of one whole detection
     forward pass (the first test image with its selective-search proposals), medians;
   - the test mAP (VOC07, the model's single scale 224, one view).
4. Fine-tuning: the most compressed setting, trained briefly (`train --finetune`, 500
   iterations, the same options), to see how much mAP comes back.

Writes benchmarks/results/svd_ranks.md, .json and .png. The fc and forward times are medians of
interleaved runs in one process; the mAPs depend only on the seeds and the package versions.
"""

import minifrcnn  # noqa: F401  (first: sets the thread-pool variables before NumPy starts)

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from minifrcnn.backend import system_info
from minifrcnn.data import load_voc
from minifrcnn.data.transforms import read_image
from minifrcnn.evaluate import evaluate_model
from minifrcnn.model import FastRCNN
from minifrcnn.proposals.cache import cached_proposals, default_cache_dir
from minifrcnn.svd import compress, compression_report, forward_seconds
from minifrcnn.train import TrainSettings, train

sys.path.insert(0, str(Path(__file__).resolve().parent))     # benchmarks/ is not a package
import unseen_shapes  # noqa: E402

HERE = Path(__file__).resolve().parent
# The README's unseen-shapes run, bounded by iterations.
TRAIN_OPTIONS = dict(init="shapes", transpose=True, bg_lo=0.0, seed=0)
TRAIN_ITERS = 6000
FINETUNE_ITERS = 500
# (fc6 rank, fc7 rank); None: the layer as trained. The small model's fc6 is 256 x 4608 and fc7
# 256 x 256, so 256 is full rank for both.
SWEEP = [(None, None), (128, 128), (96, 64), (64, 32), (48, 32), (32, 16), (16, 8)]
QUICK_SWEEP = [(None, None), (8, 4)]
FC_ROIS = 2000


def fc_seconds(model, rois, samples, rng):
    """Median time of fc6 and fc7 with their ReLUs (test time, no dropout) on `rois` RoI-pooled
    inputs of the model's shape: the cost truncated SVD cuts."""
    ops = model.backend
    channels = model.config.stages[-1][-1]
    x0 = rng.standard_normal((rois, channels, *model.config.roi_size)).astype(model.dtype)

    def run():
        x = x0
        for name in ("fc6", "fc7"):
            x, _ = model.linear_forward(x, name)             # plain or factored by SVD
            x, _ = ops.relu_forward(x)

    run()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def label(ranks):
    fc6, fc7 = ranks
    return "as trained" if fc6 is None else f"fc6 {fc6}, fc7 {fc7}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=HERE / "work" / "svd_ranks",
                        help="folder for the dataset and the models (default benchmarks/work/"
                             "svd_ranks)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a model README's unseen-shapes commands trained (skips training)")
    parser.add_argument("--out", type=Path, default=HERE / "results",
                        help="folder for svd_ranks.md, .json and .png")
    parser.add_argument("--samples", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny dataset, a few iterations, two settings: a smoke test")
    args = parser.parse_args(argv)
    quick = args.quick
    data = args.work / ("unseen_quick" if quick else "unseen")
    if not (data / "ImageSets").exists():
        unseen_shapes.write_dataset(data, *((12, 6) if quick else (300, 150)), seed=1)
    rng = np.random.default_rng(0)

    model_path = args.model or args.work / ("quick.npz" if quick else "unseen.npz")
    started = time.perf_counter()
    if args.model is None:
        iters = 20 if quick else TRAIN_ITERS
        print(f"training {model_path} ({iters} iterations, {TRAIN_OPTIONS})", flush=True)
        train(TrainSettings(data=str(data), out=str(model_path), iters=iters, **TRAIN_OPTIONS),
              progress=not quick)
    train_seconds = time.perf_counter() - started
    model = FastRCNN.load(model_path)

    test = load_voc(data, "test", classes=model.classes)
    proposals, _ = cached_proposals(test, default_cache_dir(data), progress=False)
    first = test.samples[0]
    image, boxes = read_image(first.image_path), proposals[first.image_id]

    samples = 1 if quick else args.samples
    rows = []
    for ranks in (QUICK_SWEEP if quick else SWEEP):
        variant = model if ranks[0] is None else compress(model, {"fc6": ranks[0],
                                                                  "fc7": ranks[1]})
        report = {r.layer: r for r in compression_report(model, variant)}
        result, _, _ = evaluate_model(variant, str(data), "test", progress=False)
        row = {"setting": label(ranks), "fc6_rank": ranks[0], "fc7_rank": ranks[1],
               "fc_params": sum(int(np.prod(variant.params[k].shape)) for k in variant.params
                                if k.startswith(("fc6", "fc7"))),
               "fc6_error": report["fc6"].relative_error if "fc6" in report else 0.0,
               "fc7_error": report["fc7"].relative_error if "fc7" in report else 0.0,
               "fc_ms": 1000 * fc_seconds(variant, FC_ROIS, samples, rng),
               "forward_ms": 1000 * forward_seconds(variant, image, boxes, samples),
               "mAP": result["mAP"]}
        rows.append(row)
        print(f"{row['setting']}: mAP {row['mAP']:.3f}, fc {row['fc_ms']:.1f} ms on {FC_ROIS} "
              f"RoIs, forward {row['forward_ms']:.1f} ms", flush=True)
    base = rows[0]
    for row in rows:
        row["fc_speedup"] = base["fc_ms"] / row["fc_ms"]
        row["forward_change"] = row["forward_ms"] / base["forward_ms"] - 1
        row["mAP_change"] = row["mAP"] - base["mAP"]

    # Fine-tune the most compressed setting briefly, as the paper did not.
    smallest = rows[-1]
    squeezed = compress(model, {"fc6": smallest["fc6_rank"], "fc7": smallest["fc7_rank"]})
    squeezed_path = args.work / "squeezed.npz"
    squeezed.save(squeezed_path)
    tuned_path = args.work / "squeezed_tuned.npz"
    iters = 5 if quick else FINETUNE_ITERS
    options = {key: value for key, value in TRAIN_OPTIONS.items() if key != "init"}
    tuned, _ = train(TrainSettings(data=str(data), out=str(tuned_path), iters=iters,
                                   finetune=str(squeezed_path), **options), progress=not quick)
    tuned_map = evaluate_model(FastRCNN.load(tuned_path), str(data), "test",
                               progress=False)[0]["mAP"]
    finetune = {"setting": smallest["setting"], "iters": iters, "mAP_before": smallest["mAP"],
                "mAP_after": tuned_map, "mAP_as_trained": base["mAP"]}
    print(f"fine-tuned {smallest['setting']} for {iters} iterations: mAP {smallest['mAP']:.3f} "
          f"-> {tuned_map:.3f} (as trained: {base['mAP']:.3f})")

    target = [r for r in rows[1:] if r["fc_speedup"] >= 3 and r["mAP_change"] >= -0.003]
    results = {"machine": system_info(), "data": str(data), "test_images": len(test),
               "model": str(model_path),
               "train_iters": None if args.model else (20 if quick else TRAIN_ITERS),
               "train_seconds": train_seconds if args.model is None else None,
               "fc_rois": FC_ROIS, "samples": samples, "rows": rows, "finetune": finetune,
               "target_met_by": [r["setting"] for r in target]}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "svd_ranks"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2))
    lines = markdown(results)
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    chart(rows, finetune, stem.with_suffix(".png"))
    print("\n".join(lines))
    print(f"\nwrote {stem}.md, .json and .png")
    return 0


def markdown(results):
    rows, finetune = results["rows"], results["finetune"]
    lines = [f"Truncated SVD of the `small` model's fc6 (256 x 4608) and fc7 (256 x 256), trained "
             f"on the unseen shapes ({results['model']}). Test mAP: VOC07 11-point, "
             f"{results['test_images']} images, "
             f"single scale 224. fc time: fc6 and fc7 with their ReLUs on {results['fc_rois']} "
             f"RoIs; forward: one test image with its proposals; medians of "
             f"{results['samples']} runs.", "",
             "| setting | fc parameters | fc6 error | fc7 error | fc ms | fc speed-up | "
             "forward ms | forward change | mAP | mAP change |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['fc_params']:,} | {r['fc6_error']:.3f} | "
                     f"{r['fc7_error']:.3f} | {r['fc_ms']:.1f} | {r['fc_speedup']:.2f}x | "
                     f"{r['forward_ms']:.1f} | {100 * r['forward_change']:+.0f} % | "
                     f"{r['mAP']:.3f} | {r['mAP_change']:+.3f} |")
    met = results["target_met_by"]
    lines += ["", "Target (fc time cut >= 3x for an mAP drop <= 0.003): " +
              (f"met by {', '.join(met)}." if met else "not met by any setting measured."),
              "", f"Fine-tuning {finetune['setting']} for {finetune['iters']} iterations "
              f"(`train --finetune`): mAP {finetune['mAP_before']:.3f} -> "
              f"{finetune['mAP_after']:.3f} (as trained: {finetune['mAP_as_trained']:.3f})."]
    return lines


def chart(rows, finetune, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    fc = [r["fc_ms"] for r in rows]
    maps = [r["mAP"] for r in rows]
    left.plot(fc, maps, "o-")
    for r in rows:
        left.annotate(r["setting"], (r["fc_ms"], r["mAP"]), textcoords="offset points",
                      xytext=(4, 4), fontsize=8)
    left.plot([rows[-1]["fc_ms"]], [finetune["mAP_after"]], "s", color="tab:green",
              label=f"{rows[-1]['setting']}, fine-tuned {finetune['iters']} iterations")
    left.set_xlabel("fc6 + fc7 time on 2000 RoIs (ms)")
    left.set_ylabel("test mAP")
    left.legend(fontsize=8)
    left.set_title("mAP against fc time")
    params = [r["fc_params"] / 1e6 for r in rows]
    right.bar(range(len(rows)), params)
    right.set_xticks(range(len(rows)))
    right.set_xticklabels([r["setting"] for r in rows], rotation=30, ha="right", fontsize=8)
    right.set_ylabel("fc6 + fc7 parameters (millions)")
    right.set_title("parameters")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
