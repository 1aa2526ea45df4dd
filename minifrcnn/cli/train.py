"""`minifrcnn train`: train a Fast R-CNN on a VOC-layout folder, then draw its loss curve."""

import argparse
import sys
import time

from ..backend import BACKENDS
from ._common import (fail, fraction, non_negative_float, non_negative_int, positive_float,
                      positive_int)

DEFAULT_MINUTES = 10.0          # the budget when neither --iters nor --minutes is given


def add_commands(commands):
    from ..data.minibatch import BG_THRESHOLD_HI, BG_THRESHOLD_LO

    p = commands.add_parser(
        "train",
        help="train a model on a VOC-layout folder",
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
    budget.add_argument("--iters", type=positive_int, help="train for this many iterations")
    budget.add_argument("--minutes", type=positive_float,
                        help=f"train for this much wall time, pretraining included (default "
                        f"{DEFAULT_MINUTES:g} unless --iters is given)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
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
    start.add_argument("--finetune", metavar="MODEL", default=None,
                       help="continue training a model file on its own classes (the dataset may "
                       "use no other): every layer and both heads kept, its box statistics "
                       "unfolded for this data, and layers compressed by `minifrcnn compress` "
                       "stay factored and train as their two factors")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="base learning rate (default: 0.02 for tiny/small, 0.001 for vgg16; half "
                   "of that with --init or --finetune)")
    p.add_argument("--scales", type=positive_int, nargs="+", metavar="S",
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
    p.add_argument("--bg-lo", type=fraction, default=BG_THRESHOLD_LO, metavar="T",
                   help=f"background RoIs are those whose best IoU with an object is in [T, "
                   f"{BG_THRESHOLD_HI}) (default {BG_THRESHOLD_LO}, the paper's; 0 also shows the "
                   "network the boxes far from every object, which helps on cluttered "
                   "backgrounds)")
    p.add_argument("--lam", type=non_negative_float, default=1.0, metavar="L",
                   help="weight of the box regression loss in the multi-task loss (the paper's "
                   "lambda, default 1); 0 trains classification only")
    p.add_argument("--train-from", metavar="LAYER", default=None,
                   help="the lowest layer that learns; every layer below it stays as it started "
                   "(the paper's Table 5): e.g. conv2_1, fc6, or bbox_pred to fit the box "
                   "regressor alone on a trained model (--finetune). Default: the "
                   "configuration's frozen layers stay fixed when starting from a trained model "
                   "(--init, --finetune, --pretrain; small: conv1_1, vgg16: conv1_1 to "
                   "conv2_2); from nothing every layer learns")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, metavar="N",
                   help="write a checkpoint every N iterations (default 500)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT.ckpt.npz (same options): an --iters run ends with "
                   "exactly the weights it would have had without stopping. Without that "
                   "checkpoint it refuses, rather than silently start afresh")
    p.set_defaults(run=run_train)


def run_train(args):
    """Train, draw the loss curve, say where everything went. Exit status 0; 1 with a message
    for a broken dataset, a diverged loss or a checkpoint from another run; 2 for settings that
    do not go together; 130 when interrupted."""
    import numpy as np

    from ..model import ModelFileError
    from ..train import TrainingError, TrainSettings, train
    from ..viz import loss_figure, save_figure

    try:
        settings = TrainSettings(
            data=args.data, out=args.out, split=args.split, config=args.config, iters=args.iters,
            minutes=DEFAULT_MINUTES if args.iters is None and args.minutes is None else args.minutes,
            seed=args.seed, backend=args.backend, pretrain=args.pretrain, init=args.init,
            finetune=args.finetune,
            lr=args.lr, scales=tuple(args.scales) if args.scales else None,
            transpose=args.transpose, shuffle_colours=args.shuffle_colours, bg_lo=args.bg_lo,
            lam=args.lam, train_from=args.train_from, checkpoint_every=args.checkpoint_every,
            resume=args.resume)
    except ValueError as error:
        return fail("train", error, status=2)
    start = time.perf_counter()
    try:
        _, state = train(settings, log=print)
        save_figure(loss_figure(state.history), settings.loss_plot_path)
    # DatasetError (a broken dataset) is a ValueError; OSError: a file that cannot be written.
    except (TrainingError, ModelFileError, ValueError, OSError) as error:
        return fail("train", error)
    except KeyboardInterrupt:
        print(f"\nminifrcnn train: interrupted. The last checkpoint is {settings.checkpoint_path}; "
              "continue with the same command and --resume", file=sys.stderr)
        return 130
    tail = state.history.loss[-100:]
    print(f"trained {state.iteration} iterations in {time.perf_counter() - start:.0f} s "
          f"(final loss {np.mean(tail):.3f}, mean of the last {len(tail)})")
    print(f"model:      {settings.out}")
    print(f"loss curve: {settings.loss_plot_path}")
    print(f"checkpoint: {settings.checkpoint_path}")
    return 0
