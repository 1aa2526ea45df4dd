"""Hierarchical grouping (Uijlings et al., IJCV 2013, section 3): start from the regions of a
graph-based segmentation and repeatedly merge the two most similar neighbouring regions until one
region covers the image. Every region ever formed, the first ones included, gives a box.

Similarity of regions r_i, r_j is the sum of the chosen measures, each in [0, 1]:

    colour   sum_k min(c_i^k, c_j^k)      intersection of 25-bin-per-channel colour histograms
    texture  sum_k min(t_i^k, t_j^k)      intersection of 8-orientation x 10-bin gradient histograms
    size     1 - (size_i + size_j) / size_image          merge small regions first
    fill     1 - (size_bbox_ij - size_i - size_j) / size_image   merge regions that fit together

Histograms of a merged region are the size-weighted averages of its parts', so no pixel is
looked at again after the start.
"""

import numpy as np
from numba import njit

from .segmentation import gaussian_smooth

COLOUR_BINS = 25
TEXTURE_ORIENTATIONS = 8
TEXTURE_BINS = 10

# Which measures a strategy sums: (colour, texture, size, fill).
STRATEGIES = {
    "colour+texture+size+fill": (True, True, True, True),
    "texture+size+fill": (False, True, True, True),
}


def _histograms(labels, n_regions, bin_index, n_bins):
    """Per-region histograms, L1-normalised. labels (H, W) in 0..R-1; bin_index (H, W, D) int,
    each of the D descriptors quantised into 0..n_bins-1. Returns (R, D * n_bins) float32."""
    n_descriptors = bin_index.shape[2]
    flat_labels = labels.reshape(-1)
    hist = np.zeros((n_regions, n_descriptors * n_bins), np.float64)
    for d in range(n_descriptors):
        column = flat_labels * (n_descriptors * n_bins) + d * n_bins + bin_index[..., d].reshape(-1)
        hist += np.bincount(column, minlength=n_regions * n_descriptors * n_bins).reshape(
            n_regions, -1)
    return (hist / hist.sum(axis=1, keepdims=True)).astype(np.float32)


def colour_bins(image):
    """image (H, W, 3) with values in 0..255 (any colour space scaled so).
    Returns (H, W, 3) int64: each channel's value quantised into 25 bins."""
    return np.clip((np.asarray(image, np.float32) * (COLOUR_BINS / 256.0)).astype(np.int64),
                   0, COLOUR_BINS - 1)


def texture_bins(image):
    """SIFT-like texture: Gaussian derivatives (sigma 1) of each channel in 8 orientations, the
    response in each orientation quantised into 10 bins. image (H, W, 3).
    Returns (H, W, 3 * 8) int64."""
    smoothed = gaussian_smooth(image, 1.0)
    grad_y, grad_x = np.gradient(smoothed, axis=(0, 1))
    angles = np.arange(TEXTURE_ORIENTATIONS) * (2 * np.pi / TEXTURE_ORIENTATIONS)
    # (H, W, 3, 8): the derivative along each direction, kept only where it is positive, so
    # opposite directions (a dark-to-light and a light-to-dark edge) land in different bins.
    response = np.maximum(grad_x[..., None] * np.cos(angles).astype(np.float32)
                          + grad_y[..., None] * np.sin(angles).astype(np.float32), 0.0)
    # Each (channel, orientation) is binned between 0 and its largest response in this image.
    top = response.max(axis=(0, 1), keepdims=True) + 1e-6
    bins = np.minimum((response * (TEXTURE_BINS / top)).astype(np.int64), TEXTURE_BINS - 1)
    return bins.reshape(image.shape[0], image.shape[1], -1)


def region_boxes(labels, n_regions):
    """Bounding boxes of the regions of labels (H, W): (R, 4) int64 (x1, y1, x2, y2), 0-based
    inclusive, and sizes (R,) int64 in pixels."""
    ys, xs = np.indices(labels.shape)
    flat = labels.reshape(-1)
    boxes = np.empty((n_regions, 4), np.int64)
    # Start every box "inside out" (x1 past the right edge, x2 before the left) and let the
    # pixels of each region widen it.
    boxes[:, 0] = labels.shape[1]
    boxes[:, 1] = labels.shape[0]
    boxes[:, 2:] = -1
    np.minimum.at(boxes[:, 0], flat, xs.reshape(-1))
    np.minimum.at(boxes[:, 1], flat, ys.reshape(-1))
    np.maximum.at(boxes[:, 2], flat, xs.reshape(-1))
    np.maximum.at(boxes[:, 3], flat, ys.reshape(-1))
    return boxes, np.bincount(flat, minlength=n_regions).astype(np.int64)


def neighbour_pairs(labels):
    """Pairs of regions that touch (8-connected, as in the segmentation graph).
    Returns (P, 2) int64 with a < b in every row, each pair once, sorted."""
    n_regions = int(labels.max()) + 1
    pairs = [(labels[:, :-1], labels[:, 1:]),        # right
             (labels[:-1, :], labels[1:, :]),        # below
             (labels[:-1, :-1], labels[1:, 1:]),     # below-right
             (labels[1:, :-1], labels[:-1, 1:])]     # above-right
    a = np.concatenate([p[0].reshape(-1) for p in pairs]).astype(np.int64)
    b = np.concatenate([p[1].reshape(-1) for p in pairs]).astype(np.int64)
    keep = a != b
    low, high = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    # One integer per pair, so a 1-D unique finds the distinct pairs.
    codes = np.unique(low * n_regions + high)
    return np.stack([codes // n_regions, codes % n_regions], axis=1)


@njit(cache=True)
def _similarity(i, j, colour, texture, size, box, image_size, use):
    """Sum of the measures switched on in use (4,) bool (colour, texture, size, fill)."""
    s = 0.0
    if use[0]:
        for c in range(colour.shape[1]):
            s += min(colour[i, c], colour[j, c])
    if use[1]:
        for c in range(texture.shape[1]):
            s += min(texture[i, c], texture[j, c])
    if use[2]:
        s += 1.0 - (size[i] + size[j]) / image_size
    if use[3]:
        w = max(box[i, 2], box[j, 2]) - min(box[i, 0], box[j, 0]) + 1
        h = max(box[i, 3], box[j, 3]) - min(box[i, 1], box[j, 1]) + 1
        s += 1.0 - (w * h - size[i] - size[j]) / image_size
    return s


@njit(cache=True)
def _merge_all(colour0, texture0, size0, box0, pairs0, image_size, use):
    """Greedy merging. Inputs for R initial regions: colour0 (R, Dc), texture0 (R, Dt) float32,
    size0 (R,), box0 (R, 4) int64, pairs0 (P, 2) neighbouring regions.
    Returns boxes (R + M, 4) int64 of all regions, initial first, then one per merge in merge
    order (M <= R - 1: fewer when the image has several unconnected parts)."""
    n_initial = size0.shape[0]
    capacity = 2 * n_initial - 1
    colour = np.zeros((capacity, colour0.shape[1]), np.float32)
    texture = np.zeros((capacity, texture0.shape[1]), np.float32)
    size = np.zeros(capacity, np.float64)
    box = np.zeros((capacity, 4), np.int64)
    colour[:n_initial] = colour0
    texture[:n_initial] = texture0
    size[:n_initial] = size0
    box[:n_initial] = box0

    # The live neighbour pairs with their similarities; rebuilt after every merge.
    first = pairs0[:, 0].copy()
    second = pairs0[:, 1].copy()
    similarity = np.empty(first.shape[0], np.float64)
    for p in range(first.shape[0]):
        similarity[p] = _similarity(first[p], second[p], colour, texture, size, box,
                                    image_size, use)
    # seen[r] == t marks r as already paired with the new region t (so each pair enters once).
    seen = np.full(capacity, -1, np.int64)
    n_regions = n_initial
    while first.shape[0] > 0:
        best = np.argmax(similarity)
        i, j = first[best], second[best]
        t = n_regions
        n_regions += 1
        size[t] = size[i] + size[j]
        wi, wj = size[i] / size[t], size[j] / size[t]
        colour[t] = wi * colour[i] + wj * colour[j]
        texture[t] = wi * texture[i] + wj * texture[j]
        box[t, 0] = min(box[i, 0], box[j, 0])
        box[t, 1] = min(box[i, 1], box[j, 1])
        box[t, 2] = max(box[i, 2], box[j, 2])
        box[t, 3] = max(box[i, 3], box[j, 3])

        # Pairs that touch i or j now touch t instead; all others are kept as they are.
        n_pairs = first.shape[0]
        new_first = np.empty(n_pairs, np.int64)
        new_second = np.empty(n_pairs, np.int64)
        new_similarity = np.empty(n_pairs, np.float64)
        count = 0
        for p in range(n_pairs):
            a, b = first[p], second[p]
            if a == i or a == j or b == i or b == j:
                other = b if (a == i or a == j) else a
                if other == i or other == j or seen[other] == t:
                    continue
                seen[other] = t
                new_first[count] = other
                new_second[count] = t
                new_similarity[count] = _similarity(other, t, colour, texture, size, box,
                                                    image_size, use)
            else:
                new_first[count] = a
                new_second[count] = b
                new_similarity[count] = similarity[p]
            count += 1
        first = new_first[:count]
        second = new_second[:count]
        similarity = new_similarity[:count]
    return box[:n_regions]


def region_features(labels, colour_bin_index, texture_bin_index):
    """Everything the grouping needs about the initial regions of one segmentation.

    labels: (H, W) int, regions 0 .. R - 1 (from felzenszwalb);
    colour_bin_index: (H, W, 3) from colour_bins; texture_bin_index: (H, W, 24) from texture_bins.
    Returns a dict: colour (R, 75) and texture (R, 240) float32 L1-normalised histograms,
    boxes (R, 4) int64, sizes (R,) int64, pairs (P, 2) int64 neighbours, image_size (H * W).
    """
    labels = np.asarray(labels, np.int64)
    if labels.shape != colour_bin_index.shape[:2]:
        raise ValueError(f"labels {labels.shape} must match the image's (H, W) "
                         f"{colour_bin_index.shape[:2]}")
    n_regions = int(labels.max()) + 1
    boxes, sizes = region_boxes(labels, n_regions)
    return {"colour": _histograms(labels, n_regions, colour_bin_index, COLOUR_BINS),
            "texture": _histograms(labels, n_regions, texture_bin_index, TEXTURE_BINS),
            "boxes": boxes, "sizes": sizes, "pairs": neighbour_pairs(labels),
            "image_size": float(labels.size)}


def hierarchical_grouping(features, strategy="colour+texture+size+fill"):
    """Group the regions of one segmentation.

    features: the dict of region_features;
    strategy: a key of STRATEGIES, naming the similarity measures summed.
    Returns boxes: (R + M, 4) int64 (x1, y1, x2, y2) 0-based inclusive, the R initial regions
    first, then the M merged regions in the order they were formed (the last one covers the
    whole image when the image is one connected piece, which it always is for a grid).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    use = np.array(STRATEGIES[strategy], np.bool_)
    return _merge_all(features["colour"], features["texture"], features["sizes"],
                      features["boxes"], features["pairs"], features["image_size"], use)
