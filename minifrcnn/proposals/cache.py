"""Selective-search proposals for a whole split, cached on disk, and their recall.

Selective search takes a fraction of a second to seconds per image, so every image's boxes are
computed once and kept as one file::

    CACHE_DIR/<image_id>.npz    boxes (P, 4) float32, image_sha256, params (JSON text)

CACHE_DIR defaults to ROOT/proposals_cache/<mode>. A cached file is used only when the SHA-256 of
the image's bytes and the parameters (cache format version, mode, min_box, max_boxes, seed) are
the ones it was made with; otherwise, and when the file cannot be read, the boxes are computed
again and the file replaced. Hashing the bytes (not the modification time) means a copied or
re-extracted dataset keeps its cache, and an image rewritten within the same second does not.

Recall (Hosang et al., "What makes for effective detection proposals?"): the fraction of
ground-truth objects that at least one of an image's first N proposals overlaps with IoU >= t.
Difficult objects are not counted (DESIGN.md, "Decisions").
"""

import hashlib
import io
import json
import os
import tempfile
import time
import warnings

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..boxes import iou
from ..data.voc import load_voc
from . import MODES, selective_search

# Bump when the file layout or the meaning of the stored boxes changes: every old file is stale.
CACHE_VERSION = 1


class ProposalCacheWarning(UserWarning):
    """A cache file that could not be read (it is computed again); the message names the file."""


def default_cache_dir(root, mode="fast"):
    """Where a dataset's proposals are cached unless told otherwise: ROOT/proposals_cache/<mode>."""
    return os.path.join(os.fspath(root), "proposals_cache", mode)


def _params(mode, min_box, max_boxes, seed):
    """The settings the boxes depend on, as canonical JSON text (stored in, and compared with,
    every cache file). min_box None (the image-size default) is stored as null."""
    return json.dumps({"version": CACHE_VERSION, "mode": mode, "min_box": min_box,
                       "max_boxes": max_boxes, "seed": seed}, sort_keys=True)


def _read_cache(path):
    """(boxes (P, 4) float32, image_sha256, params) from a cache file, None if there is no file.
    Raises ValueError (or whatever NumPy's reader raises) for a file that is not a valid one."""
    if not os.path.exists(path):
        return None
    # The file is opened here, not by np.load, so it is closed even when it is no zip at all.
    with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
        boxes, digest, params = data["boxes"], data["image_sha256"], data["params"]
    if boxes.dtype != np.float32 or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (P, 4) float32, got {boxes.shape} {boxes.dtype}")
    return boxes, str(digest), str(params)


def _write_cache(path, boxes, digest, params):
    """Write a cache file atomically: to a temporary file in the same folder, then os.replace,
    so a reader (or a run killed half-way) never sees a half-written file."""
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, boxes=boxes, image_sha256=np.str_(digest), params=np.str_(params))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def cached_proposals(dataset, cache_dir, mode="fast", min_box=None, max_boxes=2000, seed=0,
                     progress=True):
    """compute_proposals for an already loaded dataset (a VocDataset or anything with .samples).

    Returns (proposals, stats): proposals {image_id: (P, 4) float32} in the dataset's order;
    stats {"computed", "cached", "stale", "corrupt", "compute_seconds"}: images computed and
    loaded, of the computed ones how many replaced an outdated or an unreadable file, and the
    seconds spent reading and searching the computed images.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    os.makedirs(cache_dir, exist_ok=True)
    params = _params(mode, min_box, max_boxes, seed)
    proposals = {}
    stats = {"computed": 0, "cached": 0, "stale": 0, "corrupt": 0, "compute_seconds": 0.0}
    bar = tqdm(dataset.samples, desc="proposals", unit="img", disable=not progress)
    for sample in bar:
        path = os.path.join(cache_dir, f"{sample.image_id}.npz")
        with open(sample.image_path, "rb") as handle:
            image_bytes = handle.read()
        digest = hashlib.sha256(image_bytes).hexdigest()
        try:
            cached = _read_cache(path)
        # A damaged file can fail in many ways (BadZipFile, EOFError, KeyError, ValueError,
        # OSError, ...); each one only means "compute it again".
        except Exception as error:
            warnings.warn(f"{path}: unreadable proposal cache ({type(error).__name__}: {error}); "
                          "computing it again", ProposalCacheWarning, stacklevel=2)
            stats["corrupt"] += 1
            cached = None
        if cached is not None and cached[1] == digest and cached[2] == params:
            proposals[sample.image_id] = cached[0]
            stats["cached"] += 1
        else:
            stats["stale"] += cached is not None
            start = time.perf_counter()
            # Decode the very bytes that were hashed, so the stored hash matches these boxes.
            with Image.open(io.BytesIO(image_bytes)) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
            boxes = selective_search(pixels, mode=mode, min_box=min_box, max_boxes=max_boxes,
                                     seed=seed)
            stats["compute_seconds"] += time.perf_counter() - start
            _write_cache(path, boxes, digest, params)
            proposals[sample.image_id] = boxes
            stats["computed"] += 1
        bar.set_postfix_str(f"computed {stats['computed']}, cached {stats['cached']}")
    bar.close()
    return proposals, stats


def compute_proposals(root, split, cache_dir=None, mode="fast", progress=True, *, min_box=None,
                      max_boxes=2000, seed=0):
    """Selective-search boxes for every image of a split, from the cache where it is current.

    root, split: a VOC-layout folder and one of its splits (read with load_voc, so a broken
    dataset raises DatasetError); cache_dir: None for ROOT/proposals_cache/<mode>;
    mode, min_box, max_boxes, seed: passed to selective_search (and part of the cache key);
    progress: a tqdm bar over the images, showing how many were computed and loaded.
    Returns {image_id: (P, 4) float32}, boxes (x1, y1, x2, y2) 0-based inclusive, best first.
    """
    dataset = load_voc(root, split)
    if cache_dir is None:
        cache_dir = default_cache_dir(root, mode)
    proposals, _ = cached_proposals(dataset, cache_dir, mode, min_box, max_boxes, seed, progress)
    return proposals


def proposal_recall(proposals, dataset, thresholds=(0.5, 0.7),
                    counts=(10, 20, 50, 100, 200, 500, 1000, 2000)):
    """Recall of the non-difficult ground-truth objects by the first N proposals of each image.

    proposals: {image_id: (P, 4)} ranked boxes, one entry for every sample of the dataset;
    dataset: anything with .samples (image_id, boxes (G, 4), difficult (G,));
    thresholds: IoU values t (an object counts as found when some proposal has IoU >= t);
    counts: the numbers N of proposals used (an image with fewer boxes uses all of them).
    Returns a dict: "thresholds" (T,) and "counts" (C,) as given, "recall" (T, C) float64
    (NaN when no object is counted), "objects" (non-difficult objects counted), "images",
    "mean_boxes" (proposals per image, mean).
    """
    thresholds = np.asarray(thresholds, np.float64)
    counts = np.asarray(counts, np.int64)
    found = np.zeros((len(thresholds), len(counts)), np.int64)
    objects, boxes_per_image = 0, []
    for sample in dataset.samples:
        if sample.image_id not in proposals:
            raise ValueError(f"no proposals for image {sample.image_id}")
        boxes = np.asarray(proposals[sample.image_id]).reshape(-1, 4)
        boxes_per_image.append(len(boxes))
        gt = sample.boxes[~np.asarray(sample.difficult, bool)]
        objects += len(gt)
        if len(gt) == 0 or len(boxes) == 0:
            continue
        top = boxes[:counts.max()]
        # best[g, n]: the highest IoU of object g with any of the first n + 1 proposals.
        best = np.maximum.accumulate(iou(gt, top), axis=1)
        last = np.minimum(counts, len(top)) - 1
        found += (best[None, :, last] >= thresholds[:, None, None]).sum(axis=1)
    recall = found / objects if objects else np.full(found.shape, np.nan)
    return {"thresholds": thresholds, "counts": counts, "recall": recall, "objects": objects,
            "images": len(boxes_per_image),
            "mean_boxes": float(np.mean(boxes_per_image)) if boxes_per_image else 0.0}
