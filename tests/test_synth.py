"""minifrcnn.data.synth: the synthetic VOC-layout dataset (layout, XML, tight boxes, seeds)."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from minifrcnn.cli import main
from minifrcnn.data.synth import (
    CLASSES,
    DIFFICULT_AREA,
    MAX_SIDE,
    MIN_SIDE,
    PALETTE,
    render_image,
    write_synthetic_voc,
)


@pytest.fixture(scope="module")
def rendered():
    """60 images of seed 0, as write_synthetic_voc would draw them."""
    return [render_image(np.random.default_rng([0, i])) for i in range(60)]


def _box_region(box, height, width):
    """(H, W) bool: the pixels of an inclusive box, by comparison alone (x1 <= x <= x2)."""
    x1, y1, x2, y2 = box
    cols, rows = np.arange(width), np.arange(height)
    return (((rows >= y1) & (rows <= y2))[:, None]) & (((cols >= x1) & (cols <= x2))[None, :])


def _read_boxes(path):
    """[(name, (x1, y1, x2, y2) as written, difficult, truncated)], (width, height) of one XML."""
    root = ET.parse(path).getroot()
    size = root.find("size")
    objects = []
    for node in root.findall("object"):
        bndbox = node.find("bndbox")
        box = tuple(int(bndbox.find(tag).text) for tag in ("xmin", "ymin", "xmax", "ymax"))
        objects.append((node.find("name").text, box, int(node.find("difficult").text),
                        int(node.find("truncated").text)))
    return objects, (int(size.find("width").text), int(size.find("height").text))


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    write_synthetic_voc(tmp_path / "a", 3, 2, seed=5, progress=False)
    write_synthetic_voc(tmp_path / "b", 3, 2, seed=5, progress=False)
    write_synthetic_voc(tmp_path / "c", 3, 2, seed=6, progress=False)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert len(a) == 5 + 5 + 4
    assert a == b
    assert a.keys() == c.keys()
    for folder in ("JPEGImages", "Annotations"):
        assert all(a[k] != c[k] for k in a if k.parts[0] == folder)


def test_layout_and_splits(tmp_path):
    summary = write_synthetic_voc(tmp_path, 7, 3, seed=1, progress=False)
    main = tmp_path / "ImageSets" / "Main"
    splits = {s: (main / f"{s}.txt").read_text().split()
              for s in ("trainval", "train", "val", "test")}
    assert splits == summary["splits"]
    assert len(splits["trainval"]) == 7 and len(splits["test"]) == 3
    assert sorted(splits["train"] + splits["val"]) == splits["trainval"]
    assert not set(splits["train"]) & set(splits["val"])
    assert (len(splits["train"]), len(splits["val"])) == (4, 3)
    assert not set(splits["trainval"]) & set(splits["test"])
    for image_id in splits["trainval"] + splits["test"]:
        assert (tmp_path / "JPEGImages" / f"{image_id}.jpg").is_file()
        assert (tmp_path / "Annotations" / f"{image_id}.xml").is_file()


def test_xml_is_voc_with_1_based_boxes_inside_the_image(tmp_path):
    write_synthetic_voc(tmp_path, 6, 2, seed=2, progress=False)
    count = 0
    for path in sorted((tmp_path / "Annotations").glob("*.xml")):
        root = ET.parse(path).getroot()
        assert root.tag == "annotation"
        assert root.find("filename").text == f"{path.stem}.jpg"
        assert root.find("size").find("depth").text == "3"
        objects, (width, height) = _read_boxes(path)
        with Image.open(tmp_path / "JPEGImages" / f"{path.stem}.jpg") as image:
            assert image.size == (width, height) and image.mode == "RGB"
        assert MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE
        for node in root.findall("object"):
            assert node.find("pose").text == "Unspecified"
        for name, (x1, y1, x2, y2), difficult, truncated in objects:
            assert name in CLASSES and difficult in (0, 1) and truncated in (0, 1)
            assert 1 <= x1 <= x2 <= width and 1 <= y1 <= y2 <= height
            count += 1
    assert count > 0


def test_xml_boxes_are_the_rendered_boxes_plus_one(tmp_path):
    """The written files hold exactly what render_image drew for image i with
    default_rng([seed, i]), boxes shifted to VOC's 1-based pixels."""
    write_synthetic_voc(tmp_path, 2, 2, seed=9, progress=False)
    for i in range(4):
        image, objects = render_image(np.random.default_rng([9, i]))
        written, (width, height) = _read_boxes(tmp_path / "Annotations" / f"{i + 1:06d}.xml")
        assert (height, width) == image.shape[:2]
        assert [(name, box) for name, box, _, _ in written] == \
            [(o.name, tuple(int(v) + 1 for v in o.box)) for o in objects]
        assert [d for _, _, d, _ in written] == [int(o.difficult) for o in objects]


def test_boxes_are_tight_around_the_drawn_pixels(rendered):
    """Every visible pixel of an object lies in its box, every edge of the box touches one, and the
    image really shows the object's palette colour there (shading and noise aside)."""
    for image, objects in rendered:
        height, width = image.shape[:2]
        for obj in objects:
            x1, y1, x2, y2 = obj.box
            assert not (obj.mask & ~_box_region(obj.box, height, width)).any()
            assert obj.mask[y1, :].any() and obj.mask[y2, :].any()
            assert obj.mask[:, x1].any() and obj.mask[:, x2].any()
            error = np.abs(image[obj.mask].astype(int) - PALETTE[obj.color]).mean(axis=1)
            assert np.median(error) < 30


def test_the_dataset_is_varied(rendered):
    names, colors = {}, {}
    difficult = truncated = overlapping = tiny = large = 0
    for image, objects in rendered:
        height, width = image.shape[:2]
        assert MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE
        regions = [_box_region(o.box, height, width) for o in objects]
        for i, obj in enumerate(objects):
            names[obj.name] = names.get(obj.name, 0) + 1
            colors.setdefault(obj.name, set()).add(obj.color)
            difficult += obj.difficult
            truncated += obj.truncated
            tiny += obj.mask.sum() < DIFFICULT_AREA
            large += obj.mask.sum() > 0.1 * height * width
            overlapping += any((regions[i] & regions[j]).any() for j in range(i))
    total = sum(names.values())
    assert len(names) >= 5 and min(names.values()) >= 10
    # colour says nothing about the class: each class comes in many palette colours
    assert all(len(c) >= 5 for c in colors.values()), colors
    assert 0 < difficult < total / 2
    assert truncated > 0 and tiny > 0 and large > 0
    assert overlapping >= 10


def test_synth_command_prints_a_summary(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "out"), "--train", "3", "--test", "1"]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "out") in printed and "4 images" in printed
    assert all(name in printed for name in CLASSES)
    assert len(list((tmp_path / "out" / "JPEGImages").glob("*.jpg"))) == 4


def test_synth_refuses_an_existing_dataset_unless_forced(tmp_path, capsys):
    """A second synth into the same folder would silently replace the first dataset: refused in
    one line, the files untouched; --force writes it."""
    out = tmp_path / "out"
    assert main(["synth", str(out), "--train", "2", "--test", "1", "--seed", "1"]) == 0
    first = (out / "JPEGImages" / "000001.jpg").read_bytes()
    capsys.readouterr()
    assert main(["synth", str(out), "--train", "2", "--test", "1", "--seed", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"minifrcnn synth: {out} already holds a dataset; choose another "
                            "folder, or add --force to overwrite it\n")
    assert captured.out == ""
    assert (out / "JPEGImages" / "000001.jpg").read_bytes() == first
    assert main(["synth", str(out), "--train", "2", "--test", "1", "--seed", "2", "--force"]) == 0
    assert (out / "JPEGImages" / "000001.jpg").read_bytes() != first


def test_synth_into_a_file_is_one_line(tmp_path, capsys):
    """OUT an existing file, or a path through one: a sentence, not "[Errno 20] Not a directory"."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["synth", str(notes), "--train", "1", "--test", "0"]) == 1
    assert capsys.readouterr().err == f"minifrcnn synth: {notes} is a file, not a folder\n"
    assert main(["synth", str(notes / "sub"), "--train", "1", "--test", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("minifrcnn synth: ") and "Errno" not in err and err.count("\n") == 1
    assert notes.read_text() == "mine"


@pytest.mark.parametrize("n_train, n_test", [(-1, 2), (2, 1.5), (0, 0)])
def test_bad_counts_are_refused(tmp_path, n_train, n_test):
    with pytest.raises(ValueError):
        write_synthetic_voc(tmp_path, n_train, n_test, seed=0, progress=False)
