"""Data loading with PyTorch's import path: ``plaingrad.utils.data``.

``Dataset`` and friends describe samples; ``DataLoader`` turns them into
batches, fetching a whole batch with one fancy-index when the dataset allows.
"""

from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split

__all__ = [
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
]
