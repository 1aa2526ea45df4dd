"""Image transforms of Fast R-CNN's data path (fast-rcnn-spec.md, "Training recipe"):

- the scale rule: resize so the shorter side is `scale` pixels, unless that makes the longer side
  exceed `max_size`, in which case the longer side becomes `max_size` (600 / 1000 for VGG16);
- horizontal flip of an image (its boxes flip with minifrcnn.boxes.flip);
- transposition, an augmentation for data without an "up" (its boxes: minifrcnn.boxes.transpose);
- colour shuffling, an augmentation for data whose colours say nothing about the class;
- mean subtraction and the layout change from a picture, (H, W, 3) uint8 RGB, to the network's
  input, (3, H, W) float32, and back for drawing.
"""

import numpy as np
from PIL import Image

from .. import boxes as box_ops


def read_image(path):
    """The image at path as (H, W, 3) uint8 RGB. Raises ValueError naming the file when it is
    missing, unreadable or truncated."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    # PIL raises many kinds (OSError, SyntaxError, DecompressionBombError, ...) for a broken file.
    except Exception as error:
        raise ValueError(f"{path}: cannot read the image ({error})") from error


def scale_factor(height, width, scale, max_size):
    """The factor that resizes a height x width image by the scale rule.

    Shorter side to `scale`; but if the longer side would then be more than `max_size` pixels
    (after rounding), the longer side to `max_size` instead. Boxes follow with
    minifrcnn.boxes.scale(boxes, factor).
    """
    factor = scale / min(height, width)
    if round(factor * max(height, width)) > max_size:
        factor = max_size / max(height, width)
    return factor


def resize(image, factor):
    """image: (H, W, 3) uint8 -> (round(H * factor), round(W * factor), 3) uint8, bilinear."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))     # PIL wants (W, H)
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def flip_image(image):
    """Mirror an (H, W, ...) image left to right (its boxes: minifrcnn.boxes.flip)."""
    return image[:, ::-1]


def transpose_image(image):
    """Swap the rows and columns of an (H, W, ...) image, giving (W, H, ...): the mirror image in
    its main diagonal (its boxes: minifrcnn.boxes.transpose). Followed by flip_image, it turns
    the image by 90 degrees. A contiguous copy, as PIL's resize wants."""
    return np.ascontiguousarray(np.swapaxes(image, 0, 1))


def shuffle_colours(image, rng):
    """Colour augmentation for data whose classes do not depend on colour (shapes in any colour):
    the three channels in a random order, then, with probability 1/2, the negative image
    255 - x. Edges and shapes stay where they were; only the colours change, to one of 12
    variants. (H, W, 3) uint8 -> (H, W, 3) uint8. The rng draws the order, then the coin."""
    image = image[:, :, rng.permutation(3)]
    return 255 - image if rng.random() < 0.5 else image


def to_network(image, pixel_mean):
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 with the per-channel pixel_mean (3,) subtracted."""
    shifted = image.astype(np.float32) - np.asarray(pixel_mean, np.float32)
    return np.ascontiguousarray(shifted.transpose(2, 0, 1))


def to_picture(x, pixel_mean):
    """The inverse of to_network, for drawing: (3, H, W) float -> (H, W, 3) uint8 RGB."""
    image = x.transpose(1, 2, 0) + np.asarray(pixel_mean, np.float32)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def crop_resize(image, box, size):
    """The pixels of box (x1, y1, x2, y2), 0-based inclusive, warped to a size x size picture:
    (H, W, 3) uint8 -> (size, size, 3) uint8, bilinear. As R-CNN warps a region for its
    classifier, the aspect ratio is not kept; the box is clipped to the image first."""
    height, width = image.shape[:2]
    clipped = box_ops.clip(np.asarray(box, np.float64).reshape(1, 4), height, width)[0]
    x1, y1, x2, y2 = (int(v) for v in np.round(clipped))
    x2, y2 = max(x2, x1), max(y2, y1)
    region = Image.fromarray(np.ascontiguousarray(image[y1:y2 + 1, x1:x2 + 1]))
    return np.asarray(region.resize((size, size), Image.BILINEAR))
