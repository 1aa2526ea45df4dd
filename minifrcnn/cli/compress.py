"""`minifrcnn compress`: truncated SVD of fc6 and fc7 (paper section 3.1), with what it saved."""

from ._common import fail, fraction, positive_int, table

SYNTHETIC_PROPOSALS = 2000      # the paper's number of proposals per image at test time
TIMING_REPEATS = 3


def add_commands(commands):
    from ..backend import BACKENDS

    p = commands.add_parser(
        "compress",
        help="truncated SVD of fc6/fc7",
        description="Replace fc6 and fc7 of a trained model by their truncated SVD (paper section "
        "3.1): each layer W (out x in) becomes two, S_t V_t^T (rank x in, no bias) then U_t (out x "
        "rank, the bias), with no ReLU between them, so a RoI costs rank * (in + out) "
        "multiply-adds instead of in * out. Prints, per layer, the parameters, the relative "
        "error and the multiply-adds per RoI before and after, and the forward time of one image "
        "(the first image of --data's split with its proposals, or a synthetic image at the "
        "model's scale with 2000 random boxes). The compressed model detects, evaluates and "
        "trains (train --finetune) like any other.",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by minifrcnn train, or "
                   "'shapes', the small model that ships with minifrcnn")
    p.add_argument("--out", required=True, metavar="OUT.npz", help="where to write the "
                   "compressed model")
    p.add_argument("--fc6", type=positive_int, metavar="RANK",
                   help="keep this many singular values of fc6 (the paper: 1024 of 4096)")
    p.add_argument("--fc7", type=positive_int, metavar="RANK",
                   help="keep this many singular values of fc7 (the paper: 256 of 4096)")
    p.add_argument("--energy", type=fraction, metavar="E",
                   help="instead of ranks: for fc6 and fc7 each, the smallest rank whose "
                   "singular values keep at least this fraction of the sum of their squares, "
                   "e.g. 0.95")
    p.add_argument("--data", metavar="DIR", help="a VOC-layout folder: time its first image of "
                   "--split and print the mAP before and after")
    p.add_argument("--split", default="test", help="the split of --data (default test)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="layer implementations to time (default: numba where installed)")
    p.set_defaults(run=run_compress)


def _ranks(args):
    """The ranks asked for, {layer: rank}, or None with --energy; a usage error as a string."""
    ranks = {name: rank for name, rank in (("fc6", args.fc6), ("fc7", args.fc7)) if rank}
    if args.energy is not None and ranks:
        return None, "give either ranks (--fc6, --fc7) or --energy, not both"
    if args.energy is None and not ranks:
        return None, "give --fc6 RANK and/or --fc7 RANK, or --energy E"
    if args.energy == 0:
        return None, "--energy: must be above 0, got 0"
    return (None if args.energy is not None else ranks), None


def _timing_input(model, args):
    """(image, proposals, what they are) for the forward timing."""
    from types import SimpleNamespace

    import numpy as np

    from .. import boxes

    if args.data:
        from ..data import load_voc
        from ..data.transforms import read_image
        from ..proposals.cache import cached_proposals, default_cache_dir

        dataset = load_voc(args.data, args.split, classes=model.classes)
        if not dataset.samples:
            raise ValueError(f"{args.data}: split {args.split!r} has no images")
        sample = dataset.samples[0]
        proposals, _ = cached_proposals(SimpleNamespace(samples=[sample]),
                                        default_cache_dir(args.data), progress=False)
        boxes_of_image = proposals[sample.image_id]
        return read_image(sample.image_path), boxes_of_image, (
            f"{sample.image_path}, {len(boxes_of_image)} selective-search proposals")
    rng = np.random.default_rng(0)
    height = model.config.scale
    width = min(round(height * 4 / 3), model.config.max_size)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    rois = boxes.random_boxes(rng, SYNTHETIC_PROPOSALS, height, width)
    return image, rois, (f"a synthetic {width}x{height} image (no --data) with "
                         f"{SYNTHETIC_PROPOSALS} random boxes")


def run_compress(args):
    """Compress, report, write. Exit status 0; 2 for options that do not go together; 1 after one
    line for a model that cannot be read, a bad or repeated rank, or unusable --data. Every check
    comes before the file is written."""
    from ..model import FastRCNN
    from ..pretrain import init_path
    from ..svd import compress, compression_report, forward_seconds

    ranks, problem = _ranks(args)
    if problem:
        return fail("compress", problem, status=2)
    try:
        model = FastRCNN.load(init_path(args.model), backend=args.backend)
        compressed = compress(model, ranks=ranks, energy=args.energy)
        image, proposals, what = _timing_input(model, args)
    # ModelFileError, a bad rank, a broken dataset: ValueErrors that name what is wrong.
    except (ValueError, OSError) as error:
        return fail("compress", error)

    reports = compression_report(model, compressed)
    print(f"{init_path(args.model)}: {model.config.name} model, truncated SVD of "
          f"{', '.join(f'{r.layer} to rank {r.rank}' for r in reports)}\n")
    rows = [(r.layer, f"{r.shape[0]} x {r.shape[1]}", r.rank,
             f"{r.params_before:,}", f"{r.params_after:,}", f"{r.relative_error:.4f}",
             f"{r.macs_before:,}", f"{r.macs_after:,}") for r in reports]
    print("\n".join(table(("layer", "shape", "rank", "parameters", "after", "relative error",
                           "multiply-adds per RoI", "after"), rows)))
    before = forward_seconds(model, image, proposals, TIMING_REPEATS)
    after = forward_seconds(compressed, image, proposals, TIMING_REPEATS)
    print(f"\nforward pass of one image ({what}), median of {TIMING_REPEATS}, "
          f"{model.backend.name} backend:")
    print(f"  before {1000 * before:.1f} ms, after {1000 * after:.1f} ms "
          f"({100 * (after - before) / before:+.0f} %)")
    if args.data:
        from ..evaluate import evaluate_model

        try:
            maps = [evaluate_model(m, args.data, args.split, progress=False)[0]["mAP"]
                    for m in (model, compressed)]
        except (ValueError, OSError) as error:
            return fail("compress", error)
        print(f"mAP on {args.split} (VOC07 11-point): before {maps[0]:.3f}, after {maps[1]:.3f} "
              f"({maps[1] - maps[0]:+.3f})")
    try:
        compressed.save(args.out)
    except OSError as error:
        return fail("compress", error)
    print(f"wrote {args.out}")
    return 0
