"""The data commands: `minifrcnn synth` (write a synthetic dataset), `minifrcnn inspect`
(validate and summarise one) and `minifrcnn proposals` (selective search, cached, and recall)."""

import json
import os

from ._common import fail, non_negative_int, table

# A folder holding any of these already holds a VOC-layout dataset.
DATASET_FOLDERS = ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main"))


def add_commands(commands):
    p = commands.add_parser(
        "synth",
        help="write a synthetic VOC-layout dataset",
        description="Write a synthetic dataset in PASCAL VOC layout (JPEGImages/, Annotations/, "
        "ImageSets/Main/{trainval,train,val,test}.txt): shapes of six classes, colours that do not "
        "give the class away, cluttered backgrounds, tiny or hidden objects marked difficult. The "
        "same seed writes the same files. A folder that already holds a dataset is refused "
        "unless --force is given.",
    )
    p.add_argument("out", metavar="OUT", help="folder to write (created if missing)")
    p.add_argument("--train", type=non_negative_int, default=200,
                   help="images in trainval (default 200)")
    p.add_argument("--test", type=non_negative_int, default=100,
                   help="images in test (default 100)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    p.add_argument("--force", action="store_true",
                   help="write into OUT even if it already holds a dataset (its files of the "
                   "same names are replaced)")
    p.set_defaults(run=run_synth)

    p = commands.add_parser(
        "inspect",
        help="validate and summarise a VOC-layout dataset",
        description="Read a PASCAL-VOC-layout folder (Annotations/*.xml, JPEGImages/, "
        "ImageSets/Main/<split>.txt), report every problem with the file it is in, and summarise "
        "it: images, objects per class (normal and difficult), image and box size ranges. Exits 0 "
        "when the dataset is clean, 1 when it has errors.",
    )
    p.add_argument("data", metavar="DATA", help="the dataset's root folder")
    p.add_argument("--split", default="trainval",
                   help="which ImageSets/Main/<split>.txt (default trainval)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_inspect)

    p = commands.add_parser(
        "proposals",
        help="compute and cache selective-search boxes",
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
    p.set_defaults(run=run_proposals)


def holds_dataset(folder):
    """Whether folder already has a VOC layout's folders in it (what synth would overwrite)."""
    return any(os.path.isdir(os.path.join(folder, name)) for name in DATASET_FOLDERS)


def run_synth(args):
    from ..data.synth import CLASSES, write_synthetic_voc

    if holds_dataset(args.out) and not args.force:
        return fail("synth", f"{args.out} already holds a dataset; choose another folder, or "
                             "add --force to overwrite it")
    try:
        summary = write_synthetic_voc(args.out, args.train, args.test, args.seed)
    except (ValueError, OSError) as error:
        return fail("synth", error)
    splits = summary["splits"]
    print(f"wrote {args.train + args.test} images to {args.out} (seed {args.seed}): "
          f"trainval {len(splits['trainval'])} (train {len(splits['train'])}, "
          f"val {len(splits['val'])}), test {len(splits['test'])}")
    rows = [(name, summary["objects"][name], summary["difficult"][name]) for name in CLASSES]
    rows.append(("(all)", sum(summary["objects"].values()), sum(summary["difficult"].values())))
    print("\n".join(table(("class", "objects", "difficult"), rows)))
    return 0


def format_summary(summary):
    """minifrcnn.data.inspect_dataset's dict as readable text: counts, per-class table, sizes,
    problems."""
    def span(entry):
        return "-" if entry is None else f"{entry['min']:g} .. {entry['max']:g}"

    lines = [(f"Dataset {summary['root']}, split {summary['split']}: {summary['images']} images "
              f"listed, {summary['valid_images']} valid"), ""]
    rows = [(name, c["normal"], c["difficult"], c["normal"] + c["difficult"])
            for name, c in summary["objects"].items()]
    totals = [sum(row[i] for row in rows) for i in (1, 2, 3)]
    lines += table(("class", "normal", "difficult", "total"), rows + [("(all)", *totals)])
    lines += ["",
              f"image width   {span(summary['image_width'])} px",
              f"image height  {span(summary['image_height'])} px",
              f"box width     {span(summary['box_width'])} px",
              f"box height    {span(summary['box_height'])} px",
              "",
              f"{summary['errors']} error(s), {summary['warnings']} warning(s)"]
    lines += [f"  {p['file']}: {p['severity']}: {p['message']}" for p in summary["problems"]]
    return "\n".join(lines)


def run_inspect(args):
    """Exit status 0 when the split has no errors, 1 when it has some."""
    from ..data.voc import inspect_dataset

    if not os.path.isdir(args.data):
        return fail("inspect", f"{args.data}: no such folder")
    summary = inspect_dataset(args.data, args.split)
    if summary["images"] == 0:
        # Not one image listed (no split file, an empty one): a summary would be all zeros, so
        # the problems alone are the answer.
        for problem in summary["problems"]:
            fail("inspect", f"{problem['file']}: {problem['message']}")
        return 1
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 1 if summary["errors"] else 0


def format_recall(result):
    """minifrcnn.proposals.cache.proposal_recall's result as a text table: one row per number of
    proposals N, one column per IoU threshold."""
    header = "N".rjust(6) + "".join(f"  {f'IoU>={t:g}':>9}" for t in result["thresholds"])
    lines = [header, "-" * len(header)]
    for column, count in enumerate(result["counts"]):
        cells = "".join(f"  {value:>9.3f}" for value in result["recall"][:, column])
        lines.append(f"{count:>6d}{cells}")
    return "\n".join(lines)


def folder_of(path):
    """The folder a file would be written into ('.' for a bare name)."""
    return os.path.dirname(os.fspath(path)) or "."


def run_proposals(args):
    """Compute or load the proposals of a split, print a summary and the recall table, and write
    the recall plot. Exit status 1 for a dataset that cannot be read or a cache or plot that
    cannot be written."""
    import numpy as np

    from ..data.voc import load_voc
    from ..proposals.cache import cached_proposals, default_cache_dir, proposal_recall

    if args.plot is not None and not os.path.isdir(folder_of(args.plot)):
        return fail("proposals", f"--plot {args.plot}: no folder {folder_of(args.plot)}")
    cache_dir = args.cache or default_cache_dir(args.data)
    try:
        dataset = load_voc(args.data, args.split)
        proposals, stats = cached_proposals(dataset, cache_dir)
    # DatasetError (a broken split) is a ValueError; OSError: a cache that cannot be written.
    except (ValueError, OSError) as error:
        return fail("proposals", error)
    sizes = [len(boxes) for boxes in proposals.values()]
    print(f"split {args.split} of {args.data}: {len(sizes)} images, cache {cache_dir}")
    print(f"computed {stats['computed']} ({stats['stale']} outdated, {stats['corrupt']} "
          f"unreadable cache files replaced), loaded {stats['cached']} from cache")
    if sizes:
        print(f"boxes per image: mean {np.mean(sizes):.1f}, max {max(sizes)}")
    if stats["computed"]:
        print(f"time per computed image: {stats['compute_seconds'] / stats['computed']:.2f} s")
    if args.no_recall and args.plot is None:
        return 0
    result = proposal_recall(proposals, dataset)
    if not args.no_recall:
        print(f"\nrecall of {result['objects']} non-difficult objects:")
        print(format_recall(result))
    if args.plot is not None:
        from ..viz import recall_figure, save_figure

        try:
            save_figure(recall_figure(result), args.plot)
        except OSError as error:
            return fail("proposals", error)
        print(f"wrote {args.plot}")
    return 0
