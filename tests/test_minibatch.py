"""minifrcnn.data.minibatch: the roidb, target statistics, hierarchical sampling, minibatches."""

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from minifrcnn import boxes
from minifrcnn.data.minibatch import (
    FG_FRACTION,
    IMAGE_CACHE_BYTES,
    ROIS_PER_IMAGE,
    ImageCache,
    MinibatchSampler,
    RoiEntry,
    bbox_targets_and_weights,
    build_roidb,
    entry_view,
    get_minibatch,
    sample_rois,
    target_stats,
)
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.data.transforms import to_picture
from minifrcnn.data.voc import VocSample, load_voc

MEAN = (10.0, 20.0, 30.0)

# One 100 x 80 image (W x H): two objects and a difficult one, and proposals with known IoUs.
GT = np.array([[10, 10, 49, 49],          # class 1, 40 x 40
               [60, 20, 89, 69],          # class 2, 30 x 50
               [0, 60, 9, 69]],           # class 1, difficult
              np.float32)
PROPOSALS = np.array([[10, 10, 49, 49],   # on gt 0: IoU 1
                      [10, 10, 49, 29],   # top half of gt 0: IoU 800 / 1600 = 0.5, foreground
                      [10, 10, 49, 25],   # IoU 640 / 1600 = 0.4: background
                      [0, 60, 9, 69],     # on the difficult object only: IoU 0
                      [60, 30, 89, 69],   # inside gt 1: IoU 1200 / 1500 = 0.8
                      [95, 0, 99, 4]],    # nothing: IoU 0
                     np.float32)


def _sample(image_id="a", image_path="a.png", width=100, height=80, gt=GT, labels=(1, 2, 1),
            difficult=(False, False, True)):
    return VocSample(image_id, str(image_path), width, height, np.asarray(gt, np.float32),
                     np.array(labels, np.int64), np.array(difficult, bool))


def _dataset(*samples):
    return SimpleNamespace(classes=["__background__", "one", "two", "three"], samples=list(samples))


def test_roidb_by_hand():
    roidb = build_roidb(_dataset(_sample()), {"a": PROPOSALS}, flip=False)
    assert len(roidb) == 1 and roidb.dropped == []
    entry = roidb[0]
    assert (entry.image_id, entry.image_path, entry.width, entry.height, entry.flipped) == \
        ("a", "a.png", 100, 80, False)
    # gt boxes first (the difficult one left out), then the proposals
    np.testing.assert_array_equal(entry.rois, np.concatenate([GT[:2], PROPOSALS]))
    assert entry.rois.dtype == np.float32
    np.testing.assert_allclose(entry.max_overlaps, [1, 1, 1, 0.5, 0.4, 0, 0.8, 0])
    np.testing.assert_array_equal(entry.labels, [1, 2, 1, 1, 0, 0, 2, 0])
    fg = entry.max_overlaps >= 0.5
    np.testing.assert_array_equal(entry.gt_assignment[fg], [0, 1, 0, 0, 1])
    # p1: centre y 20 -> 30 in units of its height 20, height 20 -> 40
    # p4: centre y 50 -> 45 in units of its height 40, height 40 -> 50
    expected = np.zeros((8, 4))
    expected[3] = [0, 0.5, 0, np.log(2)]
    expected[6] = [0, -0.125, 0, np.log(50 / 40)]
    np.testing.assert_allclose(entry.targets, expected, atol=1e-6)
    assert entry.targets.dtype == np.float32


def test_flipped_entries_mirror_the_boxes():
    roidb = build_roidb(_dataset(_sample(), _sample("b", "b.png")), {"a": PROPOSALS, "b": PROPOSALS})
    assert [(e.image_id, e.flipped) for e in roidb] == [("a", False), ("b", False), ("a", True),
                                                       ("b", True)]
    original, mirror = roidb[0], roidb[2]
    np.testing.assert_array_equal(mirror.rois, boxes.flip(original.rois, 100))
    np.testing.assert_array_equal(mirror.labels, original.labels)
    np.testing.assert_allclose(mirror.max_overlaps, original.max_overlaps)
    # mirroring negates the horizontal shift and leaves the rest
    np.testing.assert_allclose(mirror.targets, original.targets * [-1, 1, 1, 1], atol=1e-6)


def test_transposed_entries_swap_x_and_y_and_come_before_the_mirrors():
    two = {"a": PROPOSALS, "b": PROPOSALS}
    roidb = build_roidb(_dataset(_sample(), _sample("b", "b.png")), two, transpose=True)
    assert [(e.image_id, e.transposed, e.flipped) for e in roidb] == [
        ("a", False, False), ("b", False, False), ("a", True, False), ("b", True, False),
        ("a", False, True), ("b", False, True), ("a", True, True), ("b", True, True)]
    original, transposed, mirror_of_transposed = roidb[0], roidb[2], roidb[6]
    # The transposed image is 80 wide and 100 high; its mirror is taken in that width.
    assert (transposed.width, transposed.height) == (80, 100)
    assert (mirror_of_transposed.width, mirror_of_transposed.height) == (80, 100)
    np.testing.assert_array_equal(transposed.rois, boxes.transpose(original.rois))
    np.testing.assert_array_equal(mirror_of_transposed.rois,
                                  boxes.flip(boxes.transpose(original.rois), 80))
    for entry in (transposed, mirror_of_transposed):
        np.testing.assert_array_equal(entry.labels, original.labels)
        np.testing.assert_allclose(entry.max_overlaps, original.max_overlaps)
    # x and y trade places in the targets too: (tx, ty, tw, th) -> (ty, tx, th, tw)
    np.testing.assert_allclose(transposed.targets, original.targets[:, [1, 0, 3, 2]], atol=1e-6)
    np.testing.assert_allclose(mirror_of_transposed.targets,
                               original.targets[:, [1, 0, 3, 2]] * [-1, 1, 1, 1], atol=1e-6)


def test_bg_lo_decides_which_rois_are_background():
    # PROPOSALS 3 and 5 overlap no object (IoU 0): background only with bg_lo 0.
    entry = build_roidb(_dataset(_sample()), {"a": PROPOSALS}, flip=False)[0]
    for bg_lo, expected in ((0.1, {4}), (0.0, {4, 5, 7})):
        keep, labels = sample_rois(entry, ROIS_PER_IMAGE, FG_FRACTION, np.random.default_rng(0),
                                   bg_lo=bg_lo)
        assert set(keep[labels == 0].tolist()) == expected
    # An image with nothing but far proposals is usable with bg_lo 0: all its RoIs are negatives.
    no_objects = _sample("e", gt=np.zeros((0, 4)), labels=(), difficult=())
    far = {"e": np.array([[95, 0, 99, 4]], np.float32)}
    assert build_roidb(_dataset(no_objects), far).dropped == ["e"]
    roidb = build_roidb(_dataset(no_objects), far, bg_lo=0.0)
    assert roidb.dropped == [] and len(roidb) == 2


def test_difficult_objects_are_not_training_targets():
    # the same image with the third object not difficult: the proposal on it becomes foreground
    easy = build_roidb(_dataset(_sample(difficult=(False, False, False))), {"a": PROPOSALS},
                       flip=False)[0]
    hard = build_roidb(_dataset(_sample()), {"a": PROPOSALS}, flip=False)[0]
    assert len(easy.rois) == 9 and len(hard.rois) == 8
    assert easy.labels[2 + 3 + 1] == 1 and hard.labels[2 + 3] == 0


def test_images_without_usable_rois_are_dropped():
    only_difficult = _sample("d", gt=GT[2:], labels=(1,), difficult=(True,))
    no_objects = _sample("e", gt=np.zeros((0, 4)), labels=(), difficult=())
    far = np.array([[95, 0, 99, 4]], np.float32)
    roidb = build_roidb(_dataset(_sample(), only_difficult, no_objects),
                        {"a": PROPOSALS, "d": far, "e": far})
    assert [(e.image_id, e.flipped) for e in roidb] == [("a", False), ("a", True)]
    assert roidb.dropped == ["d", "e"]


def test_missing_proposals_name_the_image():
    with pytest.raises(ValueError, match="no proposals for image a"):
        build_roidb(_dataset(_sample()), {}, flip=False)


def _entry(labels, targets, max_overlaps=None):
    labels = np.asarray(labels, np.int64)
    if max_overlaps is None:
        max_overlaps = np.where(labels > 0, 0.7, 0.2)
    rois = np.tile(np.array([[0, 0, 9, 9]], np.float32), (len(labels), 1))
    return RoiEntry("x", "x.png", 10, 10, rois, np.asarray(max_overlaps, float),
                    np.zeros(len(labels), np.int64), labels, np.asarray(targets, np.float32))


def test_target_stats_equal_numpy_by_hand():
    rng = np.random.default_rng(0)
    entries = [_entry(rng.integers(0, 3, 20), rng.normal(size=(20, 4))) for _ in range(3)]
    means, stds = target_stats(entries, 4)
    assert means.shape == stds.shape == (4, 4) and means.dtype == np.float64
    labels = np.concatenate([e.labels for e in entries])
    targets = np.concatenate([e.targets for e in entries]).astype(np.float64)
    for c in (1, 2):
        np.testing.assert_allclose(means[c], targets[labels == c].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(stds[c], targets[labels == c].std(axis=0), rtol=1e-12)
    # background, and class 3 which has no foreground RoI: mean 0, std 1
    np.testing.assert_array_equal(means[[0, 3]], 0)
    np.testing.assert_array_equal(stds[[0, 3]], 1)


def test_target_stats_of_the_hand_roidb_guard_zero_std():
    roidb = build_roidb(_dataset(_sample()), {"a": PROPOSALS})
    means, stds = target_stats(roidb, 4)
    # class 1, each of the two copies: gt 0, p0 (targets 0) and p1 (0, 0.5, 0, log 2)
    np.testing.assert_allclose(means[1], [0, 0.5 / 3, 0, np.log(2) / 3], atol=1e-7)
    np.testing.assert_allclose(stds[1, 1], np.std([0, 0, 0.5] * 2), rtol=1e-6)
    # every class-1 RoI has tx = 0 and tw = 0: std 0 replaced by 1
    assert stds[1, 0] == 1 and stds[1, 2] == 1
    # class 2, each copy: gt 1 (targets 0) and p4 (ty = (45 - 50) / 40, th = log(50 / 40))
    np.testing.assert_allclose(means[2], [0, -0.0625, 0, np.log(1.25) / 2], atol=1e-7)


def test_bbox_targets_land_in_the_class_columns():
    rng = np.random.default_rng(1)
    labels = np.array([2, 0, 1])
    targets = rng.normal(size=(3, 4))
    means, stds = rng.normal(size=(3, 4)), rng.uniform(0.5, 2, (3, 4))
    bbox_targets, bbox_weights = bbox_targets_and_weights(labels, targets, 3, means, stds)
    assert bbox_targets.shape == bbox_weights.shape == (3, 12)
    assert bbox_targets.dtype == bbox_weights.dtype == np.float32
    np.testing.assert_allclose(bbox_targets[0, 8:12], (targets[0] - means[2]) / stds[2], rtol=1e-6)
    np.testing.assert_allclose(bbox_targets[2, 4:8], (targets[2] - means[1]) / stds[1], rtol=1e-6)
    expected_weights = np.zeros((3, 12))
    expected_weights[0, 8:12] = 1
    expected_weights[2, 4:8] = 1
    np.testing.assert_array_equal(bbox_weights, expected_weights)
    np.testing.assert_array_equal(bbox_targets[expected_weights == 0], 0)   # background row too


def _overlaps_entry(num_fg, num_bg, num_ignored):
    max_overlaps = np.concatenate([np.full(num_fg, 0.7), np.full(num_bg, 0.3),
                                   np.full(num_ignored, 0.05)])
    order = np.random.default_rng(2).permutation(len(max_overlaps))    # mix them up
    labels = np.where(max_overlaps >= 0.5, 3, 0)[order]
    return _entry(labels, np.zeros((len(order), 4)), max_overlaps[order])


@pytest.mark.parametrize("num_fg, num_bg, expect_fg, expect_bg", [
    (100, 200, 16, 48),       # the 25 % rule
    (5, 200, 5, 59),          # too few foreground: background fills up
    (5, 10, 5, 10),           # too few of both: a smaller batch
    (0, 30, 0, 30),
])
def test_sample_rois_counts(num_fg, num_bg, expect_fg, expect_bg):
    entry = _overlaps_entry(num_fg, num_bg, 50)
    keep, labels = sample_rois(entry, ROIS_PER_IMAGE, FG_FRACTION, np.random.default_rng(3))
    assert keep.dtype == np.int64 and labels.dtype == np.int64
    assert len(keep) == len(labels) == expect_fg + expect_bg
    assert len(np.unique(keep)) == len(keep)                          # without replacement
    overlaps = entry.max_overlaps[keep]
    assert np.all(overlaps[:expect_fg] >= 0.5)                        # foreground first
    assert np.all((overlaps[expect_fg:] >= 0.1) & (overlaps[expect_fg:] < 0.5))
    np.testing.assert_array_equal(labels[:expect_fg], 3)
    np.testing.assert_array_equal(labels[expect_fg:], 0)


def _write_image(path, height, width, seed):
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)            # PNG: lossless, so pixels compare exactly
    return image


@pytest.fixture
def two_images(tmp_path):
    """Two images on disk (100 x 80 and 50 x 60, W x H) with their roidb, mirrors included."""
    pixels = {"a": _write_image(tmp_path / "a.png", 80, 100, 0),
              "b": _write_image(tmp_path / "b.png", 60, 50, 1)}
    small_gt = np.array([[5, 5, 30, 40]], np.float32)
    small_proposals = np.array([[5, 5, 30, 30], [5, 20, 30, 50], [0, 0, 49, 59]], np.float32)
    dataset = _dataset(_sample("a", tmp_path / "a.png"),
                       _sample("b", tmp_path / "b.png", 50, 60, small_gt, (2,), (False,)))
    roidb = build_roidb(dataset, {"a": PROPOSALS, "b": small_proposals})
    return roidb, pixels


def _batch(entries, seed, scales=(120,), **kwargs):
    means, stds = np.zeros((4, 4)), np.ones((4, 4))
    return get_minibatch(entries, 4, means, stds, np.random.default_rng(seed), scales=scales,
                         max_size=1000, pixel_mean=MEAN, **kwargs)


def test_get_minibatch_shapes_padding_and_rois(two_images):
    roidb, _ = two_images
    batch = _batch(roidb[:2], 0)
    # a: 80 x 100 by 1.5 -> 120 x 150; b: 60 x 50 by 2.4 -> 144 x 120; padded to 144 x 150
    np.testing.assert_allclose(batch.scale_factors, [1.5, 2.4])
    assert batch.images.shape == (2, 3, 144, 150) and batch.images.dtype == np.float32
    np.testing.assert_array_equal(batch.images[0, :, 120:], 0)
    np.testing.assert_array_equal(batch.images[1, :, :, 120:], 0)
    assert np.any(batch.images[0, :, :120] != 0) and np.any(batch.images[1, :, :, :120] != 0)
    r = len(batch.rois)
    assert batch.rois.shape == (r, 5) and batch.rois.dtype == np.float32
    assert batch.labels.shape == (r,) and batch.labels.dtype == np.int64
    assert batch.bbox_targets.shape == batch.bbox_weights.shape == (r, 16)
    # image a has 5 foreground RoIs (round(0.25 * 64) = 16 asked) and 1 background: all 6 taken
    assert np.sum(batch.rois[:, 0] == 0) == 6
    for index, entry, size in ((0, roidb[0], (120, 150)), (1, roidb[1], (144, 120))):
        rois = batch.rois[batch.rois[:, 0] == index, 1:]
        scaled = boxes.scale(entry.rois, batch.scale_factors[index])
        for roi in rois:                                # every RoI is one of the image's, scaled
            assert np.any(np.all(np.isclose(scaled, roi), axis=1))
        assert np.all(rois >= 0)
        assert np.all(rois[:, [2, 3]] <= [size[1] - 1, size[0] - 1])
    np.testing.assert_array_equal(batch.bbox_weights.sum(axis=1), 4 * (batch.labels > 0))


def test_flipped_image_is_the_mirrored_array(two_images):
    roidb, pixels = two_images
    mirror = roidb[2]
    assert mirror.flipped and mirror.image_id == "a"
    batch = _batch([mirror], 0, scales=(80,))                  # factor 1: no resampling
    assert batch.scale_factors[0] == 1
    np.testing.assert_array_equal(to_picture(batch.images[0], MEAN), pixels["a"][:, ::-1])
    # and its RoIs are the mirrored ones
    for roi in batch.rois[:, 1:]:
        assert np.any(np.all(mirror.rois == roi, axis=1))


def test_every_view_shows_the_pixels_its_rois_were_computed_for(tmp_path):
    pixels = _write_image(tmp_path / "a.png", 80, 100, 0)
    roidb = build_roidb(_dataset(_sample("a", tmp_path / "a.png")), {"a": PROPOSALS},
                        transpose=True)
    x1, y1, x2, y2 = GT[0].astype(int)
    crop = pixels[y1:y2 + 1, x1:x2 + 1]
    expected = {(False, False): crop, (True, False): np.swapaxes(crop, 0, 1),
                (False, True): crop[:, ::-1], (True, True): np.rot90(crop, -1)}
    for entry in roidb:
        view = entry_view(entry)
        assert view.shape == (entry.height, entry.width, 3)
        x1, y1, x2, y2 = entry.rois[0].astype(int)                     # the first gt box
        np.testing.assert_array_equal(view[y1:y2 + 1, x1:x2 + 1],
                                      expected[entry.transposed, entry.flipped])
    # The minibatch shows that view (factor 1: no resampling), the shape of the transposed image.
    assert roidb[1].transposed and not roidb[1].flipped
    batch = _batch([roidb[1]], 0, scales=(80,))
    assert batch.scale_factors[0] == 1 and batch.images.shape == (1, 3, 100, 80)
    np.testing.assert_array_equal(to_picture(batch.images[0], MEAN), np.swapaxes(pixels, 0, 1))


def test_shuffled_colours_are_a_channel_order_or_its_negative(two_images):
    roidb, pixels = two_images
    variants = set()
    for seed in range(60):
        batch = _batch(roidb[:1], seed, scales=(80,), shuffle_colours=True)     # factor 1
        picture = to_picture(batch.images[0], MEAN)
        found = [(order, negated) for order in itertools.permutations(range(3))
                 for negated in (False, True)
                 if np.array_equal(picture, 255 - pixels["a"][:, :, order] if negated
                                   else pixels["a"][:, :, order])]
        assert len(found) == 1, seed
        variants.add(found[0])
    assert len(variants) == 12           # every order, plain and negated
    # the RoIs are drawn before the colours: the same as without shuffling
    np.testing.assert_array_equal(_batch(roidb[:1], 5, shuffle_colours=True).rois,
                                  _batch(roidb[:1], 5).rois)


@pytest.mark.parametrize("shuffle_colours", [False, True])
def test_same_rng_state_gives_the_same_minibatch(two_images, shuffle_colours):
    roidb, _ = two_images
    first = _batch(roidb[1:3], 7, scales=(60, 90, 120), shuffle_colours=shuffle_colours)
    second = _batch(roidb[1:3], 7, scales=(60, 90, 120), shuffle_colours=shuffle_colours)
    for name in ("images", "rois", "labels", "bbox_targets", "bbox_weights", "scale_factors"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    # multi-scale: the drawn scale changes from one batch to the next
    factors = {_batch(roidb[:1], seed, scales=(60, 90, 120)).scale_factors[0] for seed in range(12)}
    assert factors == {0.75, 1.125, 1.5}


@pytest.mark.parametrize("make_cache", [dict, ImageCache])
def test_image_cache_and_read_errors(two_images, tmp_path, make_cache):
    roidb, _ = two_images
    cache = make_cache()
    first = _batch(roidb[:2], 0, images=cache)
    assert len(cache) == 2
    assert str(tmp_path / "a.png") in cache and str(tmp_path / "b.png") in cache
    (tmp_path / "a.png").unlink()                 # the cache is read, not the file
    second = _batch(roidb[:2], 0, images=cache)
    np.testing.assert_array_equal(first.images, second.images)
    with pytest.raises(ValueError, match="a.png"):
        _batch(roidb[:1], 0)


def test_image_cache_drops_the_least_recently_used_beyond_its_bound():
    image = np.zeros((10, 10, 3), np.uint8)              # 300 bytes
    cache = ImageCache(max_bytes=1000)
    for name in "abc":
        cache[name] = image
    assert cache.nbytes == 900
    cache["a"]                                          # a is now the most recently used
    cache["d"] = image                                  # 1200 bytes: b, the oldest, goes
    assert [name in cache for name in "abcd"] == [True, False, True, True]
    assert cache.nbytes == 900 and len(cache) == 3
    cache["c"] = np.zeros((20, 20, 3), np.uint8)        # 1200 bytes alone: not kept at all
    assert "c" not in cache and cache.nbytes == 600


def test_the_default_image_cache_holds_the_demo_but_not_voc07():
    from minifrcnn.data.synth import MAX_SIDE

    demo_images, largest_demo_image = 400, MAX_SIDE * MAX_SIDE * 3
    assert demo_images * largest_demo_image < IMAGE_CACHE_BYTES
    voc07_trainval, typical_voc_image = 5011, 500 * 375 * 3
    assert voc07_trainval * typical_voc_image > 4 * IMAGE_CACHE_BYTES


def test_sampler_epochs_and_state_round_trip():
    roidb = list(range(5))
    rng = np.random.default_rng(0)
    sampler = MinibatchSampler(roidb, 2, rng=rng)
    epoch = [sampler.next_batch(), sampler.next_batch()]
    assert all(len(b) == 2 for b in epoch) and len(set(epoch[0] + epoch[1])) == 4
    sampler.next_batch()                              # the first batch of epoch 2
    state = json.loads(json.dumps(sampler.state()))
    rng_state = rng.bit_generator.state
    expected = [sampler.next_batch() for _ in range(7)]

    rng2 = np.random.default_rng(123)
    rng2.bit_generator.state = rng_state
    resumed = MinibatchSampler(roidb, 2, rng=rng2)
    resumed.set_state(state)
    assert [resumed.next_batch() for _ in range(7)] == expected
    with pytest.raises(ValueError, match="roidb of 5 entries"):
        MinibatchSampler(list(range(4)), 2, rng=rng2).set_state(state)


def test_sampler_smaller_roidb_than_batch():
    sampler = MinibatchSampler(["only"], 2, rng=np.random.default_rng(0))
    assert [sampler.next_batch() for _ in range(3)] == [["only"]] * 3


def test_end_to_end_on_synthetic_voc(tmp_path):
    write_synthetic_voc(tmp_path, 4, 0, seed=0, progress=False)
    dataset = load_voc(tmp_path, "trainval")
    rng = np.random.default_rng(0)
    proposals = {}
    for sample in dataset.samples:
        jittered = sample.boxes + rng.normal(0, 3, sample.boxes.shape)
        corners = rng.uniform(0, [sample.width, sample.height], (100, 2))
        sizes = rng.uniform(10, 80, (100, 2))
        random = np.concatenate([corners, corners + sizes], axis=1)
        proposals[sample.image_id] = boxes.clip(np.concatenate([jittered, random]),
                                                sample.height, sample.width).astype(np.float32)
    roidb = build_roidb(dataset, proposals)
    assert len(roidb) == 2 * (len(dataset) - len(roidb.dropped))
    for entry in roidb:          # the raw targets move each foreground RoI onto its gt box,
        fg = entry.labels > 0    # and the gt boxes come first, so rois[gt_assignment] is that box
        np.testing.assert_allclose(boxes.decode(entry.rois[fg], entry.targets[fg]),
                                   entry.rois[entry.gt_assignment[fg]], atol=1e-3)
    num_classes = len(dataset.classes)
    means, stds = target_stats(roidb, num_classes)
    # each mirror image negates tx, so with the flips included every class's mean tx is 0
    np.testing.assert_allclose(means[:, 0], 0, atol=1e-6)
    sampler = MinibatchSampler(roidb, rng=rng)
    batch = get_minibatch(sampler.next_batch(), num_classes, means, stds, rng, scales=(100,),
                          max_size=200, pixel_mean=MEAN)
    assert batch.images.shape[:2] == (2, 3) and max(batch.images.shape[2:]) <= 200
    assert 0 < len(batch.rois) <= 2 * ROIS_PER_IMAGE
    assert set(np.unique(batch.rois[:, 0])) <= {0.0, 1.0}
    assert np.all((batch.labels >= 0) & (batch.labels < num_classes))
    fg = batch.labels > 0
    assert np.sum(fg) <= 2 * 16
    # a target only where its weight is: the four columns of a foreground RoI's class
    np.testing.assert_array_equal(batch.bbox_targets[batch.bbox_weights == 0], 0)
    # background rows carry no target
    np.testing.assert_array_equal(batch.bbox_targets[~fg], 0)
    np.testing.assert_array_equal(batch.bbox_weights.sum(axis=1), 4 * fg)
