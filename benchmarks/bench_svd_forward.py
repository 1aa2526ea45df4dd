"""The paper's Figure 2, measured: where VGG16's test-time forward spends its time with 2000 RoIs,
and what truncated SVD of fc6 and fc7 (section 3.1) saves, against PyTorch on the CPU when it is
installed, in one process.

    python benchmarks/bench_svd_forward.py [--config vgg16] [--rois 2000] [--samples 5]
        [--sweep-samples 3] [--seed 0] [--no-torch] [--quick] [--out benchmarks/results]

The network: a FastRCNN of the config (VGG16 by default) with random weights from --seed, 21
classes as VOC, backend numba, float32; one random 600x800 input (uniform in +-128, as pixels
minus their mean) and --rois random RoIs (batch index 0, minifrcnn.boxes.random_boxes). The
paper's VGG16 spends about 45 % of this forward in fc6 + fc7, and SVD (fc6 keeps rank 1024, fc7
256) took it from 320 to 223 ms per image on a GPU.

One test-time forward is timed stage by stage: conv trunk (input scale, every conv, ReLU and
max-pool), RoI pooling, fc6 (+ ReLU), fc7 (+ ReLU), heads (cls_score and bbox_pred). The stages
call the backend's functions in the order of FastRCNN.trunk_forward, with the model's parameters
and no dropout (test time); before any timing, their outputs are checked against model.forward's.
Variants, warmed up once and then visited in rotating order, medians of --samples:

- "minifrcnn": the model on the numba backend;
- "minifrcnn + SVD": minifrcnn.svd.compress(model, {"fc6": 1024, "fc7": 256}), computed once
  before the timing (its time is reported);
- "pytorch": the same network in torch.nn.functional (conv2d, relu, max_pool2d, F.linear) with
  torchvision.ops.roi_pool, the same weights (torch.from_numpy), torch.set_num_threads(cores),
  under torch.inference_mode(); its outputs must agree with minifrcnn's before it is timed;
- "pytorch + SVD": the same, with the SVD model's factors.
Without torch or torchvision the PyTorch variants are skipped with a note (minifrcnn never
requires them).

Targets, each printed with its measured value and PASS or MISS: (a) minifrcnn's whole forward is
at most 1.3x PyTorch's; (b) SVD cuts minifrcnn's fc6 + fc7 time at least 3x; (c) SVD cuts
minifrcnn's whole forward at least 30 %.

The fc share as RoIs grow: for R in 1, 10, 100, 500, 1000, 2000 (the first R of the RoIs, same
image), minifrcnn with and without SVD. The conv trunk does not depend on R, so it is the median
trunk time of the stage measurement above (both minifrcnn variants' samples: the same convs);
RoI pooling, fc6, fc7 and the heads are timed per R on the trunk's features, interleaved,
medians of --sweep-samples.

--quick: the `small` config (fc 256; ranks fc6 64, fc7 16), a 224x299 input, 200 RoIs, one
sample: a smoke test of seconds.

Writes svd_forward.md, svd_forward.json and svd_forward.png (fc share against R; the stage
breakdown of every variant) to --out.
"""

import minifrcnn  # noqa: F401  (first: sets the thread-pool variables before NumPy starts)

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from minifrcnn.backend import system_info
from minifrcnn.model import BACKGROUND, CONFIGS, FastRCNN, linear_layers
from minifrcnn.svd import compress

sys.path.insert(0, str(Path(__file__).resolve().parent))     # benchmarks/ is not a package
from bench_layers import make_rois  # noqa: E402

STAGES = ("conv trunk", "roi_pool", "fc6", "fc7", "heads")
PER_ROI_STAGES = STAGES[1:]
VOC_CLASSES = [BACKGROUND, "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor"]
SWEEP_ROIS = (1, 10, 100, 500, 1000, 2000)
FULL = dict(config="vgg16", size=(600, 800), rois=2000, ranks={"fc6": 1024, "fc7": 256})
QUICK = dict(config="small", size=(224, 299), rois=200, ranks={"fc6": 64, "fc7": 16})
# The targets: (key, description, comparison, threshold).
TARGETS = (("a_minifrcnn_vs_pytorch", "minifrcnn whole forward / PyTorch's", "<=", 1.3),
           ("b_svd_fc_speedup", "fc6+fc7 time without SVD / with SVD", ">=", 3.0),
           ("c_svd_whole_cut", "whole forward cut by SVD (fraction)", ">=", 0.30))
PAPER_FC_SHARE = 0.45      # Figure 2: VGG16, 2000 RoIs


def our_stages(model):
    """{stage: function} of `model`'s test-time forward, each calling the backend's functions in
    the order of FastRCNN.trunk_forward and _heads_forward: "conv trunk" images -> features,
    "roi_pool" (features, rois) -> (R, C, PH, PW), "fc6" and "fc7" x -> relu(linear(x)) (dropout
    is the identity at test time), "heads" fc7 -> (cls_score, bbox_pred)."""
    ops, params, config = model.backend, model.params, model.config

    def linear(x, name):
        return model.linear_forward(x, name)[0]          # plain or factored by SVD

    def trunk(images):
        x = images * model.dtype.type(config.input_scale)
        names = iter(config.conv_names)
        for stage, widths in enumerate(config.stages):
            for _ in widths:
                name = next(names)
                x, _ = ops.conv2d_forward(x, params[f"{name}.w"], params[f"{name}.b"], 1, 1)
                x, _ = ops.relu_forward(x)
            if stage < len(config.stages) - 1:
                x, _ = ops.maxpool2d_forward(x, 2, 2)
        return x

    def roi_pool(features, rois):
        return ops.roi_pool_forward(features, rois, config.roi_size, config.spatial_scale)[0]

    def fc(name):
        return lambda x: ops.relu_forward(linear(x, name))[0]

    def heads(x):
        return linear(x, "cls_score"), linear(x, "bbox_pred")

    return {"conv trunk": trunk, "roi_pool": roi_pool, "fc6": fc("fc6"), "fc7": fc("fc7"),
            "heads": heads}


def torch_stages(torch, torchvision, model):
    """The same stages as our_stages(model) in PyTorch (functional ops on torch.from_numpy of the
    model's parameters, which share their memory), each under torch.inference_mode()."""
    functional = torch.nn.functional
    config = model.config
    params = {key: torch.from_numpy(value) for key, value in model.params.items()}
    inference = torch.inference_mode()

    def linear(x, name):
        if name in config.ranks:
            return functional.linear(functional.linear(x, params[f"{name}_first.w"]),
                                     params[f"{name}_second.w"], params[f"{name}_second.b"])
        return functional.linear(x, params[f"{name}.w"], params[f"{name}.b"])

    @inference
    def trunk(images):
        x = images * config.input_scale
        names = iter(config.conv_names)
        for stage, widths in enumerate(config.stages):
            for _ in widths:
                name = next(names)
                x = functional.relu(functional.conv2d(x, params[f"{name}.w"], params[f"{name}.b"],
                                                      padding=1))
            if stage < len(config.stages) - 1:
                x = functional.max_pool2d(x, 2, 2)
        return x

    @inference
    def roi_pool(features, rois):
        return torchvision.ops.roi_pool(features, rois, config.roi_size,
                                        config.spatial_scale).flatten(1)

    def fc(name):
        return inference(lambda x: functional.relu(linear(x, name)))

    @inference
    def heads(x):
        return linear(x, "cls_score"), linear(x, "bbox_pred")

    return {"conv trunk": trunk, "roi_pool": roi_pool, "fc6": fc("fc6"), "fc7": fc("fc7"),
            "heads": heads}


def run_stages(stages, images, rois, features=None):
    """One forward through `stages`: ((cls_score, bbox_pred), {stage: seconds}). With `features`
    given, the conv trunk is skipped (and not in the seconds)."""
    clock = time.perf_counter
    seconds = {}
    start = clock()
    if features is None:
        features = stages["conv trunk"](images)
        seconds["conv trunk"], start = clock() - start, clock()
    x = stages["roi_pool"](features, rois)
    seconds["roi_pool"], start = clock() - start, clock()
    for name in ("fc6", "fc7"):
        x = stages[name](x)
        seconds[name], start = clock() - start, clock()
    outputs = stages["heads"](x)
    seconds["heads"] = clock() - start
    return outputs, seconds


def measure(variants, samples, warmup_calls=1):
    """variants: {label: fn}, fn() -> {stage: seconds}. Each is warmed up, then they run in
    rotating order. Returns {label: [{stage: seconds}]} and {label: [whole seconds]}."""
    for fn in variants.values():
        for _ in range(warmup_calls):
            fn()
    stages = {label: [] for label in variants}
    wholes = {label: [] for label in variants}
    labels = list(variants)
    for i in range(samples):
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            start = time.perf_counter()
            seconds = variants[label]()
            wholes[label].append(time.perf_counter() - start)
            stages[label].append(seconds)
    return stages, wholes


def _median_ms(values):
    return 1000 * statistics.median(values)


def summarise(samples, wholes):
    """Median ms per stage, of the whole forward and of fc6 + fc7 (the median of their per-run
    sums), and the fc share (that median over the whole's)."""
    stage_ms = {stage: _median_ms([s[stage] for s in samples]) for stage in samples[0]}
    fc_ms = _median_ms([s["fc6"] + s["fc7"] for s in samples])
    whole_ms = _median_ms(wholes)
    return {"stage_ms": stage_ms, "whole_ms": whole_ms, "fc_ms": fc_ms,
            "fc_share": fc_ms / whole_ms}


def compare(ours, theirs):
    """Max abs and relative (to the largest |value| of ours) differences of the two outputs."""
    check = {}
    for name, a, b in zip(("cls_score", "bbox_pred"), ours, theirs):
        diff = float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
        check[f"max_abs_diff_{name}"] = diff
        check[f"max_rel_diff_{name}"] = diff / max(float(np.abs(a).max()), 1e-30)
    return check


def _target(description, comparison, threshold, value):
    if value is None:
        status = "SKIP"
    else:
        met = value <= threshold if comparison == "<=" else value >= threshold
        status = "PASS" if met else "MISS"
    return {"description": description, "target": f"{comparison} {threshold:g}",
            "value": value, "status": status}


def sweep_counts(rois):
    """The R of the sweep: SWEEP_ROIS up to `rois`, and `rois` itself."""
    return sorted({r for r in SWEEP_ROIS if r < rois} | {rois})


def measure_svd_forward(config="vgg16", size=(600, 800), rois=2000, ranks=None, samples=5,
                        sweep_samples=3, seed=0, use_torch=True):
    """Run the benchmark and return its results as a JSON-serialisable dict (see main)."""
    config = CONFIGS[config] if isinstance(config, str) else config
    ranks = dict(FULL["ranks"] if ranks is None else ranks)
    rng = np.random.default_rng(seed)
    model = FastRCNN(config, VOC_CLASSES, backend="numba", dtype=np.float32,
                     rng=np.random.default_rng(seed))
    height, width = size
    images = rng.uniform(-128, 128, (1, 3, height, width)).astype(np.float32)
    all_rois = make_rois(rng, rois, height, width)

    start = time.perf_counter()
    svd_model = compress(model, ranks)
    compress_s = time.perf_counter() - start

    nets = {"minifrcnn": our_stages(model), "minifrcnn + SVD": our_stages(svd_model)}
    # The staged forward must be model.forward, layer for layer.
    reference = {"minifrcnn": model.forward(images, all_rois),
                 "minifrcnn + SVD": svd_model.forward(images, all_rois)}
    staged_check = {}
    for label, stages in nets.items():
        outputs, _ = run_stages(stages, images, all_rois)
        for got, want in zip(outputs, reference[label]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max(),
                                       err_msg=f"{label}: staged forward != model.forward")
        staged_check[label] = compare(reference[label], outputs)
    svd_change = compare(reference["minifrcnn"], reference["minifrcnn + SVD"])

    variants = {label: (lambda stages=stages: run_stages(stages, images, all_rois)[1])
                for label, stages in nets.items()}

    torch = torchvision = None
    torch_note = None
    pytorch_check = {}
    if use_torch:
        try:
            import torch
            import torchvision
        except ImportError as error:
            torch = torchvision = None
            torch_note = f"PyTorch variants skipped: {error}"
    else:
        torch_note = "PyTorch variants skipped (--no-torch)"
    if torch is not None:
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        images_t, rois_t = torch.from_numpy(images), torch.from_numpy(all_rois)
        for label, source in (("pytorch", model), ("pytorch + SVD", svd_model)):
            stages = torch_stages(torch, torchvision, source)
            outputs, _ = run_stages(stages, images_t, rois_t)
            ours = reference["minifrcnn" if source is model else "minifrcnn + SVD"]
            check = compare(ours, [o.numpy() for o in outputs])
            if max(v for k, v in check.items() if k.startswith("max_rel")) > 1e-3:
                raise RuntimeError(f"{label} is not the same network as minifrcnn's ({check}): "
                                   "its timings would compare different work")
            pytorch_check[label] = check
            variants[label] = (lambda stages=stages: run_stages(stages, images_t, rois_t)[1])
    if torch_note:
        print(torch_note)

    stage_samples, wholes = measure(variants, samples)
    results = {label: summarise(stage_samples[label], wholes[label]) for label in variants}

    # The fc share as RoIs grow: the trunk once, the per-RoI stages per R.
    trunk_ms = _median_ms([s["conv trunk"] for label in ("minifrcnn", "minifrcnn + SVD")
                           for s in stage_samples[label]])
    features = nets["minifrcnn"]["conv trunk"](images)
    sweep = []
    for count in sweep_counts(rois):
        subset = np.ascontiguousarray(all_rois[:count])
        per_roi = {label: (lambda stages=stages: run_stages(stages, None, subset, features)[1])
                   for label, stages in nets.items()}
        sweep_stages, sweep_wholes = measure(per_roi, sweep_samples)
        for label in nets:
            samples_r = sweep_stages[label]
            stage_ms = {stage: _median_ms([s[stage] for s in samples_r])
                        for stage in PER_ROI_STAGES}
            fc_ms = _median_ms([s["fc6"] + s["fc7"] for s in samples_r])
            whole_ms = trunk_ms + _median_ms(sweep_wholes[label])
            sweep.append({"rois": count, "variant": label, "stage_ms": stage_ms, "fc_ms": fc_ms,
                          "whole_ms": whole_ms, "fc_share": fc_ms / whole_ms})

    plain, svd = results["minifrcnn"], results["minifrcnn + SVD"]
    values = {"a_minifrcnn_vs_pytorch": (plain["whole_ms"] / results["pytorch"]["whole_ms"]
                                         if "pytorch" in results else None),
              "b_svd_fc_speedup": plain["fc_ms"] / svd["fc_ms"],
              "c_svd_whole_cut": 1 - svd["whole_ms"] / plain["whole_ms"]}
    targets = {key: _target(description, comparison, threshold, values[key])
               for key, description, comparison, threshold in TARGETS}

    shapes = linear_layers(config, len(VOC_CLASSES))
    macs = {name: {"rank": rank, "before": shapes[name][0] * shapes[name][1],
                   "after": rank * (shapes[name][0] + shapes[name][1])}
            for name, rank in ranks.items()}

    info = system_info()
    result = {
        "machine": (f"{platform.processor() or platform.machine()}, {info['threads']['cpu cores']} "
                    f"cores, numpy {info['versions']['numpy']} ({info['threads']['numpy BLAS']}, "
                    f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}), "
                    f"numba {info['versions']['numba']} "
                    f"({info['threads']['numba threads']} threads), "
                    f"torch {info['versions']['torch']}"
                    + (f" ({torch.get_num_threads()} threads)" if torch is not None else "")
                    + f", torchvision {info['versions']['torchvision']}"),
        "info": info,
        "config": config.name,
        "backend": model.backend.name,
        "input": list(images.shape),
        "rois": rois,
        "classes": len(VOC_CLASSES),
        "ranks": ranks,
        "macs_per_roi": macs,
        "samples": samples,
        "compress_s": compress_s,
        "stages": list(STAGES),
        "variants": results,
        "staged_check": staged_check,
        "pytorch_check": pytorch_check,
        "svd_output_change": svd_change,
        "torch_note": torch_note,
        "targets": targets,
        "sweep": {"trunk_ms": trunk_ms, "samples": sweep_samples, "rows": sweep},
    }
    return result


def _fmt(value, kind):
    if value is None:
        return "-"
    return f"{100 * value:.0f} %" if kind == "share" else f"{value:.2f}x" if kind == "x" else \
        f"{value:.1f}"


def markdown(result):
    """The results as markdown: the stage table, the checks, the targets and the sweep."""
    h, w = result["input"][2:]
    ranks = ", ".join(f"{k} {v}" for k, v in result["ranks"].items())
    lines = [(f"`{result['config']}` model (random weights), backend `{result['backend']}`, "
              f"float32, {result['classes']} classes: one test-time forward of a {h}x{w} image "
              f"with {result['rois']} RoIs. SVD ranks: {ranks}. Median of {result['samples']} "
              f"interleaved run(s). Machine: {result['machine']}."),
             ""]
    if result["torch_note"]:
        lines += [result["torch_note"] + ".", ""]
    header = " | ".join(f"{s} ms" for s in result["stages"])
    lines += [f"| variant | {header} | whole ms | fc6+fc7 ms | fc share |",
              "| --- |" + " --- |" * (len(result["stages"]) + 3)]
    for label, v in result["variants"].items():
        cells = " | ".join(_fmt(v["stage_ms"][s], "ms") for s in result["stages"])
        lines.append(f"| {label} | {cells} | {v['whole_ms']:.1f} | {v['fc_ms']:.1f} | "
                     f"{_fmt(v['fc_share'], 'share')} |")
    macs = "; ".join(f"{name} {m['before']:,} -> {m['after']:,} ({m['after'] / m['before']:.1%})"
                     for name, m in result["macs_per_roi"].items())
    change = result["svd_output_change"]
    lines += ["", (f"compress (truncated SVD of {', '.join(result['ranks'])}, once, before the "
                   f"timing): {result['compress_s']:.2f} s. Multiply-adds per RoI: {macs}. With "
                   f"these random weights SVD changes cls_score by up to "
                   f"{100 * change['max_rel_diff_cls_score']:.1f} % of its largest value (random "
                   "matrices have flat spectra: the timing is the point here, not the accuracy).")]
    staged = max(max(c.values()) for c in result["staged_check"].values())
    lines += ["", (f"The staged forward equals model.forward (max abs diff {staged:.1e}).")]
    for label, check in result["pytorch_check"].items():
        lines.append(f"{label} agrees with minifrcnn: cls_score max abs diff "
                     f"{check['max_abs_diff_cls_score']:.1e} (relative "
                     f"{check['max_rel_diff_cls_score']:.1e}), bbox_pred "
                     f"{check['max_abs_diff_bbox_pred']:.1e} (relative "
                     f"{check['max_rel_diff_bbox_pred']:.1e}).")
    lines += ["", "| target | goal | measured | |", "| --- | --- | --- | --- |"]
    for key, t in result["targets"].items():
        kind = "share" if key.startswith("c_") else "x"
        lines.append(f"| ({key[0]}) {t['description']} | {t['target']} | "
                     f"{_fmt(t['value'], kind)} | {t['status']} |")
    sweep = result["sweep"]
    lines += ["", (f"The fc share as RoIs grow (the first R RoIs; minifrcnn). The conv trunk does "
                   f"not depend on R: it is the median above, {sweep['trunk_ms']:.1f} ms, for "
                   f"every R; RoI pooling, fc6, fc7 and the heads are timed per R, medians of "
                   f"{sweep['samples']} interleaved run(s)."), "",
              "| R | variant | roi_pool ms | fc6+fc7 ms | heads ms | whole ms | fc share |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in sweep["rows"]:
        lines.append(f"| {row['rois']} | {row['variant']} | {row['stage_ms']['roi_pool']:.1f} | "
                     f"{row['fc_ms']:.1f} | {row['stage_ms']['heads']:.1f} | "
                     f"{row['whole_ms']:.1f} | {_fmt(row['fc_share'], 'share')} |")
    return "\n".join(lines) + "\n"


def chart(result, path):
    """Two panels: fc share (%) against R, log x; the stage breakdown of every variant, stacked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    rows = result["sweep"]["rows"]
    for label, style in (("minifrcnn", "o-"), ("minifrcnn + SVD", "s--")):
        mine = [r for r in rows if r["variant"] == label]
        left.plot([r["rois"] for r in mine], [100 * r["fc_share"] for r in mine], style,
                  label=label)
    if result["config"] == "vgg16":
        left.axhline(100 * PAPER_FC_SHARE, color="grey", lw=0.8, ls=":",
                     label="paper, VGG16 at 2000 RoIs (GPU)")
    left.set_xscale("log")
    left.set_xlabel("RoIs per image (R)")
    left.set_ylabel("fc6 + fc7, % of the forward")
    left.set_ylim(0, 100)
    left.legend()
    left.set_title(f"{result['config']}: fc share against R")

    labels = list(result["variants"])
    bottom = np.zeros(len(labels))
    for stage in result["stages"]:
        heights = np.array([result["variants"][v]["stage_ms"][stage] for v in labels])
        right.bar(range(len(labels)), heights, bottom=bottom, label=stage)
        bottom += heights
    for i, label in enumerate(labels):
        right.text(i, bottom[i], f"{result['variants'][label]['whole_ms']:.0f} ms", ha="center",
                   va="bottom", fontsize=8)
    right.set_xticks(range(len(labels)), [v.replace(" + ", "\n+ ") for v in labels], fontsize=8)
    right.set_ylabel("median ms per image")
    right.set_ylim(0, 1.1 * bottom.max())
    right.legend(fontsize=8)
    right.set_title(f"stages at {result['rois']} RoIs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, choices=sorted(CONFIGS),
                        help="default vgg16 (small with --quick)")
    parser.add_argument("--rois", type=int, default=None, help="default 2000 (200 with --quick)")
    parser.add_argument("--samples", type=int, default=5, help="timed forwards per variant")
    parser.add_argument("--sweep-samples", type=int, default=3,
                        help="timed runs per variant and R in the RoI sweep")
    parser.add_argument("--seed", type=int, default=0, help="weights, image and RoIs")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch variants")
    parser.add_argument("--quick", action="store_true",
                        help="small config, 224x299, 200 RoIs, 1 sample: a smoke test")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder for svd_forward.md, .json and .png")
    args = parser.parse_args(argv)
    setup = dict(QUICK if args.quick else FULL)
    if args.config is not None:
        setup["config"] = args.config
    if args.rois is not None:
        setup["rois"] = args.rois
    samples, sweep_samples = (1, 1) if args.quick else (args.samples, args.sweep_samples)
    result = measure_svd_forward(setup["config"], setup["size"], setup["rois"], setup["ranks"],
                                 samples, sweep_samples, args.seed, use_torch=not args.no_torch)
    text = markdown(result)
    stem = args.out / "svd_forward"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    stem.with_suffix(".md").write_text(text)
    chart(result, stem.with_suffix(".png"))
    print(text)
    for key, t in result["targets"].items():
        kind = "share" if key.startswith("c_") else "x"
        print(f"target ({key[0]}) {t['description']} {t['target']}: {_fmt(t['value'], kind)} "
              f"{t['status']}")
    print(f"wrote {stem}.md, {stem}.json, {stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
