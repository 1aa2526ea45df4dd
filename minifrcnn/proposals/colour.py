"""RGB to HSV and to CIE Lab, in NumPy, each scaled to about 0..255 per channel so the
segmentation's k and the histograms' bins mean the same thing in every colour space."""

import numpy as np


def rgb_to_hsv(image):
    """image (H, W, 3) uint8 RGB -> (H, W, 3) float32 HSV, each channel scaled to 0..255
    (hue 0..360 degrees becomes 0..255; saturation and value 0..1 become 0..255)."""
    rgb = np.asarray(image, np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-12), 0.0)
    safe = np.maximum(chroma, 1e-12)
    # Hue in sixths of the circle, measured from whichever channel is the largest.
    hue = np.where(value == r, ((g - b) / safe) % 6.0,
                   np.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue = np.where(chroma > 0, hue / 6.0, 0.0)
    return (np.stack([hue, saturation, value], axis=-1) * 255.0).astype(np.float32)


# sRGB (linear) -> CIE XYZ, D65 white point.
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])
_WHITE_D65 = np.array([0.950456, 1.0, 1.088754])


def rgb_to_lab(image):
    """image (H, W, 3) uint8 sRGB -> (H, W, 3) float32 CIE Lab (D65), scaled to about 0..255:
    L 0..100 times 2.55, a and b (about -128..127) plus 128."""
    rgb = np.asarray(image, np.float64) / 255.0
    # Undo the sRGB gamma to get light intensities.
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    epsilon = (6 / 29) ** 3
    f = np.where(xyz > epsilon, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness * 2.55, a + 128, b + 128], axis=-1).astype(np.float32)
