"""Search data: CIFAR-10/100 and ImageNet16-120 loaders, packaged NB201 splits, the synthetic set, batches.

Public API (algorithms reach it through `RunContext.data`):
  ImageSet, SearchData                      on-device tensors + the weight / held-out halves
  synthetic_search_data(...)                embedded deterministic data set (no files)
  load_search_data(dataset, root=, split=)  real data from a user-named --data-root (n_weight / n_held_out:
                                            a seeded class-balanced subset)
  EMBEDDED_ROOT                             the packaged real CIFAR-10 subset (a --data-root; `demo` preset)
  BatchStream, fixed_batches                shuffled / augmented batches, in-order evaluation batches

Real data comes only from the folder the user names with --data-root (see harness/data/loaders.py):
  ROOT/cifar-10-batches-py/   data_batch_1..5, test_batch     (official "CIFAR-10 python version" archive)
  ROOT/cifar-100-python/      train, test                     (official "CIFAR-100 python version" archive)
  ROOT/ImageNet16/            train_data_batch_1..10, val_data (NB201's downsampled ImageNet 16x16)
CIFAR is downloaded there (official URL, md5-checked, extracted atomically) when absent and a network exists.
The official NB201 split indices ship with the package (harness/data/splits/, see PROVENANCE.md there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.stream import BatchStream, fixed_batches
from harness.data.synthetic import synthetic_search_data
from harness.data.types import DATASETS, NORM_STATS, ImageSet, SearchData, num_classes

#: the packaged real CIFAR-10 subset (cifar10-jpeg.zip, PROVENANCE.md): a --data-root the package carries
EMBEDDED_ROOT = Path(__file__).parent / "embedded"

__all__ = [
    "DATASETS",
    "EMBEDDED_ROOT",
    "NORM_STATS",
    "SEARCH_SPLITS",
    "BatchStream",
    "ImageSet",
    "SearchData",
    "fixed_batches",
    "load_search_data",
    "num_classes",
    "synthetic_search_data",
]


def __getattr__(name: str) -> Any:
    # Real-data loading is imported on first use, so `python -m harness.data.splits` (which the search module
    # imports) runs without a double import, and synthetic-only users never load the reader modules.
    if name in ("load_search_data", "SEARCH_SPLITS"):
        from harness.data import search

        return getattr(search, name)
    raise AttributeError(f"module 'harness.data' has no attribute {name!r}")
