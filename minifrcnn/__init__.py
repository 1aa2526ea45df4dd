"""minifrcnn: Fast R-CNN (Girshick, ICCV 2015) from scratch in NumPy, every gradient by hand."""

__version__ = "0.1.0"
