"""The VOC-layout reader and `inspect`: tiny datasets written in tmp_path, one per rule."""

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from minifrcnn.data import DatasetError, DatasetWarning, inspect_dataset, load_voc, scan_voc
from minifrcnn.cli import main
from minifrcnn.cli.data import format_summary


def obj(name, xmin, ymin, xmax, ymax, difficult=0):
    """One <object> element (VOC coordinates, 1-based)."""
    return (f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
            f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
            "</bndbox></object>")


def annotation(image_id, objects=(), width=40, height=30):
    return (f"<annotation><filename>{image_id}.jpg</filename><size><width>{width}</width>"
            f"<height>{height}</height><depth>3</depth></size>{''.join(objects)}</annotation>")


def write_image(path, width=40, height=30):
    Image.new("RGB", (width, height), (120, 60, 30)).save(path, "JPEG")


def make_voc(root, images, split="trainval", listed=None):
    """Write a VOC-layout folder. images: {id: xml text or None (no XML)}; every id gets a
    40 x 30 JPEG. listed: the ids of the split file (default: all)."""
    for folder in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(root / folder, exist_ok=True)
    for image_id, xml in images.items():
        if xml is not None:
            (root / "Annotations" / f"{image_id}.xml").write_text(xml)
        write_image(root / "JPEGImages" / f"{image_id}.jpg")
    ids = list(images) if listed is None else listed
    (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


@pytest.fixture
def clean(tmp_path):
    """3 images: dog x2 (one difficult) + cat; cat x2 (one difficult); no objects."""
    return make_voc(tmp_path, {
        "000001": annotation("000001", [obj("dog", 1, 1, 10, 20), obj("dog", 5, 6, 40, 30, 1),
                                        obj("cat", 2, 3, 4, 5)]),
        "000002": annotation("000002", [obj("cat", 11, 12, 21, 22), obj("cat", 1, 1, 1, 1, 1)]),
        "000003": annotation("000003"),
    })


def test_clean_dataset_counts_and_zero_based_boxes(clean):
    dataset = load_voc(clean, "trainval")
    assert dataset.classes == ["__background__", "cat", "dog"]
    assert [s.image_id for s in dataset] == ["000001", "000002", "000003"]
    first = dataset[0]
    assert (first.width, first.height) == (40, 30)
    assert first.image_path == os.path.join(str(clean), "JPEGImages", "000001.jpg")
    assert first.boxes.dtype == np.float32 and first.boxes.shape == (3, 4)
    np.testing.assert_array_equal(first.boxes, [[0, 0, 9, 19], [4, 5, 39, 29], [1, 2, 3, 4]])
    np.testing.assert_array_equal(first.labels, [2, 2, 1])
    np.testing.assert_array_equal(first.difficult, [False, True, False])
    assert dataset.problems == []

    summary = inspect_dataset(clean, "trainval")
    assert summary["images"] == summary["valid_images"] == 3
    assert summary["objects"] == {"cat": {"normal": 2, "difficult": 1},
                                  "dog": {"normal": 1, "difficult": 1}}
    assert summary["errors"] == summary["warnings"] == 0
    assert summary["image_width"] == {"min": 40, "max": 40}
    assert summary["box_width"] == {"min": 1, "max": 36}      # inclusive: x2 - x1 + 1
    text = format_summary(summary)
    assert "cat" in text and "0 error(s), 0 warning(s)" in text


def test_image_without_objects_is_valid(tmp_path):
    dataset = load_voc(make_voc(tmp_path, {"a": annotation("a")}), "trainval")
    sample = dataset[0]
    assert sample.boxes.shape == (0, 4) and sample.labels.shape == (0,)
    assert sample.difficult.shape == (0,)
    assert dataset.classes == ["__background__"]


def test_classes_given_order_is_kept(clean):
    dataset = load_voc(clean, "trainval", classes=["dog", "cat", "bird"])
    assert dataset.classes == ["__background__", "dog", "cat", "bird"]
    np.testing.assert_array_equal(dataset[0].labels, [1, 1, 2])
    again = load_voc(clean, "trainval", classes=dataset.classes)     # as a model stores them
    assert again.classes == dataset.classes


def test_class_not_in_given_classes_names_the_file(clean):
    with pytest.raises(DatasetError, match=r"000001\.xml.*dog.*not one of the model's classes"):
        load_voc(clean, "trainval", classes=["cat"])


def test_jpeg_name_falls_back_to_xml_filename(tmp_path):
    root = make_voc(tmp_path, {"a": annotation("a")})
    os.rename(root / "JPEGImages" / "a.jpg", root / "JPEGImages" / "other.png")
    xml = annotation("a").replace("<filename>a.jpg</filename>", "<filename>other.png</filename>")
    (root / "Annotations" / "a.xml").write_text(xml)
    assert load_voc(root, "trainval")[0].image_path.endswith("other.png")


def test_clipped_box_warns_naming_the_file(tmp_path):
    root = make_voc(tmp_path, {"a": annotation("a", [obj("dog", 0, 5, 50, 30)])})
    with pytest.warns(DatasetWarning, match=r"a\.xml.*outside the 40 x 30 image.*clipped"):
        dataset = load_voc(root, "trainval")
    np.testing.assert_array_equal(dataset[0].boxes, [[0, 4, 39, 29]])
    summary = inspect_dataset(root, "trainval")
    assert summary["warnings"] == 1 and summary["errors"] == 0
    assert main(["inspect", str(root)]) == 0


def bad_xml(text):
    """A dataset maker for test_broken: one image whose annotation is `text`."""
    return lambda root: make_voc(root, {"bad": text})


def _rewrite_image(root, data):
    (root / "JPEGImages" / "bad.jpg").write_bytes(data)
    return root


def _truncated(root):
    make_voc(root, {"bad": annotation("bad")})
    path = root / "JPEGImages" / "bad.jpg"
    write_image(path, 400, 300)
    (root / "Annotations" / "bad.xml").write_text(annotation("bad", width=400, height=300))
    data = path.read_bytes()
    return _rewrite_image(root, data[: len(data) // 2])


def _missing_image(root):
    make_voc(root, {"bad": annotation("bad")})
    os.remove(root / "JPEGImages" / "bad.jpg")
    return root


def _no_files(root):
    make_voc(root, {"good": annotation("good")}, listed=["good", "bad"])
    return root


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  '<annotation><filename>&lol3;</filename></annotation>')

# (name, dataset maker, the file the problem must name, what the message must say)
BROKEN = [
    ("malformed XML", bad_xml("<annotation><size>"), "bad.xml", "malformed XML"),
    ("entity expansion", bad_xml(BILLION_LAUGHS), "bad.xml", "DOCTYPE"),
    ("bare entity", bad_xml('<!ENTITY x "y"><annotation/>'), "bad.xml", "ENTITY"),
    ("doctype", bad_xml('<!DOCTYPE annotation SYSTEM "file:///etc/passwd"><annotation/>'),
     "bad.xml", "DOCTYPE"),
    ("missing annotation", lambda root: make_voc(root, {"bad": None}), "bad.xml",
     "missing annotation"),
    ("missing image", _missing_image, "bad.xml", "missing image"),
    ("id without files", _no_files, "trainval.txt", "id bad has no files"),
    ("empty split", lambda root: make_voc(root, {"a": annotation("a")}, listed=[]),
     "trainval.txt", "lists no image ids"),
    ("missing split", lambda root: make_voc(root, {"a": annotation("a")}, split="train"),
     "trainval.txt", "cannot read the split file"),
    ("id with a path", lambda root: make_voc(root, {"a": annotation("a")},
                                             listed=["a", "../a"]),
     "trainval.txt", "is not a bare file name"),
    ("non-numeric coordinate", bad_xml(annotation("bad", [obj("dog", 1, "abc", 5, 5)])),
     "bad.xml", "<ymin> is not a number: 'abc'"),
    ("NaN coordinate", bad_xml(annotation("bad", [obj("dog", 1, 1, "nan", 5)])),
     "bad.xml", "<xmax> is not a number"),
    ("xmax < xmin", bad_xml(annotation("bad", [obj("dog", 10, 1, 5, 5)])), "bad.xml",
     "xmax < xmin"),
    ("ymax < ymin", bad_xml(annotation("bad", [obj("dog", 1, 10, 5, 5)])), "bad.xml",
     "ymax < ymin"),
    ("box entirely outside", bad_xml(annotation("bad", [obj("dog", 45, 1, 60, 5)])), "bad.xml",
     "nothing left after clipping"),
    ("missing bndbox", bad_xml(annotation("bad").replace(
        "</annotation>", "<object><name>dog</name></object></annotation>")), "bad.xml",
     "missing <bndbox>"),
    ("missing coordinate", bad_xml(annotation("bad", [obj("dog", 1, 1, 5, 5).replace(
        "<xmin>1</xmin>", "")])), "bad.xml", "missing <xmin>"),
    ("unreadable image", lambda root: _rewrite_image(make_voc(root, {"bad": annotation("bad")}),
                                                     b"not a jpeg"), "bad.jpg", "unreadable"),
    ("truncated image", _truncated, "bad.jpg", "truncated"),
]


@pytest.mark.parametrize("make, file, says", [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_broken(tmp_path, capsys, make, file, says):
    root = make(tmp_path / "voc")
    _, problems = scan_voc(root, "trainval")
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, problems
    assert os.path.basename(errors[0].file) == file
    assert says in errors[0].message
    assert file in str(errors[0])

    with pytest.raises(DatasetError) as raised:
        load_voc(root, "trainval")
    assert file in str(raised.value) and says in str(raised.value)
    assert isinstance(raised.value, ValueError)

    capsys.readouterr()
    assert main(["inspect", str(root)]) == 1
    out, err = capsys.readouterr()
    # A split that lists no image has nothing to summarise: its error alone, on stderr.
    assert file in out + err and says in out + err and "Traceback" not in out + err


def test_missing_root_is_an_error_not_a_traceback(tmp_path, capsys):
    summary = inspect_dataset(tmp_path / "nowhere", "trainval")
    assert summary["errors"] == 1 and "does not exist" in summary["problems"][0]["message"]


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_inspect_of_a_missing_or_empty_folder_is_one_line(tmp_path, capsys, as_json):
    """Nothing to summarise: the error alone, no table of zeros before it."""
    assert main(["inspect", str(tmp_path / "nowhere"), *as_json]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"minifrcnn inspect: {tmp_path / 'nowhere'}: no such folder\n"
    (tmp_path / "empty").mkdir()
    assert main(["inspect", str(tmp_path / "empty"), *as_json]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("minifrcnn inspect: ") and captured.err.count("\n") == 1
    assert "trainval.txt" in captured.err


def test_every_problem_is_collected(tmp_path):
    root = make_voc(tmp_path, {
        "good": annotation("good", [obj("dog", 1, 1, 5, 5)]),
        "bad1": annotation("bad1", [obj("dog", 9, 1, 5, 5), obj("dog", 1, "x", 5, 5)]),
        "bad2": "<annotation>",
    })
    dataset, problems = scan_voc(root, "trainval")
    assert [s.image_id for s in dataset] == ["good"]
    assert [os.path.basename(p.file) for p in problems] == ["bad1.xml", "bad1.xml", "bad2.xml"]
    summary = inspect_dataset(root, "trainval")
    assert (summary["images"], summary["valid_images"], summary["errors"]) == (3, 1, 3)


def test_inspect_json_output(clean, capsys):
    assert main(["inspect", str(clean), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 3
    assert summary["objects"]["cat"] == {"normal": 2, "difficult": 1}
    assert summary["objects"]["dog"] == {"normal": 1, "difficult": 1}
    assert summary["problems"] == []


@settings(max_examples=20)
@given(st.lists(st.tuples(*[st.integers(-20, 70)] * 4), min_size=1, max_size=4))
def test_boxes_come_back_zero_based_and_inside_the_image(tmp_path_factory, corners):
    """Any box that keeps a pixel inside the 40 x 30 image loads as its corners minus 1,
    clipped to [0, 39] x [0, 29]; any other box is an error naming the file."""
    boxes = [(min(a, c), min(b, d), max(a, c), max(b, d)) for a, b, c, d in corners]
    root = make_voc(tmp_path_factory.mktemp("voc"),
                    {"x": annotation("x", [obj("dog", *box) for box in boxes])})
    dataset, problems = scan_voc(root, "trainval")
    inside = [x2 >= 1 and y2 >= 1 and x1 <= 40 and y1 <= 30 for x1, y1, x2, y2 in boxes]
    if not all(inside):
        assert dataset.samples == []
        assert any(p.severity == "error" and p.file.endswith("x.xml") for p in problems)
        return
    expected = np.clip(np.array(boxes, dtype=np.float32) - 1, 0, [39, 29, 39, 29])
    np.testing.assert_array_equal(dataset[0].boxes, expected)
