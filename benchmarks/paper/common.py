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
