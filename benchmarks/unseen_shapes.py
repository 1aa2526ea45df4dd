"""A second shapes dataset in PASCAL VOC layout, written independently of minifrcnn.

Why it exists: issue 5 asks the trained model to reach VOC07 mAP >= 0.80 on "a VOC-layout dataset
of simple shapes it has never seen". minifrcnn's own generator (minifrcnn/data/synth.py) was
written together with the library, so a model tuned on it proves little about other data. This
script shares no code with the library (it imports nothing from minifrcnn) and differs from
synth.py on purpose:

- 5 other classes: arrow, ellipse (clearly elongated), heart, hexagon, lshape;
- another background: a two-colour gradient, checkered or striped texture patches, blurred
  noise blobs and random line segments, then pixel noise;
- any colour at all (drawn uniformly from RGB, independently of the class), only kept apart from
  the background under the object, and sometimes a contrasting outline;
- 1-5 objects of about 12 px up to 40 % of the image's shorter side, some placed next to an
  earlier one so that they overlap.

Boxes are the tight box of the pixels of each object still visible once everything is drawn
(later objects hide earlier ones, the border cuts some). An object is difficult when its box is
smaller than 10 px on a side or more than 60 % of it is hidden (covered or outside the image);
one with almost nothing visible is not annotated at all. The XML boxes are 1-based and inclusive,
as in VOC.

    python benchmarks/unseen_shapes.py OUT [--trainval 300] [--test 150] [--seed 1]

writes OUT/JPEGImages/<id>.jpg, OUT/Annotations/<id>.xml and OUT/ImageSets/Main/{trainval,
test}.txt. Image i comes from np.random.default_rng([seed, i]): the same seed gives
byte-identical files. Needs only NumPy and Pillow.
"""

import argparse
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("arrow", "ellipse", "heart", "hexagon", "lshape")

SIDE_RANGE = (160, 320)             # image height and width, pixels, inclusive
OBJECTS_RANGE = (1, 5)              # objects per image, inclusive
MIN_SIZE = 12                       # smallest object extent, pixels
MAX_SIZE_FRACTION = 0.4             # largest object extent, as a fraction of the shorter side
NEAR_PROBABILITY = 0.35             # chance an object is put next to an earlier one (overlap)
MIN_CONTRAST = 90                   # RGB distance between an object and the background under it
DIFFICULT_SIDE = 10                 # a visible box narrower or shorter than this is difficult
DIFFICULT_HIDDEN = 0.6              # ... and so is an object hidden by more than this fraction
DROP_PIXELS = 12                    # fewer visible pixels than this: not annotated at all
JPEG_QUALITY = 92


def _outline(name, rng):
    """The polygon (P, 2) of one class, centred on 0 and spanning about [-1, 1] on its longer
    axis, before rotation. rng varies the proportions a little within the class."""
    if name == "ellipse":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        aspect = rng.uniform(1.7, 2.6)                   # never a near-circle
        return np.stack([np.cos(t), np.sin(t) / aspect], axis=1)
    if name == "hexagon":
        t = np.pi / 6 + 2 * np.pi * np.arange(6) / 6
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if name == "heart":
        # the classic parametric heart, point down (image y grows downwards): x spans
        # [-16, 16], y [-11.9, 17]; shifted by 2.5 to centre it
        t = np.linspace(0, 2 * np.pi, 80, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y - 2.5], axis=1) / 16
    if name == "arrow":
        shaft, head = rng.uniform(0.16, 0.26), rng.uniform(0.45, 0.6)     # half-widths
        neck = rng.uniform(0.0, 0.35)                     # where the head starts, along x
        return np.array([(-1, -shaft), (neck, -shaft), (neck, -head), (1, 0),
                         (neck, head), (neck, shaft), (-1, shaft)])
    if name == "lshape":
        arm = rng.uniform(0.45, 0.7)                      # thickness of both arms
        return np.array([(-1, -1), (-1 + arm, -1), (-1 + arm, 1 - arm), (1, 1 - arm),
                         (1, 1), (-1, 1)])
    raise ValueError(f"unknown class {name!r}")


def _background(rng, height, width):
    """A cluttered RGB background as a PIL image: gradient, texture patches, blobs, lines."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    t = x * math.cos(theta) + y * math.sin(theta)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    start, end = rng.uniform(0, 255, size=(2, 3))
    image = start + t[..., None] * (end - start)

    # Texture patches: checkerboards and stripes, partly transparent, so edges abound.
    for _ in range(rng.integers(0, 4)):
        ph, pw = rng.integers(20, [height // 2 + 21, width // 2 + 21])
        top, left = rng.integers(0, [height - ph + 1, width - pw + 1])
        cell = rng.integers(3, 12)
        py, px = np.mgrid[0:ph, 0:pw]
        if rng.random() < 0.5:
            pattern = ((py // cell + px // cell) % 2).astype(np.float32)
        else:
            pattern = (((px + py) // cell) % 2).astype(np.float32)
        colors = rng.uniform(0, 255, size=(2, 3))
        patch = colors[0] + pattern[..., None] * (colors[1] - colors[0])
        alpha = rng.uniform(0.3, 0.7)
        region = image[top:top + ph, left:left + pw]
        image[top:top + ph, left:left + pw] = (1 - alpha) * region + alpha * patch
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))

    # Blurred blobs: soft stains with no outline, unlike the objects.
    for _ in range(rng.integers(0, 5)):
        layer = Image.new("L", (width, height), 0)
        cx, cy = rng.uniform([0, 0], [width, height])
        rx, ry = rng.uniform(8, 0.25 * min(height, width), size=2)
        ImageDraw.Draw(layer).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        mask = layer.filter(ImageFilter.GaussianBlur(rng.uniform(3, 8)))
        color = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        picture = Image.composite(color, picture, mask.point(lambda v: v * 2 // 3))

    draw = ImageDraw.Draw(picture)
    for _ in range(rng.integers(2, 10)):
        ends = rng.uniform(0, [width, height, width, height])
        draw.line([tuple(ends[:2]), tuple(ends[2:])], width=int(rng.integers(1, 4)),
                  fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return picture


def _object_color(rng, under):
    """A random RGB colour (3,) far from `under` (the mean background colour beneath the object),
    so every object can be seen; any hue, so colour never tells the class."""
    for _ in range(20):
        color = rng.integers(0, 256, 3)
        if np.linalg.norm(color - under) >= MIN_CONTRAST:
            return color
    return np.where(under < 128, 255, 0)                   # the farthest corner of the RGB cube


def render(rng):
    """Draw one image. Returns (image (H, W, 3) uint8, objects), objects a list of dicts with
    "name", "box" (x1, y1, x2, y2) 0-based inclusive, tight around "mask" ((H, W) bool, the
    object's visible pixels), "difficult" and "truncated"."""
    height, width = (int(v) for v in rng.integers(SIDE_RANGE[0], SIDE_RANGE[1] + 1, size=2))
    picture = _background(rng, height, width)
    background = np.asarray(picture).astype(np.float32)
    max_size = MAX_SIZE_FRACTION * min(height, width)
    # Shapes are drawn on a padded canvas so that the part cut off by the border still counts
    # in the object's full area (and so in how much of it is hidden).
    pad = math.ceil(max_size) + 2
    owner = np.full((height, width), -1)                   # which object shows at each pixel
    drawn = []                                             # (name, full area, truncated)
    for _ in range(rng.integers(OBJECTS_RANGE[0], OBJECTS_RANGE[1] + 1)):
        name = CLASSES[rng.integers(len(CLASSES))]
        half = 0.5 * math.exp(rng.uniform(math.log(MIN_SIZE), math.log(max_size)))
        if drawn and rng.random() < NEAR_PROBABILITY:
            ys, xs = np.nonzero(owner >= 0)
            if len(xs):                                    # next to a visible earlier object
                pick = rng.integers(len(xs))
                cx, cy = xs[pick] + rng.normal(0, half), ys[pick] + rng.normal(0, half)
            else:
                cx, cy = rng.uniform(0, [width, height])
        else:
            cx, cy = rng.uniform(0, [width, height])
        angle = rng.uniform(0, 2 * np.pi)
        rotation = np.array([[math.cos(angle), math.sin(angle)],
                             [-math.sin(angle), math.cos(angle)]])
        points = half * _outline(name, rng) @ rotation + [cx + pad, cy + pad]
        canvas = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
        ImageDraw.Draw(canvas).polygon([tuple(p) for p in points], fill=255)
        full = np.asarray(canvas) > 127
        inside = full[pad:pad + height, pad:pad + width]
        if not inside.any():
            continue
        color = _object_color(rng, background[inside].mean(axis=0))
        layer = Image.new("RGB", (width, height), tuple(int(v) for v in color))
        if rng.random() < 0.3:                             # a contrasting rim, part of the object
            rim = [tuple(p - pad) for p in points]
            ImageDraw.Draw(layer).polygon(rim, outline=tuple(int(v) for v in 255 - color),
                                          width=int(rng.integers(1, 3)))
        picture.paste(layer, mask=Image.fromarray(inside.astype(np.uint8) * 255))
        owner[inside] = len(drawn)
        drawn.append((name, int(full.sum()), bool(inside.sum() < full.sum())))

    image = np.asarray(picture).astype(np.float32)
    image += rng.normal(0, rng.uniform(2, 8), size=image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    objects = []
    for index, (name, full_area, truncated) in enumerate(drawn):
        visible = owner == index
        if visible.sum() < DROP_PIXELS:
            continue
        cols, rows = np.flatnonzero(visible.any(axis=0)), np.flatnonzero(visible.any(axis=1))
        box = (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))
        tiny = min(box[2] - box[0] + 1, box[3] - box[1] + 1) < DIFFICULT_SIDE
        hidden = 1 - visible.sum() / full_area
        objects.append({"name": name, "box": box, "mask": visible, "truncated": truncated,
                        "difficult": bool(tiny or hidden > DIFFICULT_HIDDEN)})
    return image, objects


def annotation_xml(image_id, height, width, objects):
    """The VOC annotation of one image as a string; boxes written 1-based, as VOC's are."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "unseen-shapes"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for obj in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj["name"]
        ET.SubElement(node, "truncated").text = str(int(obj["truncated"]))
        ET.SubElement(node, "difficult").text = str(int(obj["difficult"]))
        bndbox = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj["box"]):
            ET.SubElement(bndbox, tag).text = str(value + 1)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_dataset(out_dir, n_trainval=300, n_test=150, seed=1):
    """Write n_trainval + n_test images under out_dir (ids 000001, ...; trainval first).

    Returns {"images": {split: count}, "objects": {class: [normal, difficult]}}.
    """
    if n_trainval < 0 or n_test < 0 or n_trainval + n_test == 0:
        raise ValueError(f"need a non-negative number of images per split, and some in all, "
                         f"got trainval={n_trainval}, test={n_test}")
    out_dir = Path(out_dir)
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"{i + 1:06d}" for i in range(n_trainval + n_test)]
    counts = {name: [0, 0] for name in CLASSES}
    for index, image_id in enumerate(ids):
        image, objects = render(np.random.default_rng([seed, index]))
        Image.fromarray(image).save(out_dir / "JPEGImages" / f"{image_id}.jpg",
                                    quality=JPEG_QUALITY)
        xml = annotation_xml(image_id, image.shape[0], image.shape[1], objects)
        (out_dir / "Annotations" / f"{image_id}.xml").write_text(xml, encoding="utf-8")
        for obj in objects:
            counts[obj["name"]][int(obj["difficult"])] += 1
    splits = {"trainval": ids[:n_trainval], "test": ids[n_trainval:]}
    for split, members in splits.items():
        (out_dir / "ImageSets" / "Main" / f"{split}.txt").write_text(
            "".join(f"{i}\n" for i in members), encoding="utf-8")
    return {"images": {split: len(members) for split, members in splits.items()},
            "objects": counts}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a VOC-layout dataset of 5 shape classes that minifrcnn was not "
                    "designed around (issue 5's held-out target).")
    parser.add_argument("out", help="folder to write (created if missing)")
    parser.add_argument("--trainval", type=int, default=300, help="trainval images (300)")
    parser.add_argument("--test", type=int, default=150, help="test images (150)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    args = parser.parse_args(argv)
    summary = write_dataset(args.out, args.trainval, args.test, args.seed)
    images = summary["images"]
    print(f"wrote {images['trainval']} trainval + {images['test']} test images to {args.out}")
    print(f"{'class':<10}{'normal':>8}{'difficult':>11}")
    for name, (normal, difficult) in summary["objects"].items():
        print(f"{name:<10}{normal:>8}{difficult:>11}")


if __name__ == "__main__":
    main()
