"""`minifrcnn detect` (pictures and a JSON list of detections for images) and `minifrcnn
evaluate` (per-class AP and mAP of a split): the same detection function, the same options."""

import json
import os
import sys

import numpy as np

from ..backend import BACKENDS
from ..detect import (DEFAULT_DRAW_THRESHOLD, DEFAULT_MAX_PER_IMAGE, DEFAULT_NMS_THRESHOLD,
                      DEFAULT_SCORE_THRESHOLD)
from ._common import fail, fraction, positive_int
from .data import folder_of


def add_detection_options(p):
    p.add_argument("--score-threshold", type=fraction, default=DEFAULT_SCORE_THRESHOLD,
                   help=f"keep detections scoring above this (default {DEFAULT_SCORE_THRESHOLD})")
    p.add_argument("--nms", type=fraction, default=DEFAULT_NMS_THRESHOLD,
                   help="per-class non-maximum suppression: drop a box whose IoU with a better "
                   f"one is above this (default {DEFAULT_NMS_THRESHOLD})")
    p.add_argument("--max-per-image", type=positive_int, default=DEFAULT_MAX_PER_IMAGE,
                   help=f"at most this many detections per image (default {DEFAULT_MAX_PER_IMAGE})")
    p.add_argument("--scales", type=positive_int, nargs="+", metavar="S",
                   help="multi-scale testing: shorter sides of the image pyramid, e.g. 160 224 "
                   "320 (default: the model's single scale)")
    p.add_argument("--flip", action="store_true",
                   help="also score the mirrored image and average the two (twice the time; "
                   "not in the paper)")
    p.add_argument("--transpose", action="store_true",
                   help="also score the transposed image (x and y swapped; with --flip its mirror "
                   "too, 4 views) and average them: for a model trained with --transpose")
    p.add_argument("--no-box-regression", dest="box_regression", action="store_false",
                   help="report the proposals themselves instead of the boxes bbox_pred moves "
                   "them to (what box regression is worth: the paper's Table 6)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="layer implementations to run (default: numba where installed)")


def add_commands(commands):
    p = commands.add_parser(
        "detect",
        help="draw and list detections for images",
        description="Detect objects in images with a trained model: selective search, one "
        "forward pass, class-specific boxes, per-class NMS. Writes each image with its boxes drawn "
        "(DIR/<name>.png) and every detection to DIR/detections.json as {image, class, score, "
        "box [x1, y1, x2, y2] 0-based inclusive}. Every image is read before any is processed: "
        "if one cannot be read, the command names each such image and stops, writing nothing.",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by minifrcnn train")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (JPEG, PNG, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the pictures and JSON")
    p.add_argument("--draw-threshold", type=fraction, default=DEFAULT_DRAW_THRESHOLD,
                   help=f"draw detections scoring at least this (default "
                   f"{DEFAULT_DRAW_THRESHOLD}; the JSON has all)")
    add_detection_options(p)
    p.set_defaults(run=run_detect)

    p = commands.add_parser(
        "evaluate",
        help="per-class AP and mAP (table, or --json)",
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
    add_detection_options(p)
    p.set_defaults(run=run_evaluate)


def detection_options(args):
    """detect's keyword arguments from the options add_detection_options defines."""
    return {"score_threshold": args.score_threshold, "nms_threshold": args.nms,
            "max_per_image": args.max_per_image,
            "scales": tuple(args.scales) if args.scales else None,
            "flip": args.flip, "transpose": args.transpose,
            "box_regression": args.box_regression}


def picture_names(paths):
    """A distinct picture name per image: its file name without the extension, with _2, _3 ...
    added when two inputs (a/x.jpg, b/x.jpg) would otherwise overwrite each other's picture."""
    names = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        name, count = stem, 1
        while name in names:
            count += 1
            name = f"{stem}_{count}"
        names.append(name)
    return names


def read_images(paths):
    """(images, problems): each image decoded (H, W, 3) uint8, or None where it cannot be, and
    the message of each one that cannot (read_image's, naming the file)."""
    from ..data.transforms import read_image

    images, problems = [], []
    for path in paths:
        try:
            images.append(read_image(path))
        except ValueError as error:
            images.append(None)
            problems.append(str(error))
    return images, problems


def run_detect(args):
    """Exit status 0; 1 after one line for a model, an image or an --out that cannot be used.

    Everything that can be checked is checked before the slow work (selective search and the
    network): --out must be a folder or not exist yet, the model must load, and every image must
    decode. A bad image stops the command with each bad image named and nothing written, so the
    folder never holds pictures without their detections.json.
    """
    from tqdm import tqdm

    from ..detect import detect
    from ..model import FastRCNN
    from ..viz import detections_figure, save_figure

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        return fail("detect", f"--out {args.out} is a file; give a folder for the pictures and "
                              "detections.json")
    try:
        model = FastRCNN.load(args.model, backend=args.backend)
    # ModelFileError (a ValueError) names the file; an unusable backend is a ValueError too.
    except (ValueError, OSError) as error:
        return fail("detect", error)
    images, problems = read_images(args.images)
    if problems:
        return fail("detect", f"{len(problems)} of {len(args.images)} images cannot be read, "
                              f"nothing written: {'; '.join(problems)}")
    options = detection_options(args)
    records, written = [], []
    try:
        os.makedirs(args.out, exist_ok=True)
        for path, name, image in tqdm(list(zip(args.images, picture_names(args.images), images)),
                                      desc="detect", unit="img"):
            detections = detect(model, image, **options)
            records.extend(detections.records(os.fspath(path)))
            picture = os.path.join(args.out, f"{name}.png")
            save_figure(detections_figure([image], [detections], titles=[os.fspath(path)],
                                          score_threshold=args.draw_threshold,
                                          panel_inches=6.0), picture)
            drawn = int(np.count_nonzero(detections.scores >= args.draw_threshold))
            written.append((picture, len(detections), drawn))
        json_path = os.path.join(args.out, "detections.json")
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=1)
    except (ValueError, OSError) as error:
        return fail("detect", error)
    for picture, count, drawn in written:
        print(f"wrote {picture}: {count} detections, {drawn} drawn "
              f"(score >= {args.draw_threshold:g})")
    print(f"wrote {json_path}: {len(records)} detections of {len(written)} image(s)")
    return 0


def format_ap_table(result, num_objects):
    """minifrcnn.evaluate.evaluate_detections' result as a text table: class, AP, objects
    (non-difficult, from minifrcnn.evaluate.count_objects); then the mAP."""
    width = max([len("class"), len("mAP")] + [len(name) for name in result["ap"]])
    lines = [f"{'class':<{width}}  {'AP':>6}  {'objects':>7}", "-" * (width + 17)]
    for name, ap in result["ap"].items():
        lines.append(f"{name:<{width}}  {ap:>6.3f}  {num_objects[name]:>7d}")
    lines.append("-" * (width + 17))
    lines.append(f"{'mAP':<{width}}  {result['mAP']:>6.3f}")
    return "\n".join(lines)


def _json_number(value):
    """NaN (the AP of a class with no object) is not valid JSON: null instead."""
    return None if np.isnan(value) else value


def run_evaluate(args):
    """Score the model on a split; print a per-class table and mAP, or with --json only
    {"mAP": ..., "ap": {class: ...}} (NaN as null; every other line goes to stderr, so stdout
    parses); write the precision-recall plot. Exit status 0, or 1 after one line for an
    unreadable model, dataset, image or cache, or a dataset with a class the model lacks."""
    from ..evaluate import count_objects, evaluate_model
    from ..model import FastRCNN
    from ..viz import precision_recall_figure, save_figure

    plot = args.plot or os.fspath(args.model).removesuffix(".npz") + "_pr.png"
    if not os.path.isdir(folder_of(plot)):
        return fail("evaluate", f"--plot {plot}: no folder {folder_of(plot)}")
    use_07_metric = not args.area_metric
    try:
        model = FastRCNN.load(args.model, backend=args.backend)
        result, dataset, records = evaluate_model(model, args.data, args.split, use_07_metric,
                                                  args.cache, **detection_options(args))
    # DatasetError (a broken split, an unknown class) and an unreadable image are ValueErrors.
    except (ValueError, OSError) as error:
        return fail("evaluate", error)
    metric = "VOC07 11-point" if use_07_metric else "VOC area"
    if args.json:
        print(json.dumps({"mAP": _json_number(result["mAP"]),
                          "ap": {name: _json_number(ap) for name, ap in result["ap"].items()}}))
    else:
        print(f"split {args.split} of {args.data}: {len(dataset)} images, {len(records)} "
              f"detections, {metric} AP")
        print(format_ap_table(result, count_objects(dataset)))
    title = (f"{os.path.basename(os.fspath(args.model))} on {args.split}: mAP "
             f"{result['mAP']:.3f} ({metric})")
    try:
        save_figure(precision_recall_figure(result, title), plot)
    except OSError as error:
        return fail("evaluate", error)
    print(f"wrote {plot}", file=sys.stderr if args.json else sys.stdout)
    return 0
