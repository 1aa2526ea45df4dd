"""The `minifrcnn` command line (also `python -m minifrcnn`)."""

import argparse
import json
import os
import sys

import numpy as np

from . import __version__
from .backend import BACKENDS


def _gradcheck(args):
    from .gradcheck import run_suite, suite_cases

    known = sorted({case.layer for case in suite_cases(np.random.default_rng(0))})
    unknown = sorted(set(args.layer or []) - set(known))
    if unknown:
        print(f"minifrcnn gradcheck: unknown layer {', '.join(unknown)}; "
              f"choose from {', '.join(known)}", file=sys.stderr)
        return 2
    try:
        results = run_suite(seed=args.seed, tol=args.tol, layers=args.layer, backend=args.backend)
    except ValueError as error:      # e.g. --backend cuda with no GPU
        print(f"minifrcnn gradcheck: {error}", file=sys.stderr)
        return 2
    rows = [(case.layer, case.shapes, f"{result.max_rel_error:.2e}",
             "pass" if result.passed else "FAIL") for case, result in results]
    header = ("layer", "shapes", "max rel error", "result")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(4)]
    line = "  ".join("{:<%d}" % width for width in widths)
    print(f"Gradient check of the {args.backend} layers: analytic backward vs central differences, "
          f"float64, seed {args.seed}, tolerance {args.tol:.0e}\n")
    print(line.format(*header))
    print(line.format(*("-" * width for width in widths)))
    for row in rows:
        print(line.format(*row))
    failed = [(case, result) for case, result in results if not result.passed]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed")
    for case, result in failed:
        print(f"\n{case.layer} {case.shapes}:\n{result}")
    return 1 if failed else 0


def _info(args):
    from .backend import system_info

    info = system_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for section, values in info.items():
        print(f"{section}:")
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"  {key:<{width}}  {value}")
    return 0


def _synth(args):
    from .data.synth import synth_command

    try:
        return synth_command(args.out, args.train, args.test, args.seed)
    except (ValueError, OSError) as error:
        print(f"minifrcnn synth: {error}", file=sys.stderr)
        return 2


def _inspect(args):
    from .data.voc import inspect_command

    return inspect_command(args.data, args.split, args.json)


def _proposals(args):
    from .proposals.cache import proposals_command

    return proposals_command(args.data, args.split, cache_dir=args.cache,
                             recall=not args.no_recall, plot=args.plot)


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minifrcnn",
        description="Fast R-CNN from scratch in NumPy: hand-written layers, proven by gradient checks.",
    )
    parser.add_argument("--version", action="version", version=f"minifrcnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser(
        "gradcheck",
        help="check every layer's backward pass against finite differences",
        description="Check every layer's hand-written backward pass against central finite "
        "differences in float64, on random shapes, with a random upstream gradient. Prints one "
        "row per check and exits non-zero if any fails.",
    )
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed for shapes and values (default 0)")
    p.add_argument("--tol", type=_positive_float, default=1e-6,
                   help="largest relative error that passes (default 1e-6)")
    p.add_argument("--layer", action="append", metavar="NAME",
                   help="check only this layer (repeatable), e.g. --layer roi_pool")
    p.add_argument("--backend", choices=BACKENDS, default="numpy",
                   help="whose layers to check: the NumPy reference (default), the Numba CPU "
                   "kernels or the CUDA kernels (their float64 versions)")
    p.set_defaults(run=_gradcheck)

    p = commands.add_parser(
        "info",
        help="versions, available backends, GPU and thread settings",
        description="Print the versions of minifrcnn's dependencies, which backends (numpy, numba, "
        "cuda) can run here and which is the default, whether a GPU is visible, and the thread "
        "settings of Numba and the BLAS library.",
    )
    p.add_argument("--json", action="store_true", help="print the same as JSON")
    p.set_defaults(run=_info)

    p = commands.add_parser(
        "synth",
        help="write a synthetic VOC-layout dataset of shapes",
        description="Write a synthetic dataset in PASCAL VOC layout (JPEGImages/, Annotations/, "
        "ImageSets/Main/{trainval,train,val,test}.txt): shapes of six classes, colours that do not "
        "give the class away, cluttered backgrounds, tiny or hidden objects marked difficult. The "
        "same seed writes the same files.",
    )
    p.add_argument("out", metavar="OUT", help="folder to write (created if missing)")
    p.add_argument("--train", type=_non_negative_int, default=200,
                   help="images in trainval (default 200)")
    p.add_argument("--test", type=_non_negative_int, default=100, help="images in test (default 100)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed (default 0)")
    p.set_defaults(run=_synth)

    p = commands.add_parser(
        "inspect",
        help="validate and summarise a VOC-layout dataset",
        description="Read a PASCAL-VOC-layout folder (Annotations/*.xml, JPEGImages/, "
        "ImageSets/Main/<split>.txt), report every problem with the file it is in, and summarise "
        "it: images, objects per class (normal and difficult), image and box size ranges. Exits 0 "
        "when the dataset is clean, 1 when it has errors.",
    )
    p.add_argument("data", metavar="DATA", help="the dataset's root folder")
    p.add_argument("--split", default="trainval", help="which ImageSets/Main/<split>.txt (default trainval)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_inspect)

    p = commands.add_parser(
        "proposals",
        help="compute and cache selective-search boxes for a dataset",
        description="Compute selective-search proposals (fast mode, at most 2000 per image) for "
        "every image of a split of a VOC-layout dataset, or load them from the cache, which is "
        "recomputed for an image whose file or whose parameters changed. Prints recall at IoU 0.5 "
        "and 0.7 against the number of proposals (non-difficult objects).",
    )
    p.add_argument("data", metavar="DATA", help="the dataset's root folder")
    p.add_argument("--split", default="trainval", help="which split (default trainval)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="cache folder (default DATA/proposals_cache/fast)")
    p.add_argument("--plot", metavar="PNG", default=None, help="write the recall curve here")
    p.add_argument("--no-recall", action="store_true", help="skip the recall table")
    p.set_defaults(run=_proposals)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`minifrcnn info --json | head`): not an error worth a traceback.
        sys.stdout = open(os.devnull, "w")
        return 0
