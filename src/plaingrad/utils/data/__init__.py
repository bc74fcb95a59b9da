"""Data loading with PyTorch's import path: ``plaingrad.utils.data``.

``Dataset`` / ``IterableDataset`` and friends describe samples (dataset.py);
samplers choose the order (sampler.py); ``DataLoader`` turns them into batches
(dataloader.py) through ``collate_fn`` (collate.py), in this process or in
worker processes (_multiprocessing.py on the main side, worker.py inside each
worker). A ``TensorDataset`` is batched with one fancy-index per tensor.
``DistributedSampler`` (distributed.py) gives each rank of a data-parallel
job its share.
"""

from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .distributed import DistributedSampler
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .worker import WorkerInfo, get_worker_info

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
