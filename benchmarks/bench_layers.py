"""Time the heavy layers per backend on the paper's shapes, against PyTorch on the CPU when it is
installed, in one process: medians and ratios, written as markdown, JSON and a bar chart.

    python benchmarks/bench_layers.py [--out benchmarks/results] [--samples 15] [--quick] [--load]

Every case is forward + backward in float32 on VGG16 shapes (a 600x800 image gives a 38x50
conv5_3 map; conv3_1 is timed at 56x56 as in the ImageNet classifier). The variants of one case
are visited in rotating order, each warmed up first and timed back to back without sleeping (an
idle vCPU wakes slowly), so they all see the same machine state. Ratios are our median over the
reference's median: below 1 means faster.

The threads: OpenBLAS's own threads wait for one another inside a GEMM and lose much time when
another process holds part of the cores, so `import minifrcnn` makes OpenBLAS single-threaded and
the Numba backend splits its GEMMs among threads itself (minifrcnn/__init__.py,
minifrcnn/numba_cpu/conv.py); Numba's idle OpenMP workers sleep (OMP_WAIT_POLICY=passive). This
script imports minifrcnn first, before NumPy, so those settings take effect, and times "conv then
RoI pooling" as one case, as a training step runs them. PyTorch runs as many threads as Numba.

--load times every case idle and beside one busy Python process per core (benchmarks/_load.py),
in alternating blocks (--rounds), and writes both, with the ratios to PyTorch side by side, to
layers_load.md and layers_load.json.
"""

import minifrcnn  # noqa: F401  (first: sets the thread-pool variables before NumPy starts)

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from minifrcnn.backend import get_backend, system_info
from minifrcnn.boxes import random_boxes

sys.path.insert(0, str(Path(__file__).resolve().parent))     # benchmarks/ is not a package
from _load import CompetingLoad  # noqa: E402


def make_rois(rng, count, height, width):
    """count RoIs (batch index 0) inside a height x width image, 16 to 400 px on a side."""
    return np.concatenate([np.zeros((count, 1), np.float32),
                           random_boxes(rng, count, height, width)], axis=1)


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
    parser.add_argument("--load", action="store_true",
                        help="time every case idle and beside one busy process per core "
                             "(no NumPy reference); writes layers_load.md and .json")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --load: alternate idle and loaded blocks this many times per "
                             "case, the samples split among them (default 3)")
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
    if not (args.no_numpy or args.load):
        backends["numpy"] = get_backend("numpy")
    rng = np.random.default_rng(0)
    rows = []
    for name, label, case in cases(rng, args.quick):
        variants = {b: ours(ops, name, case) for b, ops in backends.items()}
        reference = theirs(torch, torchvision, name, case)
        if reference is not None:
            variants["pytorch"] = reference
        if args.load:
            row = {"case": label, "layer": name, "samples": samples,
                   **idle_and_loaded(variants, samples, args.rounds)}
        else:
            row = {"case": label, "layer": name, "samples": samples,
                   **timed_row(measure(variants, samples))}
        rows.append(row)
        print(f"{label}: " + ", ".join(f"{v} {m:.1f} ms" for v, m in row["median_ms"].items())
              + ("" if not args.load else " | loaded: " + ", ".join(
                  f"{v} {m:.1f} ms" for v, m in row["loaded"]["median_ms"].items())), flush=True)

    info = system_info()
    machine = (f"{platform.processor() or platform.machine()}, {info['threads']['cpu cores']} cores, "
               f"numpy {info['versions']['numpy']} ({info['threads']['numpy BLAS']}), "
               f"numba {info['versions']['numba']}, torch {info['versions']['torch']}, "
               f"torchvision {info['versions']['torchvision']}")
    stem = args.out / ("layers_load" if args.load else "layers")
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine, "info": info, "rows": rows}
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2))
    blocks = (f", in {args.rounds} alternating blocks idle and loaded" if args.load else "")
    header = (f"Float32, forward + backward, median of {samples} interleaved runs{blocks}. "
              f"Machine: {machine}.")
    lines = load_table(rows, header) if args.load else idle_table(rows, header)
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    written = [stem.with_suffix(".md"), stem.with_suffix(".json")]
    if not args.load:
        chart(rows, stem.with_suffix(".png"))
        written.append(stem.with_suffix(".png"))
    print("\n".join(lines))
    print(f"\nwrote {', '.join(map(str, written))}")
    return 0


def idle_and_loaded(variants, samples, rounds):
    """timed_row of the idle runs, with timed_row of the loaded runs under "loaded".

    The samples are taken in `rounds` alternating blocks, idle then loaded, and pooled per
    condition: a slow drift of the machine (the 2000-RoI case's idle median moved from 530 to
    1110 ms between back-to-back blocks, with its 400 MB of fresh output) then falls on both
    conditions alike, instead of deciding their ratio."""
    per_round = max(1, round(samples / rounds))
    idle = {label: [] for label in variants}
    loaded = {label: [] for label in variants}
    shares = []
    for _ in range(rounds):
        for label, times in measure(variants, per_round).items():
            idle[label] += times
        with CompetingLoad() as competing:
            for label, times in measure(variants, per_round).items():
                loaded[label] += times
        shares.append(competing.cpu_share)
    share = None if None in shares else statistics.mean(shares)
    return {**timed_row(idle), "loaded": {**timed_row(loaded), "processes": competing.count,
                                          "cpu_share": share, "rounds": rounds}}


def timed_row(times):
    """times: {variant: [seconds, ...]}. Returns {"median_ms": {variant: ms}} and the ratios of
    Numba to the references measured."""
    medians = {v: 1000 * statistics.median(t) for v, t in times.items()}
    row = {"median_ms": medians}
    if "pytorch" in medians:
        row["numba_vs_pytorch"] = medians["numba"] / medians["pytorch"]
    if "numpy" in medians:
        row["numba_vs_numpy"] = medians["numba"] / medians["numpy"]
    return row


def _ms(medians, key):
    return f"{medians[key]:.1f}" if key in medians else "-"


def _ratio(row, key):
    return f"{row[key]:.2f}x" if key in row else "-"


def idle_table(rows, header):
    """Markdown lines: every case's medians and ratios."""
    lines = [header, "",
             "| case | NumPy ms | Numba ms | PyTorch ms | Numba / PyTorch | Numba / NumPy |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["median_ms"]
        lines.append(f"| {r['case']} | {_ms(m, 'numpy')} | {_ms(m, 'numba')} | "
                     f"{_ms(m, 'pytorch')} | {_ratio(r, 'numba_vs_pytorch')} | "
                     f"{_ratio(r, 'numba_vs_numpy')} |")
    return lines


def load_table(rows, header):
    """Markdown lines: every case idle and under load, with the ratios to PyTorch side by side and
    how far the loaded ratio moved from the idle one (the target: at most 1.3 times)."""
    shares = [r["loaded"]["cpu_share"] for r in rows if r["loaded"]["cpu_share"] is not None]
    load = (f"Loaded: beside {rows[0]['loaded']['processes']} busy Python processes (one per core)"
            + (f", which took {100 * min(shares):.0f}-{100 * max(shares):.0f} % of the CPUs."
               if shares else "."))
    lines = [header, load, "",
             "| case | Numba ms idle | Numba ms loaded | PyTorch ms idle | PyTorch ms loaded | "
             "Numba / PyTorch idle | Numba / PyTorch loaded | loaded / idle ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m, lm = r["median_ms"], r["loaded"]["median_ms"]
        drift = (f"{r['loaded']['numba_vs_pytorch'] / r['numba_vs_pytorch']:.2f}x"
                 if "numba_vs_pytorch" in r else "-")
        lines.append(f"| {r['case']} | {_ms(m, 'numba')} | {_ms(lm, 'numba')} | "
                     f"{_ms(m, 'pytorch')} | {_ms(lm, 'pytorch')} | "
                     f"{_ratio(r, 'numba_vs_pytorch')} | "
                     f"{_ratio(r['loaded'], 'numba_vs_pytorch')} | {drift} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
