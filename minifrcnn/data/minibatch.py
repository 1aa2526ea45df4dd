"""Training minibatches: Fast R-CNN's hierarchical sampling and its regression targets
(paper section 2.3; fast-rcnn-spec.md, "Box regression targets" and "Training recipe").

Hierarchical sampling
---------------------
R-CNN and SPPnet trained on RoIs drawn from as many different images as there are RoIs. Fast R-CNN
samples hierarchically instead: first N images, then R / N RoIs from each (N = 2, R = 128, so 64
RoIs per image). RoIs of the same image share the whole convolutional computation, which runs
once per image, so a minibatch costs about two images' worth of conv work instead of 128: the
paper measures roughly 64x faster training, with no harm to convergence.

Of the RoIs of an image, 25 % (FG_FRACTION) are foreground: RoIs whose best IoU with a
ground-truth box is >= 0.5 (FG_THRESHOLD), labelled with that box's class. The rest are background
(label 0): RoIs whose best IoU lies in [0.1, 0.5) (BG_THRESHOLD_LO, BG_THRESHOLD_HI). The lower
bound 0.1 makes background RoIs overlap some object, a heuristic of hard example mining; RoIs
below it are never sampled. Both sets are drawn without replacement, so an image with few
foreground RoIs gives fewer than 16 and an image with few candidates a smaller batch.

The lower bound is a parameter (bg_lo; `train --bg-lo`). On photographs, a box far from every
object is an easy negative, and the paper's 0.1 spends the batch on the hard ones near objects.
On cluttered backgrounds it leaves the clutter unseen: the detector never learns that a texture
patch far from any object is background, and such boxes become its top false positives.
Faster R-CNN's own training of this detector samples background from [0, 0.5) (py-faster-rcnn's
end-to-end configuration, BG_THRESH_LO 0.0).

Transposition
-------------
With transpose, build_roidb adds every image a second time transposed (rows and columns
swapped), before the mirror images are added, so the roidb holds each image in 4 of its 8
rotations and reflections by multiples of 90 degrees. Only for data without an "up" (shapes at
any angle, aerial or microscope images): a transposed VOC person stands on his side.

Data flow and shapes (K object classes, K + 1 with the background)
------------------------------------------------------------------
::

    dataset (VocDataset) + proposals {image_id: (P, 4)}
        |  build_roidb: gt boxes + proposals per image, best IoU, labels, raw targets (+ flips)
        v
    roidb: list of RoiEntry, rois (P', 4), max_overlaps (P',), labels (P',), targets (P', 4)
        |  target_stats: per-class mean and std of the foreground targets -> (K+1, 4) each
        |  MinibatchSampler: N entries at a time, a fresh permutation each epoch
        v
    get_minibatch (per image: a scale, sample_rois, load + flip + resize + subtract the mean)
        |  bbox_targets_and_weights: normalised targets in the 4 columns of the RoI's class
        v
    Minibatch: images (N, 3, H, W), rois (R, 5), labels (R,), bbox_targets (R, 4(K+1)),
               bbox_weights (R, 4(K+1)), scale_factors (N,)

Everything random takes an explicit np.random.Generator and draws from it in a fixed order, so a
trainer that saves `rng.bit_generator.state` and `MinibatchSampler.state()` resumes exactly.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .. import boxes as box_ops
from . import transforms

FG_THRESHOLD = 0.5       # a RoI with best IoU >= this is foreground, with its gt box's class
BG_THRESHOLD_HI = 0.5    # background: best IoU in [BG_THRESHOLD_LO, BG_THRESHOLD_HI)
BG_THRESHOLD_LO = 0.1
FG_FRACTION = 0.25       # share of each image's RoIs that are foreground (at most)
ROIS_PER_IMAGE = 64      # R / N = 128 / 2
IMAGES_PER_BATCH = 2     # N
# The decoded images a training run keeps (ImageCache): room for all of the built-in demo's few
# hundred (160 to 320 pixels a side, at most 0.3 MB each), not for VOC07's 5011 trainval
# photographs (about 500x375, 0.56 MB each decoded, 2.8 GB in all), of which it keeps the most
# recently used.
IMAGE_CACHE_BYTES = 256 * 2 ** 20


@dataclass
class RoiEntry:
    """One training image (or its mirror image, its transpose, or the transpose's mirror) with its
    candidate RoIs, P' = G + P of them:
    the G non-difficult ground-truth boxes first, then the P proposals.

    width, height: the size of the image the RoIs live in (swapped from the file's if transposed).
    rois: (P', 4) float32, (x1, y1, x2, y2) in pixels of the original image, transposed if
        `transposed`, then mirrored if `flipped`.
    max_overlaps: (P',) float64, best IoU with a ground-truth box (0 when the image has none).
    gt_assignment: (P',) int64, index of that ground-truth box.
    labels: (P',) int64, its class where max_overlaps >= FG_THRESHOLD, else 0 (background).
    targets: (P', 4) float32, raw deltas boxes.encode(roi, its gt box) for foreground RoIs, else 0.
    flipped: the image is mirrored left to right when the minibatch is built.
    transposed: the image's rows and columns are swapped (before the mirror) when it is built.
    """

    image_id: str
    image_path: str
    width: int
    height: int
    rois: np.ndarray
    max_overlaps: np.ndarray
    gt_assignment: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    flipped: bool = False
    transposed: bool = False


class Roidb(list):
    """The list of RoiEntry that build_roidb returns, with `dropped`: the ids of the images left
    out because they have neither a foreground RoI nor a background candidate (their mirror
    images are left out with them)."""

    def __init__(self, entries=(), dropped=()):
        super().__init__(entries)
        self.dropped = list(dropped)


def _entry(sample, gt_boxes, gt_labels, proposals, flipped, transposed):
    """The RoiEntry of one image: gt_boxes (G, 4), gt_labels (G,), proposals (P, 4), all already
    transposed when `transposed` and then mirrored when `flipped`."""
    rois = np.concatenate([gt_boxes, proposals]).astype(np.float32)
    num_rois = len(rois)
    max_overlaps = np.zeros(num_rois)
    gt_assignment = np.zeros(num_rois, np.int64)
    if len(gt_boxes):
        overlaps = box_ops.iou(rois, gt_boxes)                     # (P', G)
        gt_assignment = overlaps.argmax(axis=1)
        max_overlaps = overlaps[np.arange(num_rois), gt_assignment]
    fg = max_overlaps >= FG_THRESHOLD
    labels = np.zeros(num_rois, np.int64)
    labels[fg] = gt_labels[gt_assignment[fg]]
    targets = np.zeros((num_rois, 4), np.float32)
    if fg.any():
        targets[fg] = box_ops.encode(rois[fg], gt_boxes[gt_assignment[fg]])
    width, height = int(sample.width), int(sample.height)
    if transposed:
        width, height = height, width
    return RoiEntry(sample.image_id, sample.image_path, width, height, rois, max_overlaps,
                    gt_assignment, labels, targets, flipped, transposed)


def _background(max_overlaps, bg_lo):
    """Which RoIs are background candidates: best IoU in [bg_lo, BG_THRESHOLD_HI)."""
    return (max_overlaps >= bg_lo) & (max_overlaps < BG_THRESHOLD_HI)


def _usable(entry, bg_lo):
    """Whether the image can contribute to a minibatch: a foreground RoI or a background one."""
    mo = entry.max_overlaps
    return bool(np.any(mo >= FG_THRESHOLD) or np.any(_background(mo, bg_lo)))


def build_roidb(dataset, proposals, flip=True, transpose=False, bg_lo=BG_THRESHOLD_LO):
    """The training RoI database of a dataset.

    dataset: anything with `.samples`, a list of VocSample (image_id, image_path, width, height,
        boxes (G, 4), labels (G,), difficult (G,)), such as load_voc's VocDataset.
    proposals: {image_id: (P, 4) float32} proposal boxes of each image (selective search).
    flip: also add every image's mirror image (its boxes through boxes.flip), which doubles the
        training set; the pixels are mirrored later, by get_minibatch.
    transpose: also add every image transposed (boxes.transpose), before the mirrors, so that
        with flip the roidb is 4 times the images (see "Transposition" above).
    bg_lo: the lower bound of a background RoI's best IoU, which decides which images are usable.

    Difficult objects are left out of training: they are neither ground-truth RoIs nor targets,
    and a proposal's overlaps are measured against the other boxes only. Images with neither a
    foreground RoI nor a background candidate could never contribute a RoI and are left out; their
    ids are in the result's `dropped`.

    Returns a Roidb (a list of RoiEntry: the originals first, then with transpose the transposed
    ones, then with flip the mirror images of all of those, each group in the same order) with
    `.dropped`.
    """
    entries, dropped = [], []
    for sample in dataset.samples:
        if sample.image_id not in proposals:
            raise ValueError(f"no proposals for image {sample.image_id} ({sample.image_path})")
        keep = ~np.asarray(sample.difficult, bool)
        gt_boxes = np.asarray(sample.boxes, np.float32).reshape(-1, 4)[keep]
        gt_labels = np.asarray(sample.labels, np.int64)[keep]
        props = np.asarray(proposals[sample.image_id], np.float32).reshape(-1, 4)
        entry = _entry(sample, gt_boxes, gt_labels, props, flipped=False, transposed=False)
        if _usable(entry, bg_lo):
            entries.append((sample, gt_boxes, gt_labels, props, entry))
        else:
            dropped.append(sample.image_id)
    roidb = [entry for *_, entry in entries]
    # IoU does not change under a transpose or a mirror, so such a view of an image is usable
    # when the image is. Each view: (sample, gt boxes, labels, proposals, transposed).
    views = [(sample, gt_boxes, gt_labels, props, False)
             for sample, gt_boxes, gt_labels, props, _ in entries]
    if transpose:
        transposed = [(sample, box_ops.transpose(gt_boxes), gt_labels, box_ops.transpose(props),
                       True) for sample, gt_boxes, gt_labels, props, _ in entries]
        roidb += [_entry(*view[:4], flipped=False, transposed=True) for view in transposed]
        views += transposed
    if flip:
        for sample, gt_boxes, gt_labels, props, is_transposed in views:
            width = sample.height if is_transposed else sample.width
            roidb.append(_entry(sample, box_ops.flip(gt_boxes, width), gt_labels,
                                box_ops.flip(props, width), flipped=True,
                                transposed=is_transposed))
    return Roidb(roidb, dropped)


def target_stats(roidb, num_classes):
    """Per-class mean and standard deviation of the raw regression targets, over the foreground
    RoIs of the whole roidb (mirror images included). num_classes = K + 1.

    Returns means, stds: (K+1, 4) float64 each. bbox_targets_and_weights divides by them so every
    class's targets have mean 0 and std 1; the final saved model folds them back into bbox_pred.
    Background (row 0) and a class without foreground RoIs get mean 0, std 1 (left unscaled).
    """
    means = np.zeros((num_classes, 4))
    stds = np.ones((num_classes, 4))
    labels = np.concatenate([entry.labels for entry in roidb])
    targets = np.concatenate([entry.targets for entry in roidb]).astype(np.float64)
    for c in range(1, num_classes):
        class_targets = targets[labels == c]
        if len(class_targets):
            means[c] = class_targets.mean(axis=0)
            stds[c] = class_targets.std(axis=0)
    # A class whose only foreground RoIs are its ground-truth boxes (targets exactly 0) has std 0
    # and would divide by zero; leaving such a coordinate unscaled is harmless, its targets are
    # all equal to the mean and normalise to 0 either way.
    stds[stds < 1e-6] = 1.0
    return means, stds


def sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo=BG_THRESHOLD_LO):
    """Draw one image's share of the minibatch, without replacement: at most
    round(fg_fraction * rois_per_image) foreground RoIs (best IoU >= FG_THRESHOLD), then
    background RoIs (best IoU in [bg_lo, BG_THRESHOLD_HI)) up to rois_per_image. When
    too few RoIs qualify the sample is smaller than asked. The rng draws the foreground first,
    then the background (rng.choice, each only when there is something to draw).

    Returns keep (R_i,) int64 indices into entry.rois, foreground first, and labels (R_i,) int64
    (the class for foreground, 0 for background).
    """
    mo = entry.max_overlaps
    fg_inds = np.flatnonzero(mo >= FG_THRESHOLD)
    bg_inds = np.flatnonzero(_background(mo, bg_lo))
    num_fg = min(round(fg_fraction * rois_per_image), len(fg_inds))
    num_bg = min(rois_per_image - num_fg, len(bg_inds))
    if num_fg > 0:
        fg_inds = rng.choice(fg_inds, size=num_fg, replace=False)
    if num_bg > 0:
        bg_inds = rng.choice(bg_inds, size=num_bg, replace=False)
    keep = np.concatenate([fg_inds[:num_fg], bg_inds[:num_bg]]).astype(np.int64)
    labels = entry.labels[keep].copy()
    labels[num_fg:] = 0
    return keep, labels


def bbox_targets_and_weights(labels, targets, num_classes, means, stds):
    """The class-specific regression targets of the loss.

    labels: (R,) int, targets: (R, 4) raw deltas, num_classes = K + 1, means, stds: (K+1, 4).
    Returns bbox_targets, bbox_weights: (R, 4(K+1)) float32. A foreground RoI of class c has
    (target - means[c]) / stds[c] in columns 4c..4c+3 with weight 1; every other entry, and every
    column of a background RoI, is 0, so only the true class's deltas are trained.
    """
    labels = np.asarray(labels)
    num_rois = len(labels)
    bbox_targets = np.zeros((num_rois, 4 * num_classes), np.float32)
    bbox_weights = np.zeros((num_rois, 4 * num_classes), np.float32)
    fg = np.flatnonzero(labels > 0)
    fg_labels = labels[fg]
    columns = 4 * fg_labels[:, None] + np.arange(4)                # (F, 4)
    bbox_targets[fg[:, None], columns] = (np.asarray(targets)[fg] - means[fg_labels]) / stds[fg_labels]
    bbox_weights[fg[:, None], columns] = 1.0
    return bbox_targets, bbox_weights


@dataclass
class Minibatch:
    """What one SGD step trains on (N images, R RoIs in all, K + 1 classes).

    images: (N, 3, H, W) float32, mean subtracted, zero padded at the bottom and right to the
        largest scaled image of the batch.
    rois: (R, 5) float32, (batch_index, x1, y1, x2, y2) in pixels of the scaled image.
    labels: (R,) int64, 0 for background.
    bbox_targets, bbox_weights: (R, 4(K+1)) float32 (see bbox_targets_and_weights).
    scale_factors: (N,) float64, the factor each image was resized by.
    """

    images: np.ndarray
    rois: np.ndarray
    labels: np.ndarray
    bbox_targets: np.ndarray
    bbox_weights: np.ndarray
    scale_factors: np.ndarray


class ImageCache:
    """Decoded images {image_path: (H, W, 3) uint8}, at most max_bytes of them: when an image
    would take it over, the least recently used ones are dropped first (an image larger than the
    whole cache is not kept). get_minibatch takes it as `images`, so each JPEG of a dataset that
    fits is decoded once per run, and a dataset that does not fit cannot fill the memory.
    """

    def __init__(self, max_bytes=IMAGE_CACHE_BYTES):
        self.max_bytes = max_bytes
        self.nbytes = 0                  # of the images held now
        self._images = OrderedDict()     # least recently used first

    def __contains__(self, path):
        return path in self._images

    def __len__(self):
        return len(self._images)

    def __getitem__(self, path):
        self._images.move_to_end(path)
        return self._images[path]

    def __setitem__(self, path, image):
        if path in self._images:
            self.nbytes -= self._images.pop(path).nbytes
        if image.nbytes > self.max_bytes:
            return
        self._images[path] = image
        self.nbytes += image.nbytes
        while self.nbytes > self.max_bytes:
            _, oldest = self._images.popitem(last=False)
            self.nbytes -= oldest.nbytes


def entry_image(entry, images=None):
    """entry's image as (H, W, 3) uint8 RGB as the file has it (neither transposed nor mirrored),
    from the cache `images` (an ImageCache, or any dict) if there."""
    if images is not None and entry.image_path in images:
        return images[entry.image_path]
    image = transforms.read_image(entry.image_path)
    width, height = (entry.height, entry.width) if entry.transposed else (entry.width, entry.height)
    if image.shape[:2] != (height, width):
        raise ValueError(f"image {entry.image_path} is {image.shape[1]}x{image.shape[0]} pixels "
                         f"but its annotation says {width}x{height}")
    if images is not None:
        images[entry.image_path] = image
    return image


def entry_view(entry, images=None):
    """entry's image as its RoIs see it: entry_image, transposed if entry.transposed, then
    mirrored if entry.flipped. (height, width, 3) uint8 of the entry."""
    image = entry_image(entry, images)
    if entry.transposed:
        image = transforms.transpose_image(image)
    if entry.flipped:
        image = transforms.flip_image(image)
    return image


def get_minibatch(entries, num_classes, means, stds, rng, *, scales, max_size, pixel_mean,
                  rois_per_image=ROIS_PER_IMAGE, fg_fraction=FG_FRACTION, bg_lo=BG_THRESHOLD_LO,
                  shuffle_colours=False, images=None):
    """Build the minibatch of `entries` (N RoiEntry, from MinibatchSampler).

    For each image in order, the rng draws first its scale, `scales[rng.integers(len(scales))]`
    (one scale: single-scale training; several: multi-scale), then its RoIs (sample_rois), then,
    with shuffle_colours, its colours (transforms.shuffle_colours); this fixed order makes the
    same rng state give the same minibatch. The image is read as RGB, transposed if
    entry.transposed, mirrored if entry.flipped (entry_view), colour-shuffled, resized by
    transforms.scale_factor(height, width, scale, max_size), and pixel_mean (3,) is subtracted;
    its RoIs are scaled by the same factor (not clipped: RoI pooling clips its bins to the
    feature map).

    means, stds: (K+1, 4) from target_stats. images: an optional cache {image_path: (H, W, 3)
    uint8}, filled as images are read (unmirrored, at their original size), so a training run
    that passes the same cache every step decodes each JPEG once: an ImageCache, which bounds
    the memory, or a dict, which keeps every image.

    Returns a Minibatch. Raises ValueError naming the file if an image cannot be read.
    """
    pictures, factors, rois, labels, targets = [], [], [], [], []
    for batch_index, entry in enumerate(entries):
        scale = scales[rng.integers(len(scales))]
        keep, entry_labels = sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo)
        image = entry_view(entry, images)
        if shuffle_colours:
            image = transforms.shuffle_colours(image, rng)
        factor = transforms.scale_factor(entry.height, entry.width, scale, max_size)
        pictures.append(transforms.to_network(transforms.resize(image, factor), pixel_mean))
        factors.append(factor)
        scaled = box_ops.scale(entry.rois[keep], factor)
        rois.append(np.column_stack([np.full(len(keep), batch_index), scaled]).astype(np.float32))
        labels.append(entry_labels)
        targets.append(entry.targets[keep])

    height = max(picture.shape[1] for picture in pictures)
    width = max(picture.shape[2] for picture in pictures)
    batch = np.zeros((len(pictures), 3, height, width), np.float32)
    for i, picture in enumerate(pictures):
        batch[i, :, :picture.shape[1], :picture.shape[2]] = picture
    labels = np.concatenate(labels)
    bbox_targets, bbox_weights = bbox_targets_and_weights(labels, np.concatenate(targets),
                                                          num_classes, means, stds)
    return Minibatch(batch, np.concatenate(rois), labels, bbox_targets, bbox_weights,
                     np.array(factors))


class MinibatchSampler:
    """Hands out the roidb N entries at a time (N = images_per_batch), each epoch in a fresh order
    `rng.permutation(len(roidb))`. An epoch ends when fewer than N entries are left in its order
    (those wait for a later epoch, in another order); a roidb smaller than N gives batches of all
    its entries.

    state() / set_state() save and restore the position (the current permutation and cursor) as a
    JSON-serialisable dict; with the rng's `bit_generator.state` saved too, a resumed run hands
    out exactly the batches the uninterrupted run would have.
    """

    def __init__(self, roidb, images_per_batch=IMAGES_PER_BATCH, *, rng):
        if len(roidb) == 0:
            raise ValueError("the roidb is empty: no training image has a usable RoI")
        self.roidb = roidb
        self.images_per_batch = images_per_batch
        self.rng = rng
        self.permutation = None        # drawn when the first batch is asked for
        self.cursor = 0
        self.epoch = 0

    def next_batch(self):
        """The next list of min(N, len(roidb)) RoiEntry."""
        size = min(self.images_per_batch, len(self.roidb))
        if self.permutation is None or self.cursor + size > len(self.permutation):
            self.permutation = self.rng.permutation(len(self.roidb))
            self.cursor = 0
            self.epoch += 1
        batch = self.permutation[self.cursor:self.cursor + size]
        self.cursor += size
        return [self.roidb[i] for i in batch]

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state(self):
        """{"permutation": list of int or None, "cursor": int, "epoch": int}."""
        permutation = None if self.permutation is None else [int(i) for i in self.permutation]
        return {"permutation": permutation, "cursor": self.cursor, "epoch": self.epoch}

    def set_state(self, state):
        """Continue from a state() of a sampler over the same roidb."""
        permutation = state["permutation"]
        if permutation is not None and sorted(permutation) != list(range(len(self.roidb))):
            raise ValueError(f"sampler state is for a roidb of {len(permutation)} entries, "
                             f"this one has {len(self.roidb)}")
        self.permutation = None if permutation is None else np.array(permutation, np.int64)
        self.cursor = int(state["cursor"])
        self.epoch = int(state["epoch"])
