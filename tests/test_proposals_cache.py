"""minifrcnn.proposals.cache: cached selective search over a split, recall, the command."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from minifrcnn.cli import main
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.data.voc import VocDataset, VocSample
from minifrcnn.proposals import cache
from minifrcnn.proposals.cache import (
    ProposalCacheWarning,
    compute_proposals,
    default_cache_dir,
    proposal_recall,
)
from minifrcnn.viz import recall_figure, save_figure

SPLIT = "trainval"


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """A 3-image synthetic dataset whose proposals were computed once into the default cache:
    (root, proposals). Tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("cached") / "d"
    write_synthetic_voc(root, 3, 1, seed=0, progress=False)
    return root, compute_proposals(root, SPLIT, progress=False)


@pytest.fixture
def dataset_copy(computed, tmp_path):
    """A private copy of the computed dataset, cache included: (root, proposals)."""
    root, proposals = computed
    copy = tmp_path / "d"
    shutil.copytree(root, copy)
    return copy, proposals


@pytest.fixture
def count_calls(monkeypatch):
    """Counts the selective_search calls of the cache module: one entry (the image shape) a call."""
    calls = []
    real = cache.selective_search

    def counting(image, **kwargs):
        calls.append(image.shape)
        return real(image, **kwargs)

    monkeypatch.setattr(cache, "selective_search", counting)
    return calls


def forbid_search(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("selective_search called although the cache is current")

    monkeypatch.setattr(cache, "selective_search", fail)


def cache_files(root):
    return sorted(os.listdir(default_cache_dir(root)))


def test_first_run_writes_cache_and_second_loads_it(computed, monkeypatch):
    root, proposals = computed
    assert list(proposals) == ["000001", "000002", "000003"]
    assert cache_files(root) == ["000001.npz", "000002.npz", "000003.npz"]
    for boxes in proposals.values():
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
        assert 0 < len(boxes) <= 2000
    forbid_search(monkeypatch)
    again = compute_proposals(root, SPLIT, progress=False)
    assert list(again) == list(proposals)
    for image_id in proposals:
        np.testing.assert_array_equal(again[image_id], proposals[image_id])


def test_cache_matches_a_direct_search(computed):
    root, proposals = computed
    image = np.asarray(Image.open(root / "JPEGImages" / "000002.jpg").convert("RGB"))
    np.testing.assert_array_equal(proposals["000002"], cache.selective_search(image))


def test_changed_image_invalidates_only_its_cache(dataset_copy, count_calls):
    root, proposals = dataset_copy
    path = root / "JPEGImages" / "000002.jpg"
    pixels = np.asarray(Image.open(path).convert("RGB"))
    Image.fromarray(np.ascontiguousarray(pixels[::-1, ::-1])).save(path, quality=95)
    again = compute_proposals(root, SPLIT, progress=False)
    assert len(count_calls) == 1
    np.testing.assert_array_equal(again["000001"], proposals["000001"])
    np.testing.assert_array_equal(again["000003"], proposals["000003"])
    # The replaced file now matches the new image: a third run computes nothing.
    compute_proposals(root, SPLIT, progress=False)
    assert len(count_calls) == 1


def test_changed_parameter_invalidates(dataset_copy, count_calls):
    root, proposals = dataset_copy
    smaller = compute_proposals(root, SPLIT, progress=False, max_boxes=50)
    assert len(count_calls) == 3
    for image_id, boxes in smaller.items():
        np.testing.assert_array_equal(boxes, proposals[image_id][:50])
    compute_proposals(root, SPLIT, progress=False, max_boxes=50)
    assert len(count_calls) == 3
    compute_proposals(root, SPLIT, progress=False, max_boxes=50, seed=1)
    assert len(count_calls) == 6


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing key"])
def test_corrupt_cache_file_is_recomputed(dataset_copy, count_calls, damage):
    root, proposals = dataset_copy
    path = os.path.join(default_cache_dir(root), "000003.npz")
    if damage == "garbage":
        contents = b"not an npz file at all"
    elif damage == "truncated":
        with open(path, "rb") as handle:
            contents = handle.read()[:100]
    elif damage == "empty":
        contents = b""
    if damage == "missing key":
        np.savez(path, boxes=proposals["000003"])
    else:
        with open(path, "wb") as handle:
            handle.write(contents)
    with pytest.warns(ProposalCacheWarning, match="000003.npz"):
        again = compute_proposals(root, SPLIT, progress=False)
    assert len(count_calls) == 1
    np.testing.assert_array_equal(again["000003"], proposals["000003"])
    compute_proposals(root, SPLIT, progress=False)
    assert len(count_calls) == 1


def test_explicit_cache_dir_and_no_stray_temporary_files(dataset_copy, tmp_path, count_calls):
    root, proposals = dataset_copy
    folder = tmp_path / "elsewhere"
    again = compute_proposals(root, SPLIT, cache_dir=folder, progress=False)
    assert len(count_calls) == 3
    assert sorted(os.listdir(folder)) == ["000001.npz", "000002.npz", "000003.npz"]
    for image_id in proposals:
        np.testing.assert_array_equal(again[image_id], proposals[image_id])


def sample(image_id, boxes, difficult):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return VocSample(image_id=image_id, image_path=f"{image_id}.jpg", width=100, height=100,
                     boxes=boxes, labels=np.ones(len(boxes), np.int64),
                     difficult=np.asarray(difficult, bool))


def dataset_of(*samples):
    return VocDataset(root=".", split="test", classes=["__background__", "x"],
                      samples=list(samples))


GT = [[0, 0, 9, 9], [20, 20, 39, 39]]
HARD = [50, 50, 59, 59]


def test_recall_of_the_ground_truth_itself_is_one():
    data = dataset_of(sample("a", GT + [HARD], [False, False, True]), sample("b", [GT[0]], [0]))
    result = proposal_recall({"a": np.float32(GT), "b": np.float32([GT[0]])}, data)
    assert result["objects"] == 3 and result["images"] == 2
    assert result["recall"].shape == (2, 8)
    np.testing.assert_array_equal(result["recall"], 1.0)
    assert result["mean_boxes"] == 1.5


def test_recall_without_proposals_is_zero():
    data = dataset_of(sample("a", GT, [False, False]))
    result = proposal_recall({"a": np.zeros((0, 4), np.float32)}, data)
    np.testing.assert_array_equal(result["recall"], 0.0)
    assert result["mean_boxes"] == 0.0


def test_recall_by_hand():
    # Ranked proposals: the difficult object exactly (must not count), the second object
    # exactly, the first object stretched down to 15 rows (IoU 100 / 150 = 0.67: found at 0.5,
    # not at 0.7), the first object exactly. Image "b" has one object and no proposal.
    ranked = np.float32([HARD, GT[1], [0, 0, 9, 14], GT[0]])
    data = dataset_of(sample("a", GT + [HARD], [False, False, True]), sample("b", [GT[0]], [0]),
                      sample("c", [HARD], [True]))
    proposals = {"a": ranked, "b": np.zeros((0, 4), np.float32), "c": np.float32([HARD])}
    result = proposal_recall(proposals, data, thresholds=(0.5, 0.7), counts=(1, 2, 3, 4, 100))
    assert result["objects"] == 3
    np.testing.assert_allclose(result["recall"], [[0, 1 / 3, 2 / 3, 2 / 3, 2 / 3],
                                                  [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3]])
    assert result["mean_boxes"] == pytest.approx(5 / 3)


def test_recall_needs_every_image():
    with pytest.raises(ValueError, match="no proposals for image a"):
        proposal_recall({}, dataset_of(sample("a", GT, [0, 0])))


def test_recall_figure_writes_a_png(tmp_path):
    result = proposal_recall({"a": np.float32(GT)}, dataset_of(sample("a", GT, [0, 0])))
    path = tmp_path / "recall.png"
    save_figure(recall_figure(result), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_proposals_command_prints_summary_and_table(dataset_copy, tmp_path, capsys,
                                                    monkeypatch):
    root, _ = dataset_copy
    forbid_search(monkeypatch)
    plot = tmp_path / "recall.png"
    assert main(["proposals", str(root), "--split", SPLIT, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "3 images" in out and "loaded 3 from cache" in out
    assert "boxes per image: mean" in out
    assert "IoU>=0.5" in out and "IoU>=0.7" in out
    for count in (10, 20, 50, 100, 200, 500, 1000, 2000):
        assert any(line.split()[:1] == [str(count)] for line in out.splitlines())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_proposals_command_reports_computed_images(dataset_copy, tmp_path, capsys):
    root, _ = dataset_copy
    assert main(["proposals", str(root), "--split", SPLIT, "--cache", str(tmp_path / "fresh"),
                 "--no-recall"]) == 0
    out = capsys.readouterr().out
    assert "computed 3" in out and "time per computed image" in out
    assert "IoU>=" not in out


def test_proposals_command_bad_dataset_is_a_message(tmp_path, capsys):
    assert main(["proposals", str(tmp_path / "nowhere"), "--split", SPLIT]) == 1
    captured = capsys.readouterr()
    # One line, and the same prefix as every other command's errors.
    assert captured.err.startswith("minifrcnn proposals: ") and "does not exist" in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err + captured.out
