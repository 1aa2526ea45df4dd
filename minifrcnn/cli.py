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


def _train(args):
    from .train import TrainSettings, train_command

    try:
        settings = TrainSettings(
            data=args.data, out=args.out, split=args.split, config=args.config, iters=args.iters,
            minutes=10.0 if args.iters is None and args.minutes is None else args.minutes,
            seed=args.seed, backend=args.backend, pretrain=args.pretrain, init=args.init,
            lr=args.lr, scales=tuple(args.scales) if args.scales else None,
            transpose=args.transpose, shuffle_colours=args.shuffle_colours, bg_lo=args.bg_lo,
            checkpoint_every=args.checkpoint_every, resume=args.resume)
    except ValueError as error:
        print(f"minifrcnn train: {error}", file=sys.stderr)
        return 2
    return train_command(settings)


def _detect(args):
    from .detect import detect_command

    return detect_command(args.model, args.images, args.out, score_threshold=args.score_threshold,
                          nms_threshold=args.nms, max_per_image=args.max_per_image,
                          scales=tuple(args.scales) if args.scales else None,
                          backend=args.backend, draw_threshold=args.draw_threshold,
                          flip=args.flip, transpose=args.transpose)


def _evaluate(args):
    from .detect import evaluate_command

    return evaluate_command(args.model, args.data, split=args.split,
                            use_07_metric=not args.area_metric, as_json=args.json, plot=args.plot,
                            cache_dir=args.cache, backend=args.backend,
                            score_threshold=args.score_threshold, nms_threshold=args.nms,
                            max_per_image=args.max_per_image,
                            scales=tuple(args.scales) if args.scales else None, flip=args.flip,
                            transpose=args.transpose)


def _demo(args):
    from .demo import demo_command

    return demo_command(args.out, minutes=args.minutes, seed=args.seed, backend=args.backend)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _fraction(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
    return value


def _add_detection_options(p):
    from .detect import DEFAULT_MAX_PER_IMAGE, DEFAULT_NMS_THRESHOLD, DEFAULT_SCORE_THRESHOLD

    p.add_argument("--score-threshold", type=_fraction, default=DEFAULT_SCORE_THRESHOLD,
                   help=f"keep detections scoring above this (default {DEFAULT_SCORE_THRESHOLD})")
    p.add_argument("--nms", type=_fraction, default=DEFAULT_NMS_THRESHOLD,
                   help="per-class non-maximum suppression: drop a box whose IoU with a better "
                   f"one is above this (default {DEFAULT_NMS_THRESHOLD})")
    p.add_argument("--max-per-image", type=_positive_int, default=DEFAULT_MAX_PER_IMAGE,
                   help=f"at most this many detections per image (default {DEFAULT_MAX_PER_IMAGE})")
    p.add_argument("--scales", type=_positive_int, nargs="+", metavar="S",
                   help="multi-scale testing: shorter sides of the image pyramid, e.g. 160 224 "
                   "320 (default: the model's single scale)")
    p.add_argument("--flip", action="store_true",
                   help="also score the mirrored image and average the two (twice the time; "
                   "not in the paper)")
    p.add_argument("--transpose", action="store_true",
                   help="also score the transposed image (x and y swapped; with --flip its mirror "
                   "too, 4 views) and average them: for a model trained with --transpose")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="layer implementations to run (default: numba where installed)")


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
    from .data.minibatch import BG_THRESHOLD_HI, BG_THRESHOLD_LO

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

    p = commands.add_parser(
        "train",
        help="train a Fast R-CNN on a VOC-layout folder",
        description="Train a Fast R-CNN on a split of a PASCAL-VOC-layout folder: selective-search "
        "proposals (computed and cached where missing), hierarchical sampling (2 images, 128 RoIs, "
        "25% foreground), flipped images, SGD with momentum 0.9 and weight decay 0.0005, the "
        "learning rate divided by 10 at 75% of the budget. Writes the model, a checkpoint "
        "(OUT.ckpt.npz, for --resume) and the loss curve (OUT_loss.png).",
    )
    p.add_argument("data", metavar="DATA", help="the dataset's root folder")
    p.add_argument("--split", default="trainval", help="which split to train on (default trainval)")
    p.add_argument("--out", required=True, metavar="MODEL.npz", help="where to write the model")
    p.add_argument("--config", choices=("tiny", "small", "vgg16"), default="small",
                   help="network configuration (default small; vgg16 is far too slow for a CPU)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iters", type=_positive_int, help="train for this many iterations")
    budget.add_argument("--minutes", type=_positive_float,
                        help="train for this much wall time, pretraining included (default 10 "
                        "unless --iters is given)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="layer implementations (default: numba where installed)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--pretrain", action="store_true",
                       help="first train the trunk as a classifier on object crops, then convert "
                       "it into a detector (paper section 2.2); a quarter of the budget")
    start.add_argument("--init", metavar="MODEL", default=None,
                       help="start from a model of the same configuration trained on other data "
                       "(every layer up to fc7; the heads are drawn afresh for this dataset's "
                       "classes), as the paper starts from an ImageNet classifier: a .npz file, "
                       "or 'shapes', the small model that ships with minifrcnn, trained on its "
                       "synthetic shapes")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="base learning rate (default: 0.02 for tiny/small, 0.001 for vgg16; half "
                   "of that with --init)")
    p.add_argument("--scales", type=_positive_int, nargs="+", metavar="S",
                   help="multi-scale training: shorter sides to draw from per image (default: "
                   "160 192 224 256 288 for small, the configuration's scale otherwise)")
    p.add_argument("--shuffle-colours", action=argparse.BooleanOptionalAction, default=None,
                   help="colour augmentation: each training image's channels in a random order, "
                   "half of them negated, for data whose colours say nothing about the class "
                   "(default: on for small, off otherwise)")
    p.add_argument("--transpose", action="store_true",
                   help="also train on every image transposed (x and y swapped): with the mirror "
                   "images, each image in 4 of its 8 turns and reflections by 90 degrees. For "
                   "data without an up (shapes at any angle, aerial or microscope images), not "
                   "for photographs (default off)")
    p.add_argument("--bg-lo", type=float, default=BG_THRESHOLD_LO, metavar="T",
                   help=f"background RoIs are those whose best IoU with an object is in [T, "
                   f"{BG_THRESHOLD_HI}) (default {BG_THRESHOLD_LO}, the paper's; 0 also shows the "
                   "network the boxes far from every object, which helps on cluttered "
                   "backgrounds)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=500, metavar="N",
                   help="write a checkpoint every N iterations (default 500)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT.ckpt.npz (same options): an --iters run ends with "
                   "exactly the weights it would have had without stopping")
    p.set_defaults(run=_train)

    p = commands.add_parser(
        "detect",
        help="draw and list detections for images",
        description="Detect objects in images with a trained model: selective search, one "
        "forward pass, class-specific boxes, per-class NMS. Writes each image with its boxes drawn "
        "(DIR/<name>.png) and every detection to DIR/detections.json as {image, class, score, "
        "box [x1, y1, x2, y2] 0-based inclusive}.",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by minifrcnn train")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the pictures and JSON")
    p.add_argument("--draw-threshold", type=_fraction, default=0.5,
                   help="draw detections scoring at least this (default 0.5; the JSON has all)")
    _add_detection_options(p)
    p.set_defaults(run=_detect)

    p = commands.add_parser(
        "evaluate",
        help="per-class AP and mAP on a VOC-layout split",
        description="Detect in every image of a split and score the detections with PASCAL VOC "
        "average precision (IoU >= 0.5, difficult objects ignored; the VOC2007 11-point metric "
        "unless --area-metric). Prints a per-class table and the mAP (or JSON with --json) and "
        "writes a precision-recall plot.",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by minifrcnn train")
    p.add_argument("data", metavar="DATA", help="the dataset's root folder")
    p.add_argument("--split", default="test", help="which split (default test)")
    p.add_argument("--json", action="store_true", help='print {"mAP": ..., "ap": {class: ...}}')
    p.add_argument("--area-metric", action="store_true",
                   help="area under the precision envelope (VOC2010+) instead of 11 points")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="precision-recall plot (default: MODEL without .npz + _pr.png)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="proposal cache (default DATA/proposals_cache/fast)")
    _add_detection_options(p)
    p.set_defaults(run=_evaluate)

    p = commands.add_parser(
        "demo",
        help="the whole path on built-in synthetic data, in under 10 minutes",
        description="Write a synthetic VOC-layout dataset, compute its proposals, train the small "
        "model, evaluate it on the test split and draw its detections and loss curve: Fast R-CNN "
        "end to end on a CPU.",
    )
    p.add_argument("--out", default="minifrcnn-demo", metavar="DIR",
                   help="folder for everything the demo writes (default ./minifrcnn-demo)")
    p.add_argument("--minutes", type=_positive_float, default=None,
                   help="training time (default: what keeps the whole demo under 10 minutes)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="layer implementations (default: numba where installed)")
    p.set_defaults(run=_demo)
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
