"""What the scripts of benchmarks/paper/ share: where results go, the machine they were measured
on, the demo's trained detector, and writing a result as md + json (+ png)."""

import datetime
import json
import os
import platform
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "work" / "paper"
DEMO = WORK / "demo"


def machine():
    """The date and the machine a result was measured on."""
    return {"date": str(datetime.date.today()), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}


def results_folder(args):
    """--out, or with --quick a fresh temporary folder (never the committed results)."""
    return Path(tempfile.mkdtemp()) if args.quick else args.out


def demo_model(folder, quick):
    """The demo's detector (backend numba) and its data folder: `folder`/model.npz, trained there
    by minifrcnn.demo.run_demo when missing (the same versions train the same model). quick: a
    60-iteration demo on 10 + 10 images in a temporary folder instead."""
    from minifrcnn import FastRCNN
    from minifrcnn.demo import run_demo

    folder = Path(tempfile.mkdtemp()) / "demo" if quick else Path(folder)
    if not (folder / "model.npz").exists():
        run_demo(folder, progress=False, **({"iters": 60, "n_train": 10, "n_test": 10}
                                             if quick else {}))
    return FastRCNN.load(folder / "model.npz", backend="numba"), folder / "data"


def pyplot():
    """matplotlib.pyplot on the Agg backend: charts are written to files, never shown."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path):
    """Lay a chart out, write it at 110 dpi and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def write(out, name, data, markdown, chart=None, indent=1):
    """results/<name>.md (the text `markdown`), .json (data) and, with chart(data, path), .png;
    then print the text and where it went."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown)
    (out / f"{name}.json").write_text(json.dumps(data, indent=indent) + "\n")
    if chart is not None:
        chart(data, out / f"{name}.png")
    print(markdown)
    print(f"written to {out} in {data['seconds']} s")


# ---------------------------------------------------------------------------------------------
# Training variants (experiments 1-3): the unseen shapes, fine-tuned from the shipped model
# ---------------------------------------------------------------------------------------------

RUNS = WORK / "runs"
SEEDS = (0, 1, 2)
ITERS = 1000        # per training run: about 130 s on 2 cores at 0.13 s an iteration


def unseen_data(work, quick):
    """benchmarks/unseen_shapes.py's dataset, written once into `work`/unseen and reused (with
    its cached proposals): 300 trainval + 150 test images, seed 1, five classes the shipped
    model (minifrcnn/pretrained, six other shapes) has never seen, as VOC is new to an ImageNet
    classifier. quick: 10 + 6 images."""
    import subprocess
    import sys

    root = Path(work) / "unseen"
    if not (root / ".complete").exists():
        counts = ("10", "6") if quick else ("300", "150")
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "unseen_shapes.py"), str(root),
                        "--trainval", counts[0], "--test", counts[1], "--seed", "1"],
                       check=True, capture_output=True)
        (root / ".complete").write_text("")
    return root


def trained(name, data, seed, iters, runs, **options):
    """The model file of one training run: `minifrcnn train DATA --init shapes --iters ITERS
    --seed SEED` with TrainSettings `options` (lam, train_from, scales, finetune, ...; finetune
    replaces init), trained into `runs`/<name>-seed<seed>.npz unless a run with the same
    settings is there already (the experiments share their baseline). Returns (path, {"seconds":
    training time, "loss": mean loss of the last 100 iterations})."""
    from minifrcnn.train import TrainSettings, train

    runs = Path(runs)
    runs.mkdir(parents=True, exist_ok=True)
    out = runs / f"{name}-seed{seed}.npz"
    start = {} if "finetune" in options else {"init": "shapes"}
    settings = TrainSettings(data=str(data), out=str(out), iters=iters, seed=seed,
                             backend="numba", **start, **options)
    record = runs / f"{name}-seed{seed}.json"
    if out.exists() and record.exists():
        saved = json.loads(record.read_text())
        if saved["settings"] == settings.fingerprint():
            return out, saved["run"]
    _, state = train(settings, progress=False)
    run = {"seconds": round(state.elapsed, 1),
           "loss": float(sum(state.history.loss[-100:]) / len(state.history.loss[-100:]))}
    record.write_text(json.dumps({"settings": settings.fingerprint(), "run": run}) + "\n")
    return out, run


def test_map(model_path, data, **detect_options):
    """VOC07 mAP of a model file on the test split, with detect's options; returns {"mAP", "ap",
    "seconds_per_image"} (detection alone: the proposals are cached; timed after one image
    detected to load the compiled kernels)."""
    import time

    from minifrcnn import FastRCNN
    from minifrcnn.data.transforms import read_image
    from minifrcnn.data.voc import load_voc
    from minifrcnn.detect import detect
    from minifrcnn.evaluate import evaluate_model
    from minifrcnn.proposals.cache import cached_proposals, default_cache_dir

    model = FastRCNN.load(model_path, backend="numba")
    test = load_voc(data, "test", classes=model.classes)
    proposals, _ = cached_proposals(test, default_cache_dir(data), progress=False)
    first = test.samples[0]
    detect(model, read_image(first.image_path), proposals[first.image_id], **detect_options)
    start = time.perf_counter()
    result, dataset, _ = evaluate_model(model, data, "test", progress=False, **detect_options)
    return {"mAP": float(result["mAP"]), "ap": {k: float(v) for k, v in result["ap"].items()},
            "seconds_per_image": (time.perf_counter() - start) / len(dataset.samples)}


def spread(values):
    """(mean, standard deviation over seeds, ddof 1) of a list of numbers."""
    import numpy as np

    values = np.asarray(values, float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def beyond_noise(a, b):
    """Whether two arms' mean mAPs differ by more than the seed noise: |mean_a - mean_b| larger
    than std_a + std_b (a and b: lists of per-seed values)."""
    (mean_a, std_a), (mean_b, std_b) = spread(a), spread(b)
    return abs(mean_a - mean_b) > std_a + std_b


def per_seed(data, arms):
    """{arm: [test mAP of each seed]} of a training experiment's results."""
    return {arm: [run[arm]["mAP"] for run in data["runs"]] for arm in arms}


def measured(data, script, extra=""):
    """The sentence under a training experiment's title: when, where, how it was run."""
    return (f"Measured {data['date']} on {data['machine']}, {data['cpus']} cores: `python "
            f"benchmarks/paper/{script}` ({data['iters']} iterations per run from `--init "
            f"shapes`, unseen shapes, seeds {', '.join(map(str, data['seeds']))}; VOC07 mAP on "
            f"the test split, mean ± std over seeds{extra}).")


def compared(a, b):
    """Arm b against arm a (lists of per-seed values): ('+1.7 ± 1.2', the per-seed differences
    in points, and 'beyond' or 'within', against the seed noise of beyond_noise)."""
    return (shown([y - x for x, y in zip(a, b)], signed=True),
            "beyond" if beyond_noise(a, b) else "within")


def shown(values, signed=False):
    """'61.2 ± 0.8': the mean ± std over seeds of per-seed mAPs, in points (x 100) as the
    paper's tables give them; signed: '+1.7 ± 1.2', for differences."""
    mean, std = spread(values)
    return f"{100 * mean:{'+' if signed else ''}.1f} ± {100 * std:.1f}"


def seed_bars(data, arms, labels, grey, title, path, width=6):
    """A chart of a training experiment: per arm a bar (mean test mAP over seeds, the standard
    deviation as its error bar) and a dot per seed; arms in `grey` in grey, the others blue."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(width, 3.8))
    for i, (arm, values) in enumerate(per_seed(data, arms).items()):
        mean, std = spread(values)
        ax.bar(i, mean, yerr=std, capsize=4, color="C7" if arm in grey else "C0")
        ax.plot([i] * len(values), values, "k.", ms=5)
    ax.set_xticks(range(len(arms)), labels, fontsize=8)
    ax.set_ylabel("test mAP (VOC07)")
    ax.set_title(f"{title}: bars mean ± std over {len(data['runs'])} seeds, dots each seed",
                 fontsize=9)
    low = min(run[arm]["mAP"] for run in data["runs"] for arm in arms)
    ax.set_ylim(max(0, low - 0.1), None)
    save(fig, path)


def experiment(name, doc, run_seed, markdown, chart, argv=None):
    """The command line of a training experiment (multitask.py, finetune_layers.py, scales.py):
    --iters, --seeds, --quick, --out. run_seed(data, seed, iters, runs) returns one seed's
    results; they are written as results/<name>.md, .json and .png. Returns the exit status."""
    import argparse
    import tempfile
    import time

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--iters", type=int, default=ITERS, help=f"iterations per run ({ITERS})")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help=f"seeds ({' '.join(map(str, SEEDS))})")
    parser.add_argument("--quick", action="store_true",
                        help="10 trainval + 6 test images, 3 iterations, seeds 0 and 1, to a "
                        "temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    work, runs = WORK, RUNS
    if args.quick:
        args.iters, args.seeds = 3, [0, 1]
        work = Path(tempfile.mkdtemp())
        runs = work / "runs"
    data = unseen_data(work, args.quick)
    start = time.perf_counter()
    result = {**machine(), "iters": args.iters, "seeds": args.seeds,
              "runs": [{"seed": seed, **run_seed(data, seed, args.iters, runs)}
                       for seed in args.seeds]}
    # Runs trained earlier with the same settings are reused (their time is not in here).
    result["seconds"] = round(time.perf_counter() - start, 1)
    write(results_folder(args), name, result, markdown(result), chart)
    return 0
