"""benchmarks/unseen_shapes.py: the independent shapes dataset of issue 5 reads as valid VOC."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from minifrcnn.data.voc import load_voc

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "unseen_shapes.py"


@pytest.fixture(scope="module")
def unseen():
    """The generator, imported from its file: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("unseen_shapes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(root):
    """{relative path: bytes} of every file under root."""
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(Path(root).rglob("*")) if path.is_file()}


def test_loads_as_voc_with_boxes_inside_their_images(unseen, tmp_path):
    summary = unseen.write_dataset(tmp_path, n_trainval=4, n_test=2, seed=3)
    assert summary["images"] == {"trainval": 4, "test": 2}
    assert list(summary["objects"]) == ["arrow", "ellipse", "heart", "hexagon", "lshape"]

    counted = {name: [0, 0] for name in unseen.CLASSES}
    for split, count in (("trainval", 4), ("test", 2)):
        dataset = load_voc(tmp_path, split, classes=unseen.CLASSES)   # raises on any error
        assert len(dataset) == count and not dataset.problems           # not even a clip
        for sample in dataset:
            assert 160 <= sample.width <= 320 and 160 <= sample.height <= 320
            assert 1 <= len(sample.boxes) <= 5
            x1, y1, x2, y2 = sample.boxes.T
            assert np.all((0 <= x1) & (x1 <= x2) & (x2 <= sample.width - 1))
            assert np.all((0 <= y1) & (y1 <= y2) & (y2 <= sample.height - 1))
            for label, hard in zip(sample.labels, sample.difficult):
                counted[dataset.classes[label]][int(hard)] += 1
    # the printed summary is what the files say
    assert counted == summary["objects"]


def test_boxes_are_tight_around_the_visible_pixels(unseen):
    for index in range(8):
        image, objects = unseen.render(np.random.default_rng([5, index]))
        height, width = image.shape[:2]
        claimed = np.zeros((height, width), dtype=int)
        for obj in objects:
            x1, y1, x2, y2 = obj["box"]
            mask = obj["mask"]
            assert mask.shape == (height, width)
            claimed += mask
            # nothing outside the box, and something on each of its four edges
            assert mask[y1:y2 + 1, x1:x2 + 1].sum() == mask.sum()
            assert mask[y1:y2 + 1, x1].any() and mask[y1:y2 + 1, x2].any()
            assert mask[y1, x1:x2 + 1].any() and mask[y2, x1:x2 + 1].any()
            if min(x2 - x1 + 1, y2 - y1 + 1) < unseen.DIFFICULT_SIDE:
                assert obj["difficult"]
        assert claimed.max() <= 1            # a pixel shows one object: hidden parts are unboxed


def test_same_seed_same_bytes_other_seed_differs(unseen, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        unseen.write_dataset(tmp_path / name, n_trainval=4, n_test=2, seed=seed)
    first, again, other = (_files(tmp_path / name) for name in "abc")
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[path] != other[path] for path in first if path.startswith("JPEGImages"))


def test_cli_prints_a_summary(unseen, tmp_path, capsys):
    unseen.main([str(tmp_path), "--trainval", "2", "--test", "1", "--seed", "4"])
    out = capsys.readouterr().out
    assert "wrote 2 trainval + 1 test images" in out
    assert all(name in out for name in unseen.CLASSES)
    assert (tmp_path / "ImageSets" / "Main" / "test.txt").read_text() == "000003\n"
