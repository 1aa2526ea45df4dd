"""Time the heavy layers per backend on the paper's shapes, against PyTorch on the CPU when it is
installed, in one process: medians and ratios, written as markdown, JSON and a bar chart.

    python benchmarks/bench_layers.py [--out benchmarks/results] [--samples 15] [--quick]

Every case is forward + backward in float32 on VGG16 shapes (a 600x800 image gives a 38x50
conv5_3 map; conv3_1 is timed at 56x56 as in the ImageNet classifier). The variants of one case
are visited in rotating order, each warmed up first and timed back to back without sleeping (an
idle vCPU wakes slowly), so they all see the same machine state. Ratios are our median over the
reference's median: below 1 means faster.

The thread pools: on 2 cores OpenBLAS's idle workers keep spinning for about 0.1 s after a GEMM
and slow a Numba kernel that follows (numba-notes.md). `import minifrcnn` shortens that spin
(OPENBLAS_THREAD_TIMEOUT, OMP_WAIT_POLICY) unless the user set those variables; this script imports
it first, before NumPy, so the setting takes effect, and times "conv then RoI pooling" as one
case, as a training step runs them.
"""

import minifrcnn  # noqa: F401  (first: sets the thread-pool variables before NumPy starts)

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from minifrcnn.backend import get_backend, system_info


def make_rois(rng, count, height, width):
    """count RoIs (batch index 0) inside a height x width image, 16 to 400 px on a side."""
    w = rng.uniform(16, min(400, width), count)
    h = rng.uniform(16, min(400, height), count)
    x1 = rng.uniform(0, width - w)
    y1 = rng.uniform(0, height - h)
    return np.stack([np.zeros(count), x1, y1, x1 + w - 1, y1 + h - 1], axis=1).astype(np.float32)


def ours(ops, name, case):
    """A closure running `case` forward + backward with backend `ops`."""
    x, w, b = case.get("x"), case.get("w"), case.get("b")
    rois = case.get("rois")

    def conv():
        out, cache = ops.conv2d_forward(x, w, b, 1, 1)
        return ops.conv2d_backward(out, cache)

    def pool():
        out, cache = ops.maxpool2d_forward(x, 2, 2)
        return ops.maxpool2d_backward(out, cache)

    def roi():
        out, cache = ops.roi_pool_forward(x, rois, (7, 7), 1 / 16)
        return ops.roi_pool_backward(out, cache)

    def conv_roi():
        y, conv_cache = ops.conv2d_forward(x, w, b, 1, 1)
        out, roi_cache = ops.roi_pool_forward(y, rois, (7, 7), 1 / 16)
        dy = ops.roi_pool_backward(out, roi_cache)
        return ops.conv2d_backward(dy, conv_cache)

    return {"conv": conv, "maxpool": pool, "roi_pool": roi, "conv+roi_pool": conv_roi}[name]


def theirs(torch, torchvision, name, case):
    """The same work in PyTorch (autograd), or None when PyTorch is not installed."""
    if torch is None:
        return None
    x = torch.from_numpy(case["x"]).requires_grad_()
    w = torch.from_numpy(case["w"]).requires_grad_() if "w" in case else None
    b = torch.from_numpy(case["b"]).requires_grad_() if "b" in case else None
    rois = torch.from_numpy(case["rois"]) if "rois" in case else None
    if name in ("roi_pool", "conv+roi_pool") and torchvision is None:
        return None

    def run():
        y = x
        if name in ("conv", "conv+roi_pool"):
            y = torch.nn.functional.conv2d(y, w, b, stride=1, padding=1)
        if name == "maxpool":
            y = torch.nn.functional.max_pool2d(y, 2, 2)
        if name in ("roi_pool", "conv+roi_pool"):
            y = torchvision.ops.roi_pool(y, rois, (7, 7), 1 / 16)
        y.backward(y.detach())
        x.grad = None
        if w is not None:
            w.grad = b.grad = None

    return run


def cases(rng, quick):
    """name -> (label, arrays) for every benchmarked shape."""
    def normal(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    conv5 = {"x": normal(1, 512, 38, 50), "w": normal(512, 512, 3, 3, scale=0.02), "b": normal(512)}
    out = [
        ("conv", "conv3_1: 1x128x56x56, 256 3x3 filters, pad 1",
         {"x": normal(1, 128, 56, 56), "w": normal(256, 128, 3, 3, scale=0.03), "b": normal(256)}),
        ("conv", "conv5_1: 1x512x38x50, 512 3x3 filters, pad 1", conv5),
        ("maxpool", "max-pool 2x2/2: 1x256x112x112", {"x": normal(1, 256, 112, 112)}),
        ("roi_pool", "RoI pool 7x7, 128 RoIs: 1x512x38x50",
         {"x": normal(1, 512, 38, 50), "rois": make_rois(rng, 128, 600, 800)}),
        ("roi_pool", "RoI pool 7x7, 2000 RoIs: 1x512x38x50",
         {"x": normal(1, 512, 38, 50), "rois": make_rois(rng, 2000, 600, 800)}),
        ("conv+roi_pool", "conv5_1 then RoI pool, 128 RoIs", {**conv5, "rois": make_rois(rng, 128, 600, 800)}),
    ]
    return out[:1] + out[2:4] if quick else out


def measure(variants, samples, warmup=0.15):
    """variants: {label: fn}. Returns {label: [seconds, ...]} from rotating, interleaved runs."""
    for fn in variants.values():
        start = time.perf_counter()
        while time.perf_counter() - start < warmup:
            fn()
    times = {label: [] for label in variants}
    labels = list(variants)
    for i in range(samples):
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            start = time.perf_counter()
            variants[label]()
            times[label].append(time.perf_counter() - start)
    return times


def chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in ("numpy", "numba", "pytorch") if any(v in r["median_ms"] for r in rows)]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.5))
    height = 0.8 / len(variants)
    for k, variant in enumerate(variants):
        values = [r["median_ms"].get(variant, 0) for r in rows]
        ax.barh([i + k * height for i in range(len(rows))], values, height, label=variant)
    ax.set_yticks([i + height * (len(variants) - 1) / 2 for i in range(len(rows))])
    ax.set_yticklabels([r["case"] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median time, forward + backward (ms, log scale)")
    ax.legend()
    ax.set_title("minifrcnn layers vs PyTorch CPU, float32")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder for layers.md, layers.json and layers.png")
    parser.add_argument("--samples", type=int, default=15, help="timed runs per variant (median)")
    parser.add_argument("--quick", action="store_true", help="a subset of cases, few samples")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) NumPy reference")
    args = parser.parse_args(argv)
    samples = 3 if args.quick else args.samples
    try:
        import torch

        torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    except ImportError:
        torch = None
    try:
        import torchvision
    except ImportError:
        torchvision = None

    backends = {"numba": get_backend("numba")}
    if not args.no_numpy:
        backends["numpy"] = get_backend("numpy")
    rng = np.random.default_rng(0)
    rows = []
    for name, label, case in cases(rng, args.quick):
        variants = {b: ours(ops, name, case) for b, ops in backends.items()}
        reference = theirs(torch, torchvision, name, case)
        if reference is not None:
            variants["pytorch"] = reference
        times = measure(variants, samples)
        medians = {v: 1000 * statistics.median(t) for v, t in times.items()}
        row = {"case": label, "layer": name, "median_ms": medians, "samples": samples}
        if "pytorch" in medians:
            row["numba_vs_pytorch"] = medians["numba"] / medians["pytorch"]
        if "numpy" in medians:
            row["numba_vs_numpy"] = medians["numba"] / medians["numpy"]
        rows.append(row)
        print(f"{label}: " + ", ".join(f"{v} {m:.1f} ms" for v, m in medians.items()), flush=True)

    info = system_info()
    machine = (f"{platform.processor() or platform.machine()}, {info['threads']['cpu cores']} cores, "
               f"numpy {info['versions']['numpy']} ({info['threads']['numpy BLAS']}), "
               f"numba {info['versions']['numba']}, torch {info['versions']['torch']}, "
               f"torchvision {info['versions']['torchvision']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layers.json").write_text(json.dumps({"machine": machine, "info": info, "rows": rows}, indent=2))
    lines = [f"Float32, forward + backward, median of {samples} interleaved runs. Machine: {machine}.",
             "", "| case | NumPy ms | Numba ms | PyTorch ms | Numba / PyTorch | Numba / NumPy |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["median_ms"]
        cell = lambda key: f"{m[key]:.1f}" if key in m else "-"  # noqa: E731
        ratio = lambda key: f"{r[key]:.2f}x" if key in r else "-"  # noqa: E731
        lines.append(f"| {r['case']} | {cell('numpy')} | {cell('numba')} | {cell('pytorch')} | "
                     f"{ratio('numba_vs_pytorch')} | {ratio('numba_vs_numpy')} |")
    (args.out / "layers.md").write_text("\n".join(lines) + "\n")
    chart(rows, args.out / "layers.png")
    print("\n".join(lines))
    print(f"\nwrote {args.out / 'layers.md'}, {args.out / 'layers.json'}, {args.out / 'layers.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
