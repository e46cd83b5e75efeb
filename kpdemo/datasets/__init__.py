"""Datasets: one sample form, readers for each real dataset, and the registry that lists them."""

from kpdemo.datasets.base import DatasetFormatError, LandmarkSet, Sample
from kpdemo.datasets.registry import DATASETS, DatasetSpec, get_dataset, load_dataset

__all__ = ["DATASETS", "DatasetFormatError", "DatasetSpec", "LandmarkSet", "Sample", "get_dataset", "load_dataset"]
