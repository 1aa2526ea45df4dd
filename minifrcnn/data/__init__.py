"""Datasets: the VOC-layout reader (voc) and the image transforms (transforms)."""

from .voc import (DatasetError, DatasetWarning, Problem, VocDataset, VocSample, inspect_dataset,
                  load_voc, scan_voc)

__all__ = ["DatasetError", "DatasetWarning", "Problem", "VocDataset", "VocSample",
           "inspect_dataset", "load_voc", "scan_voc"]
