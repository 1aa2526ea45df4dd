"""`minifrcnn demo`: the whole path on the built-in synthetic data, step by step."""

import os

from ..backend import BACKENDS
from ._common import fail, non_negative_int, positive_float, positive_int
from .detect import format_ap_table

# The demo marks the folders it writes, so it may overwrite its own output without asking while
# never writing into a folder of something else.
MARKER = ".minifrcnn-demo"


def add_commands(commands):
    p = commands.add_parser(
        "demo",
        help="the whole path on built-in synthetic data",
        description="Write a synthetic VOC-layout dataset, compute its proposals, train the small "
        "model, evaluate it on the test split and draw its detections and loss curve: Fast R-CNN "
        "end to end on a CPU. The output folder may be new, empty, or one an earlier demo wrote "
        "(it is then overwritten); any other folder is refused.",
    )
    p.add_argument("--out", default="minifrcnn-demo", metavar="DIR",
                   help="folder for everything the demo writes (default ./minifrcnn-demo)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iters", type=positive_int, default=None,
                        help="training iterations (default 2500: the whole demo in under 10 "
                        "minutes on 2 cores, and the same mAP on every run)")
    budget.add_argument("--minutes", type=positive_float, default=None,
                        help="train for this much wall time instead (the result then depends on "
                        "the machine's speed and load)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="layer implementations (default: numba where installed)")
    p.set_defaults(run=run_demo)


def is_demo_folder(folder):
    """Whether the demo may write into folder: it does not exist, is empty, or holds the marker
    of an earlier demo."""
    if not os.path.exists(folder):
        return True
    return os.path.isdir(folder) and (not os.listdir(folder)
                                      or os.path.isfile(os.path.join(folder, MARKER)))


def run_demo(args):
    """Run every step, saying what each does; then the AP table and where everything went.
    Exit status 0, or 1 after one line."""
    from .. import demo
    from ..train import TrainingError

    if not is_demo_folder(args.out):
        return fail("demo", f"{args.out} holds files the demo did not write; give a new or empty "
                            "folder with --out")
    try:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, MARKER), "w", encoding="utf-8") as handle:
            handle.write("written by minifrcnn demo, which may overwrite this folder\n")
        summary = demo.run_demo(args.out, iters=args.iters, minutes=args.minutes,
                                seed=args.seed, backend=args.backend, log=print)
    except (TrainingError, ValueError, OSError) as error:
        return fail("demo", error)
    print(format_ap_table(summary, summary["objects"]))
    print(f"\nmAP {summary['mAP']:.3f} on the synthetic test split after "
          f"{summary['iterations']} iterations, whole demo {summary['seconds'] / 60:.1f} minutes "
          "(the time depends on the machine, the mAP does not). Written:")
    summary["paths"]["marker"] = os.path.join(args.out, MARKER)
    width = max(len(name) for name in summary["paths"])
    for name, path in summary["paths"].items():
        print(f"  {name:<{width}}  {path}")
    return 0
