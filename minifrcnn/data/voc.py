"""Read and validate a PASCAL-VOC-layout folder.

The layout (real PASCAL VOC, or what `minifrcnn synth` writes)::

    ROOT/Annotations/<id>.xml          one XML file per image: size, objects, boxes
    ROOT/JPEGImages/<id>.jpg           the image (else the file named by the XML's <filename>)
    ROOT/ImageSets/Main/<split>.txt    the ids of a split, one a line

Conventions of what comes out (DESIGN.md, fast-rcnn-spec.md "Boxes"):

- boxes are (G, 4) float32 `(x1, y1, x2, y2)`, 0-based with inclusive corners. VOC XML counts
  pixels from 1, so every coordinate is read minus 1;
- labels are (G,) int64: 0 is `__background__`, then the class names sorted (or in the order
  given), so a dataset's `classes[labels[g]]` is the name of object g;
- difficult is (G,) bool; difficult objects are kept here and left out later (training,
  evaluation), so `inspect` can count them.

Everything that can be wrong with a file is reported as a `Problem` naming the file: `scan_voc`
collects all of them (that is what `minifrcnn inspect` prints), `load_voc` raises a
`DatasetError` listing every error and turns the warnings (a box clipped to its image) into
Python warnings. An image without objects is valid.
"""

import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .. import boxes as box_ops
from ..model import BACKGROUND

ERROR = "error"
WARNING = "warning"

# A VOC annotation never declares a document type or entities. The stdlib XML parser expands
# internal entities, so a file of nested entities ("billion laughs") would eat all memory:
# refuse any declaration before the parser sees the text.
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class DatasetError(ValueError):
    """A dataset that cannot be used. `problems` holds every Problem found (errors and
    warnings); the message lists the errors, each with its file."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class DatasetWarning(UserWarning):
    """Something fixed while reading (e.g. a box clipped to its image); the message names the
    file."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: `severity` is "error" (the image is left out) or
    "warning" (fixed, e.g. clipped), `file` the path of the file at fault."""

    severity: str
    file: str
    message: str

    def __str__(self):
        return f"{self.file}: {self.severity}: {self.message}"

    def as_dict(self):
        return {"severity": self.severity, "file": self.file, "message": self.message}


@dataclass
class VocSample:
    """One annotated image.

    boxes: (G, 4) float32, (x1, y1, x2, y2) 0-based inclusive, inside the image.
    labels: (G,) int64 indices into the dataset's classes (never 0, the background).
    difficult: (G,) bool.
    G may be 0: an image without objects.
    """

    image_id: str
    image_path: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray


@dataclass
class VocDataset:
    """The valid images of one split, with `classes` = [__background__, name, ...] and the
    warnings met while reading (`problems`)."""

    root: str
    split: str
    classes: list
    samples: list
    problems: list = field(default_factory=list)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]

    def __iter__(self):
        return iter(self.samples)


@dataclass
class _Object:
    """An object as read from the XML, before class names become labels."""

    name: str
    box: tuple       # 0-based inclusive, clipped to the image
    difficult: bool


def split_path(root, split):
    """Where a split's id list lives: ROOT/ImageSets/Main/<split>.txt."""
    return os.path.join(root, "ImageSets", "Main", f"{split}.txt")


def _read_split(root, split, problems):
    """The ids listed in the split file (first word of each non-blank line), in order, once each."""
    path = split_path(root, split)
    if not os.path.isdir(root):
        problems.append(Problem(ERROR, root, "dataset folder does not exist"))
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        problems.append(Problem(ERROR, path, f"cannot read the split file ({error.strerror})"))
        return []
    except UnicodeDecodeError:
        problems.append(Problem(ERROR, path, "split file is not UTF-8 text"))
        return []
    ids, seen = [], set()
    for number, line in enumerate(lines, start=1):
        words = line.split()
        if not words:
            continue
        if "/" in words[0] or "\\" in words[0] or words[0] in (".", ".."):
            # An id names files inside Annotations/ and JPEGImages/, never a path elsewhere.
            problems.append(Problem(ERROR, path, f"line {number}: id {words[0]!r} is not a "
                                    "bare file name"))
            continue
        if words[0] in seen:
            problems.append(Problem(WARNING, path, f"line {number}: id {words[0]} listed twice"))
            continue
        seen.add(words[0])
        ids.append(words[0])
    if not ids:
        problems.append(Problem(ERROR, path, "split file lists no image ids"))
    return ids


def _parse_xml(path, problems):
    """The XML file's root element, or None after recording why it cannot be used."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        problems.append(Problem(ERROR, path, f"cannot read the annotation ({error.strerror})"))
        return None
    try:
        # Decoding ourselves and parsing text makes the parser ignore a declared encoding,
        # so no exotic encoding can hide a declaration from the check below.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(ERROR, path, "malformed XML: not UTF-8 text"))
        return None
    match = _DECLARATION.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        problems.append(Problem(ERROR, path, f"refused: line {line} declares a "
                                f"{match.group(1).upper()} (VOC annotations never do; "
                                "entity expansion is unsafe)"))
        return None
    try:
        return ET.fromstring(text)
    except ET.ParseError as error:
        problems.append(Problem(ERROR, path, f"malformed XML: {error}"))
        return None


def _number(element, tag, where, path, problems):
    """The finite number in `element`'s child `tag`, or None after recording the problem."""
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        problems.append(Problem(ERROR, path, f"{where}: missing <{tag}>"))
        return None
    try:
        value = float(child.text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.append(Problem(ERROR, path, f"{where}: <{tag}> is not a number: "
                                f"{child.text.strip()!r}"))
        return None
    return value


def _xml_size(root_element, path, problems):
    """(width, height) from <size>, or None if absent or unusable (a problem is recorded only
    when present but wrong: the image itself also tells the size)."""
    size = root_element.find("size")
    if size is None:
        return None
    width = _number(size, "width", "<size>", path, problems)
    height = _number(size, "height", "<size>", path, problems)
    if width is None or height is None:
        return None
    if width < 1 or height < 1 or width != int(width) or height != int(height):
        problems.append(Problem(ERROR, path, f"<size> is not a positive whole number of pixels: "
                                f"{width:g} x {height:g}"))
        return None
    return int(width), int(height)


def _find_image(root, image_id, xml_root):
    """The image path: JPEGImages/<id>.jpg, else JPEGImages/<filename> from the XML.
    Returns (path or None, the paths tried)."""
    tried = [os.path.join(root, "JPEGImages", f"{image_id}.jpg")]
    if xml_root is not None:
        filename = (xml_root.findtext("filename") or "").strip()
        # Only a bare file name: an annotation must not point outside JPEGImages/.
        if filename and os.path.basename(filename) == filename and filename not in (".", ".."):
            tried.append(os.path.join(root, "JPEGImages", filename))
    for path in tried:
        if os.path.isfile(path):
            return path, tried
    return None, tried


def _image_size(path, problems):
    """(width, height) of a readable image, or None after recording why it is not. The whole
    image is decoded: only a full load notices a truncated JPEG."""
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()
            return image.size
    # PIL raises many kinds (OSError, SyntaxError, DecompressionBombError, ...) for a broken or
    # hostile file; each is a problem to report, never a traceback.
    except Exception as error:
        problems.append(Problem(ERROR, path, f"unreadable or truncated image: {error}"))
        return None


def _read_objects(xml_root, width, height, path, problems):
    """The <object>s of one annotation as _Objects, 1-based corners made 0-based and clipped
    to the width x height image. Errors and warnings go to `problems`."""
    objects = []
    for number, element in enumerate(xml_root.findall("object"), start=1):
        name = (element.findtext("name") or "").strip()
        where = f"object {number}" + (f" ({name})" if name else "")
        if not name:
            problems.append(Problem(ERROR, path, f"{where}: missing <name>"))
            continue
        difficult_text = (element.findtext("difficult") or "0").strip()
        if difficult_text not in ("0", "1"):
            problems.append(Problem(ERROR, path, f"{where}: <difficult> must be 0 or 1, "
                                    f"got {difficult_text!r}"))
            continue
        bndbox = element.find("bndbox")
        if bndbox is None:
            problems.append(Problem(ERROR, path, f"{where}: missing <bndbox>"))
            continue
        corners = [_number(bndbox, tag, where, path, problems)
                   for tag in ("xmin", "ymin", "xmax", "ymax")]
        if any(value is None for value in corners):
            continue
        x1, y1, x2, y2 = (value - 1 for value in corners)       # VOC counts from 1
        wrong = [text for text, bad in (("xmax < xmin", x2 < x1), ("ymax < ymin", y2 < y1)) if bad]
        if wrong:
            problems.append(Problem(ERROR, path, f"{where}: impossible box, {' and '.join(wrong)} "
                                    f"(xmin {corners[0]:g}, ymin {corners[1]:g}, "
                                    f"xmax {corners[2]:g}, ymax {corners[3]:g})"))
            continue
        box = np.array([x1, y1, x2, y2], dtype=np.float32)
        if x1 < 0 or y1 < 0 or x2 > width - 1 or y2 > height - 1:
            described = (f"{where}: box (xmin {corners[0]:g}, ymin {corners[1]:g}, "
                         f"xmax {corners[2]:g}, ymax {corners[3]:g}) lies outside the "
                         f"{width} x {height} image")
            # No pixel of the box inside the image: clipping would only leave a sliver of border.
            if x2 < 0 or y2 < 0 or x1 > width - 1 or y1 > height - 1:
                problems.append(Problem(ERROR, path, f"{described}; nothing left after clipping"))
                continue
            box = box_ops.clip(box, height, width)
            problems.append(Problem(WARNING, path, f"{described}; clipped to it"))
        objects.append(_Object(name, tuple(float(v) for v in box), difficult_text == "1"))
    return objects


def _scan_image(root, image_id, split_file, check_images, problems):
    """Read one id: (image path, width, height, objects), or None if anything is an error."""
    xml_path = os.path.join(root, "Annotations", f"{image_id}.xml")
    has_xml = os.path.isfile(xml_path)
    image_path, tried = _find_image(root, image_id, None)
    if not has_xml and image_path is None:
        problems.append(Problem(ERROR, split_file, f"id {image_id} has no files: neither "
                                f"{xml_path} nor {tried[0]} exists"))
        return None
    if not has_xml:
        problems.append(Problem(ERROR, xml_path, f"missing annotation for image {image_path}"))
        return None
    errors_before = sum(p.severity == ERROR for p in problems)
    xml_root = _parse_xml(xml_path, problems)
    if xml_root is None:
        return None
    image_path, tried = _find_image(root, image_id, xml_root)
    if image_path is None:
        problems.append(Problem(ERROR, xml_path, "missing image: none of "
                                + ", ".join(tried) + " exists"))
        return None
    xml_size = _xml_size(xml_root, xml_path, problems)
    if check_images:
        size = _image_size(image_path, problems)
        if size is None:
            return None
        if xml_size is not None and xml_size != size:
            problems.append(Problem(WARNING, xml_path, f"<size> says {xml_size[0]} x "
                                    f"{xml_size[1]} but {image_path} is {size[0]} x {size[1]}; "
                                    "using the image's"))
    else:
        size = xml_size
        if size is None:
            problems.append(Problem(ERROR, xml_path, "missing <size> (and images not checked)"))
            return None
    width, height = size
    objects = _read_objects(xml_root, width, height, xml_path, problems)
    if sum(p.severity == ERROR for p in problems) > errors_before:
        return None
    return image_path, width, height, objects


def _class_list(classes, names_found):
    """[__background__, names...]: the names given (a leading __background__ is accepted), or
    the names found, sorted."""
    if classes is None:
        return [BACKGROUND] + sorted(names_found)
    names = list(classes)
    if names and names[0] == BACKGROUND:
        names = names[1:]
    if BACKGROUND in names:
        raise ValueError(f"{BACKGROUND} must come first or not at all in classes, got {classes}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"classes must be distinct names, at least one, got {classes}")
    return [BACKGROUND] + names


def _scan(root, split, classes, check_images):
    """scan_voc, plus the ids the split file lists: (ids, dataset, problems)."""
    root = os.fspath(root)
    problems = []
    ids = _read_split(root, split, problems)
    read = []
    for image_id in ids:
        result = _scan_image(root, image_id, split_path(root, split), check_images, problems)
        if result is not None:
            read.append((image_id, *result))
    names_found = {obj.name for *_, objects in read for obj in objects}
    class_list = _class_list(classes, names_found)
    index = {name: i for i, name in enumerate(class_list)}
    samples = []
    for image_id, image_path, width, height, objects in read:
        unknown = sorted({obj.name for obj in objects} - set(index))
        if unknown:
            xml_path = os.path.join(root, "Annotations", f"{image_id}.xml")
            problems.append(Problem(ERROR, xml_path, f"class {', '.join(unknown)} is not one of "
                                    f"the model's classes ({', '.join(class_list[1:])})"))
            continue
        samples.append(VocSample(
            image_id=image_id,
            image_path=image_path,
            width=width,
            height=height,
            boxes=np.array([obj.box for obj in objects], dtype=np.float32).reshape(-1, 4),
            labels=np.array([index[obj.name] for obj in objects], dtype=np.int64),
            difficult=np.array([obj.difficult for obj in objects], dtype=bool),
        ))
    warned = [p for p in problems if p.severity == WARNING]
    return ids, VocDataset(root, split, class_list, samples, warned), problems


def scan_voc(root, split, classes=None, check_images=True):
    """Read and validate every image of a split, stopping at nothing.

    Returns (dataset, problems): `dataset` a VocDataset of the images without errors (its
    `problems` are the warnings), `problems` every error and warning, each naming its file.
    classes: the class names in label order (without or with a leading __background__), or
    None for the names found, sorted. They are a model's classes (evaluation reads a split with
    them, so its labels index the model's scores), and the error for an object of another class
    says so. check_images: decode every image (finds unreadable and truncated files; slower).
    """
    _, dataset, problems = _scan(root, split, classes, check_images)
    return dataset, problems


def load_voc(root, split, classes=None, check_images=True):
    """Read a split of a VOC-layout folder: a VocDataset of VocSamples.

    Raises DatasetError (a ValueError) listing every error, each with its file, if any image
    has one; warnings (boxes clipped to their image) are issued as DatasetWarning and kept in
    the dataset's `problems`. See scan_voc for `classes` and `check_images`.
    """
    dataset, problems = scan_voc(root, split, classes, check_images)
    errors = [p for p in problems if p.severity == ERROR]
    if errors:
        listed = "\n".join(f"  {p}" for p in errors)
        raise DatasetError(f"{len(errors)} error(s) in split {split!r} of {os.fspath(root)}:\n"
                           f"{listed}", problems)
    for problem in dataset.problems:
        warnings.warn(str(problem), DatasetWarning, stacklevel=2)
    return dataset


def _range(values):
    """{"min": ..., "max": ...} of a list of numbers, or None when it is empty."""
    if not values:
        return None
    return {"min": float(min(values)), "max": float(max(values))}


def inspect_dataset(root, split):
    """Validate a split and summarise it, as `minifrcnn inspect` prints it.

    Returns a JSON-ready dict: "images" (ids listed), "valid_images", "classes", "objects"
    ({name: {"normal": n, "difficult": d}}), "image_width" / "image_height" / "box_width" /
    "box_height" ({"min", "max"} in pixels over the valid images, None if there are none; box
    sizes are inclusive, x2 - x1 + 1), "errors" and "warnings" (counts) and "problems" (each
    {"severity", "file", "message"}).
    """
    ids, dataset, problems = _scan(root, split, None, True)
    objects = {name: {"normal": 0, "difficult": 0} for name in dataset.classes[1:]}
    box_widths, box_heights = [], []
    for sample in dataset:
        for label, hard in zip(sample.labels, sample.difficult):
            objects[dataset.classes[label]]["difficult" if hard else "normal"] += 1
        widths, heights = box_ops.sizes(sample.boxes)
        box_widths += widths.tolist()
        box_heights += heights.tolist()
    return {
        "root": dataset.root,
        "split": split,
        "images": len(ids),
        "valid_images": len(dataset),
        "classes": dataset.classes[1:],
        "objects": objects,
        "image_width": _range([s.width for s in dataset]),
        "image_height": _range([s.height for s in dataset]),
        "box_width": _range(box_widths),
        "box_height": _range(box_heights),
        "errors": sum(p.severity == ERROR for p in problems),
        "warnings": sum(p.severity == WARNING for p in problems),
        "problems": [p.as_dict() for p in problems],
    }
