"""A synthetic dataset in PASCAL VOC layout, so the whole data path runs without downloading VOC.

Each image shows a few flat-coloured shapes (the classes in CLASSES) on a cluttered background:
a colour gradient, sometimes stripes, thin lines and translucent blobs that are not objects, and
pixel noise over everything. The shapes are built so that nothing but their outline tells them
apart:

- every object's colour is drawn from one shared PALETTE, independently of its class;
- sizes run from a few pixels (marked difficult, as VOC marks objects too small to judge) to more
  than half the image's shorter side, with random rotation and a mild stretch;
- objects may overlap and hide each other, and may run off the image (truncated).

Boxes are measured on the rendered pixels, never on the intended geometry: a box is the smallest
box around the pixels of the object that are still visible once everything is drawn (VOC boxes
the visible extent too). Internally boxes are 0-based and inclusive, like the rest of minifrcnn
(fast-rcnn-spec.md, "Boxes"); the XML files are 1-based, as VOC's are.

The folder written by write_synthetic_voc:

    OUT/JPEGImages/000001.jpg ...
    OUT/Annotations/000001.xml ...
    OUT/ImageSets/Main/trainval.txt, test.txt, and train.txt + val.txt (which split trainval)

Everything is deterministic: image i comes from np.random.default_rng([seed, i]), so the same seed
gives byte-identical files, and an image does not depend on how many images were asked for.
"""

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

CLASSES = ("circle", "cross", "ring", "square", "star", "triangle")

# One palette for all classes: an object's colour says nothing about its class.
PALETTE = (
    (220, 40, 40),      # red
    (40, 170, 60),      # green
    (40, 80, 220),      # blue
    (240, 215, 40),     # yellow
    (200, 50, 200),     # magenta
    (40, 200, 210),     # cyan
    (245, 140, 30),     # orange
    (235, 235, 235),    # white
    (30, 30, 30),       # black
)

MIN_SIDE, MAX_SIDE = 160, 320           # image height and width, pixels (inclusive)
OBJECTS_PER_IMAGE = (2, 6)              # inclusive range
MIN_RADIUS = 4                          # half-size of the smallest shapes, pixels
MAX_RADIUS_FRACTION = 0.3               # largest half-size, as a fraction of the shorter side
NEAR_PROBABILITY = 0.4                  # chance an object is placed next to an earlier one
# An object is difficult when little of it can be seen: fewer visible pixels than a 10x10 square,
# less than 40 % of its part inside the image (the rest hidden by other objects), or less than
# 25 % of its full area. Being cut off by the border alone is `truncated`, not difficult, as in VOC.
DIFFICULT_AREA, DIFFICULT_UNOCCLUDED, DIFFICULT_VISIBLE = 100, 0.4, 0.25
# Below these an object is not annotated at all: a sliver nobody could name.
DROP_AREA, DROP_VISIBLE = 12, 0.1
JPEG_QUALITY = 90


@dataclass
class SynthObject:
    """One annotated object of a rendered image.

    name: class name (one of CLASSES); color: index into PALETTE;
    box: (4,) int64, (x1, y1, x2, y2) 0-based inclusive, tight around the visible pixels;
    mask: (H, W) bool, the object's visible pixels; visible: visible fraction of its full area
    (less than 1 when other objects hide part of it or the border cuts it); truncated: whether
    part of it lies outside the image; difficult: whether it is tiny or mostly hidden (see
    DIFFICULT_AREA, DIFFICULT_UNOCCLUDED, DIFFICULT_VISIBLE).
    """

    name: str
    color: int
    box: np.ndarray
    mask: np.ndarray
    visible: float
    truncated: bool
    difficult: bool


def _rotate(points, angle):
    """points: (P, 2) offsets from a centre, rotated by `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _regular_polygon(count, radius, angle):
    """(count, 2) vertices of a regular polygon of circumradius `radius`, turned by `angle`."""
    t = angle + 2 * np.pi * np.arange(count) / count
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def _shape_outline(name, radius, angle):
    """The polygon (P, 2) of a polygonal class, as offsets from its centre; radius is its
    half-size. Circles and rings are drawn as ellipses instead (see _draw_shape)."""
    if name == "square":
        return _regular_polygon(4, radius, angle + np.pi / 4)
    if name == "triangle":
        return _regular_polygon(3, radius, angle)
    if name == "star":
        # five points: vertices alternate between the outer radius and 0.45 of it
        outer = _regular_polygon(10, radius, angle)
        outer[1::2] *= 0.45
        return outer
    if name == "cross":
        a, r = 0.33 * radius, radius                     # half-width of an arm, arm length
        plus = np.array([(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a),
                         (a, r), (-a, r), (-a, a), (-r, a), (-r, -a), (-a, -a)])
        return _rotate(plus, angle)
    raise ValueError(f"no outline for class {name!r}")


def _draw_shape(draw, name, cx, cy, radius, angle, stretch):
    """Fill one shape with 255 on an 'L' image: centre (cx, cy), half-size radius, rotation angle
    (radians), stretch = ratio of its width to its height before rotation (near 1)."""
    rx, ry = radius * math.sqrt(stretch), radius / math.sqrt(stretch)
    if name in ("circle", "ring"):
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        if name == "ring":
            hole_x, hole_y = 0.55 * rx, 0.55 * ry
            draw.ellipse([cx - hole_x, cy - hole_y, cx + hole_x, cy + hole_y], fill=0)
        return
    outline = _shape_outline(name, radius, 0.0) * [math.sqrt(stretch), 1 / math.sqrt(stretch)]
    outline = _rotate(outline, angle) + [cx, cy]
    draw.polygon([tuple(p) for p in outline], fill=255)


def _background(rng, height, width):
    """A cluttered (H, W, 3) float32 background: a gradient between two random colours, stripes
    half of the time, then thin lines and translucent blobs that are not objects."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    along = x * math.cos(theta) + y * math.sin(theta)
    t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
    start, end = rng.uniform(30, 225, size=(2, 3))
    image = start + t[..., None] * (end - start)
    if rng.random() < 0.5:
        phi = rng.uniform(0, np.pi)
        period = rng.uniform(6, 30)
        wave = np.sin(2 * np.pi * (x * math.cos(phi) + y * math.sin(phi)) / period
                      + rng.uniform(0, 2 * np.pi))
        image = image + rng.uniform(10, 35) * wave[..., None] * rng.uniform(0.3, 1.0, size=3)
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))

    # Blobs: irregular polygons, blended at 30-60 % so they read as stains, not shapes.
    for _ in range(rng.integers(0, 4)):
        count = rng.integers(7, 13)
        radius = rng.uniform(10, 0.25 * min(height, width))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius * rng.uniform(0.4, 1.0, count)
        centre = rng.uniform([0, 0], [width, height])
        points = centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        layer = picture.copy()
        ImageDraw.Draw(layer).polygon([tuple(p) for p in points],
                                      fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        picture = Image.blend(picture, layer, rng.uniform(0.3, 0.6))

    # Lines, in palette colours too, so that colour alone never marks an object.
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.integers(0, 7)):
        ends = rng.uniform([0, 0, 0, 0], [width, height, width, height])
        if rng.random() < 0.5:
            color = PALETTE[rng.integers(len(PALETTE))]
        else:
            color = rng.integers(0, 256, 3)
        draw.line([tuple(ends[:2]), tuple(ends[2:])], fill=tuple(int(v) for v in color),
                  width=int(rng.integers(1, 4)))
    return np.asarray(picture).astype(np.float32)


def _tight_box(mask):
    """(4,) int64 (x1, y1, x2, y2), 0-based inclusive: the smallest box holding every True pixel
    of mask (H, W)."""
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.int64)


def render_image(rng):
    """Draw one synthetic image with the random generator rng.

    Returns image: (H, W, 3) uint8 RGB with 160 <= H, W <= 320, and the list of its annotated
    SynthObjects, in drawing order (later objects lie on top of earlier ones).
    """
    height, width = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    image = _background(rng, height, width)

    max_radius = MAX_RADIUS_FRACTION * min(height, width)
    # Shapes are drawn on a canvas padded on every side, so that the part of a shape cut off by
    # the image border still counts in its full area (truncation, visible fraction).
    pad = math.ceil(1.3 * max_radius) + 2
    owner = np.full((height, width), -1, dtype=np.int64)    # which shape shows at each pixel
    shapes = []                                 # (name, color, full area, area inside image)
    centres = []
    for _ in range(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1)):
        name = CLASSES[rng.integers(len(CLASSES))]
        color = int(rng.integers(len(PALETTE)))
        radius = math.exp(rng.uniform(math.log(MIN_RADIUS), math.log(max_radius)))
        if centres and rng.random() < NEAR_PROBABILITY:
            # next to an earlier shape, so that some boxes overlap and some shapes hide others
            (px, py, pr) = centres[rng.integers(len(centres))]
            cx, cy = np.array([px, py]) + rng.uniform(-0.8, 0.8, size=2) * (pr + radius)
        else:
            cx, cy = rng.uniform([0, 0], [width - 1, height - 1])
        angle = rng.uniform(0, 2 * np.pi)
        stretch = math.exp(rng.uniform(-0.25, 0.25))
        canvas = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
        _draw_shape(ImageDraw.Draw(canvas), name, cx + pad, cy + pad, radius, angle, stretch)
        full = np.asarray(canvas) > 0
        inside = full[pad:pad + height, pad:pad + width]
        if not inside.any():
            continue
        # a little shading per shape, so objects are not perfectly flat
        shade = np.array(PALETTE[color], np.float32) + rng.uniform(-20, 20, size=3)
        image[inside] = shade
        owner[inside] = len(shapes)
        shapes.append((name, color, int(full.sum()), int(inside.sum())))
        centres.append((cx, cy, radius))

    image += rng.normal(0, rng.uniform(2, 10), size=image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    objects = []
    for index, (name, color, full_area, inside_area) in enumerate(shapes):
        mask = owner == index
        area = int(mask.sum())
        visible = area / full_area
        if area < DROP_AREA or visible < DROP_VISIBLE:
            continue
        difficult = (area < DIFFICULT_AREA or area / inside_area < DIFFICULT_UNOCCLUDED
                     or visible < DIFFICULT_VISIBLE)
        objects.append(SynthObject(name, color, _tight_box(mask), mask, visible,
                                   inside_area < full_area, difficult))
    return image, objects


def annotation_xml(image_id, height, width, objects):
    """The VOC annotation (str) of one image: <filename>, <size>, then one <object> per entry of
    objects (SynthObjects), with 1-based inclusive <bndbox> corners as in VOC's own files."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "minifrcnn-synth"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for obj in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = str(int(obj.truncated))
        ET.SubElement(node, "difficult").text = str(int(obj.difficult))
        bndbox = ET.SubElement(node, "bndbox")
        # VOC counts pixels from 1 (fast-rcnn-spec.md, "Boxes")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box + 1):
            ET.SubElement(bndbox, tag).text = str(int(value))
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_synthetic_voc(out_dir, n_train, n_test, seed=0, progress=True):
    """Write n_train + n_test synthetic images in VOC layout under out_dir.

    n_train images form the `trainval` split, halved at random into `train` and `val` (val gets
    the smaller half); the next n_test images form `test`. Ids are 000001, 000002, ... Files
    already in out_dir with the same names are overwritten. progress: show a tqdm bar.

    Returns a summary dict: "splits" maps each split name to its list of ids; "objects" and
    "difficult" map each class name to how many of its objects (of them difficult) were written.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if n_train + n_test == 0:
        raise ValueError("asked for no images: n_train and n_test are both 0")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file, not a folder")
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)

    ids = [f"{i + 1:06d}" for i in range(n_train + n_test)]
    objects = dict.fromkeys(CLASSES, 0)
    difficult = dict.fromkeys(CLASSES, 0)
    for index in tqdm(range(len(ids)), desc="synth", unit="img", disable=not progress):
        image, found = render_image(np.random.default_rng([seed, index]))
        Image.fromarray(image).save(out_dir / "JPEGImages" / f"{ids[index]}.jpg",
                                    quality=JPEG_QUALITY)
        xml = annotation_xml(ids[index], image.shape[0], image.shape[1], found)
        (out_dir / "Annotations" / f"{ids[index]}.xml").write_text(xml, encoding="utf-8")
        for obj in found:
            objects[obj.name] += 1
            difficult[obj.name] += obj.difficult

    trainval, test = ids[:n_train], ids[n_train:]
    shuffled = np.random.default_rng(seed).permutation(trainval)
    val = sorted(str(i) for i in shuffled[:n_train // 2])
    train = sorted(str(i) for i in shuffled[n_train // 2:])
    splits = {"trainval": trainval, "train": train, "val": val, "test": test}
    for split, members in splits.items():
        (out_dir / "ImageSets" / "Main" / f"{split}.txt").write_text(
            "".join(f"{i}\n" for i in members), encoding="utf-8")
    return {"splits": splits, "objects": objects, "difficult": difficult}
