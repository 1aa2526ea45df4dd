"""Selective search (Uijlings et al., IJCV 2013): class-independent object proposals for Fast R-CNN.

Fast mode (fast-rcnn-spec.md, "Training recipe"): 2 colour spaces (HSV, Lab) x 2 scales
k in {50, 100} of the graph-based segmentation (sigma 0.8) x 2 similarity strategies
(colour+texture+size+fill, texture+size+fill) = 8 hierarchical groupings. Their boxes are ranked
together, duplicates removed, small boxes dropped, and at most max_boxes kept.

    image (H, W, 3) uint8 RGB --felzenszwalb--> labels (H, W) --hierarchical_grouping--> boxes
"""

import numpy as np

from ..boxes import sizes as box_sizes
from .colour import rgb_to_hsv, rgb_to_lab
from .grouping import colour_bins, hierarchical_grouping, region_features, texture_bins
from .segmentation import felzenszwalb

__all__ = [
    "default_min_box",
    "felzenszwalb",
    "hierarchical_grouping",
    "region_features",
    "selective_search",
]

COLOUR_SPACES = {"hsv": rgb_to_hsv, "lab": rgb_to_lab}
MODES = {
    "fast": {"colour_spaces": ("hsv", "lab"), "ks": (50, 100),
             "strategies": ("colour+texture+size+fill", "texture+size+fill")},
}


def default_min_box(height, width):
    """The spec drops boxes narrower or shorter than 20 px on VOC images (about 500 px on the
    longer side). Scaled to the image: 20 * max(H, W) / 500 pixels, at least 2 px
    (160 px -> 6 px, 320 px -> 13 px)."""
    return max(2, round(20 * max(height, width) / 500))


def selective_search(image, mode="fast", min_box=None, max_boxes=2000, seed=0):
    """Object proposals for one image.

    image: (H, W, 3) uint8 RGB;
    mode: "fast" (the only mode: HSV and Lab, k in {50, 100}, two similarity strategies);
    min_box: boxes whose width or height (inclusive, x2 - x1 + 1) is below this many pixels are
    dropped; None uses default_min_box(H, W);
    max_boxes: at most this many boxes are returned, best ranked first;
    seed: seeds the np.random.Generator of the ranking, so the same image gives the same boxes.
    Returns boxes: (P, 4) float32 (x1, y1, x2, y2), 0-based inclusive, no two equal, P <= max_boxes.

    Ranking: within one grouping, the region formed last (the whole image) gets rank 1, the one
    before it rank 2, ..., the initial regions the largest ranks; each rank is multiplied by a
    uniform random number in [0, 1) so that no single grouping fills the first places, and the
    boxes of all groupings are sorted by that value, smallest first.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    if min_box is None:
        min_box = default_min_box(height, width)
    settings = MODES[mode]
    rng = np.random.default_rng(seed)

    all_boxes, all_priorities = [], []
    for space in settings["colour_spaces"]:
        converted = COLOUR_SPACES[space](image)
        colour_bin_index, texture_bin_index = colour_bins(converted), texture_bins(converted)
        for k in settings["ks"]:
            labels = felzenszwalb(converted, k, sigma=0.8)
            features = region_features(labels, colour_bin_index, texture_bin_index)
            for strategy in settings["strategies"]:
                boxes = hierarchical_grouping(features, strategy)
                rank = np.arange(len(boxes), 0, -1)
                all_boxes.append(boxes)
                all_priorities.append(rank * rng.random(len(boxes)))
    boxes = np.concatenate(all_boxes)
    priority = np.concatenate(all_priorities)
    boxes = boxes[np.argsort(priority, kind="stable")]

    # Keep the first (best ranked) copy of every box.
    _, first = np.unique(boxes, axis=0, return_index=True)
    boxes = boxes[np.sort(first)]
    widths, heights = box_sizes(boxes)
    boxes = boxes[(widths >= min_box) & (heights >= min_box)]
    return boxes[:max_boxes].astype(np.float32)
