"""Felzenszwalb-Huttenlocher graph-based segmentation (IJCV 2004), the first step of selective search.

Every pixel is a node of a graph; each pixel is joined to its 8 neighbours by an edge whose weight
is the colour distance between the two (smoothed) pixels. Edges are visited from the lightest to
the heaviest, and two components C1, C2 are merged when the edge between them is no heavier than
either component's threshold

    Int(C) + k / |C|,

where Int(C) is the heaviest edge inside C's minimum spanning tree (the largest weight seen when
C was last grown, because edges come sorted) and |C| its size in pixels. The k / |C| term lets
small components merge easily, so k sets the scale: a larger k gives larger segments. A last pass
over the same sorted edges merges every component still smaller than min_size into a neighbour.
"""

import numpy as np
from numba import njit


def gaussian_smooth(image, sigma):
    """Blur each channel of image (H, W, C) with a Gaussian of standard deviation sigma (pixels),
    separably (rows, then columns), repeating the border pixels. Returns (H, W, C) float32."""
    image = np.asarray(image, np.float32)
    if sigma <= 0:
        return image.copy()
    radius = int(np.ceil(4 * sigma))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights = (weights / weights.sum()).astype(np.float32)
    height, width = image.shape[:2]
    out = image
    for axis, length in ((0, height), (1, width)):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in range(3)],
                        mode="edge")
        out = sum(w * np.take(padded, np.arange(i, i + length), axis=axis)
                  for i, w in enumerate(weights))
    return out.astype(np.float32)


# The four "forward" neighbours of a pixel (dy, dx): right, below, below-right, above-right.
# Visiting only these from every pixel lists each edge of the 8-connected grid exactly once.
_NEIGHBOURS = np.array([[0, 1], [1, 0], [1, 1], [-1, 1]], np.int64)


@njit(cache=True)
def _grid_edges(image, neighbours):
    """Edges of the 8-connected grid graph of image (H, W, C) float32, pixels numbered y * W + x.
    Returns a (E,), b (E,) int64 end points and weight (E,) float32 Euclidean colour distances."""
    height, width, channels = image.shape
    capacity = height * width * neighbours.shape[0]
    a = np.empty(capacity, np.int64)
    b = np.empty(capacity, np.int64)
    weight = np.empty(capacity, np.float32)
    count = 0
    for y in range(height):
        for x in range(width):
            for n in range(neighbours.shape[0]):
                ny = y + neighbours[n, 0]
                nx = x + neighbours[n, 1]
                if ny < 0 or ny >= height or nx >= width:
                    continue
                squared = np.float32(0.0)
                for c in range(channels):
                    d = image[y, x, c] - image[ny, nx, c]
                    squared += d * d
                a[count] = y * width + x
                b[count] = ny * width + nx
                weight[count] = np.sqrt(squared)
                count += 1
    return a[:count], b[:count], weight[:count]


@njit(cache=True)
def _find(parent, i):
    """Root of i's component; halves the path on the way so later look-ups are short."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _union(parent, rank, size, root_a, root_b):
    """Join two roots by rank; returns the root of the joined component."""
    if rank[root_a] < rank[root_b]:
        root_a, root_b = root_b, root_a
    parent[root_b] = root_a
    size[root_a] += size[root_b]
    if rank[root_a] == rank[root_b]:
        rank[root_a] += 1
    return root_a


@njit(cache=True)
def _segment_graph(n_nodes, a, b, weight, order, k, min_size):
    """Merge the graph's nodes into components (the FH criterion, then the min_size pass).
    a, b, weight: (E,) edges; order: (E,) edge indices from lightest to heaviest.
    Returns (n_nodes,) int64 labels numbered 0 .. n_components - 1 in order of first pixel."""
    parent = np.arange(n_nodes)
    rank = np.zeros(n_nodes, np.int64)
    size = np.ones(n_nodes, np.int64)
    # threshold[root] = Int(C) + k / |C|; a single pixel has Int = 0.
    threshold = np.full(n_nodes, np.float32(k))
    for e in order:
        root_a = _find(parent, a[e])
        root_b = _find(parent, b[e])
        if root_a == root_b:
            continue
        w = weight[e]
        if w <= threshold[root_a] and w <= threshold[root_b]:
            root = _union(parent, rank, size, root_a, root_b)
            # Edges come sorted, so w is now the heaviest edge of the joined spanning tree.
            threshold[root] = w + np.float32(k) / np.float32(size[root])
    for e in order:
        root_a = _find(parent, a[e])
        root_b = _find(parent, b[e])
        if root_a != root_b and (size[root_a] < min_size or size[root_b] < min_size):
            _union(parent, rank, size, root_a, root_b)
    labels = np.empty(n_nodes, np.int64)
    new_label = np.full(n_nodes, -1, np.int64)
    count = 0
    for i in range(n_nodes):
        root = _find(parent, i)
        if new_label[root] < 0:
            new_label[root] = count
            count += 1
        labels[i] = new_label[root]
    return labels


def felzenszwalb(image, k, sigma=0.8, min_size=None):
    """Segment image (H, W, C) (any numeric dtype, e.g. uint8 RGB or a float colour space scaled
    to about 0..255) into regions.

    k: scale of the criterion Int(C) + k / |C| (larger k, larger regions);
    sigma: the Gaussian smoothing applied first, in pixels (0.8 in selective search);
    min_size: components smaller than this many pixels are merged into a neighbour
    (default k, as selective search does).
    Returns labels: (H, W) int64, regions numbered 0 .. R - 1.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    min_size = int(k) if min_size is None else int(min_size)
    height, width = image.shape[:2]
    smoothed = np.ascontiguousarray(gaussian_smooth(image, sigma))
    a, b, weight = _grid_edges(smoothed, _NEIGHBOURS)
    # A stable sort, so equal weights are visited in the same order on every machine.
    order = np.argsort(weight, kind="stable")
    labels = _segment_graph(height * width, a, b, weight, order, float(k), min_size)
    return labels.reshape(height, width)
