"""Array names inside the packaged ground-truth file (shared by the converter and the table oracle).

Every array is in benchmark index order (row i = benchmark index i). Accuracies are percent, float64; a
value the
sources do not have is NaN inside the file and becomes `OracleMiss` at query time, never a returned NaN.
"""

from __future__ import annotations

SEEDS_KEY = "seeds"  # int64 [3]: the seeds of the per-seed columns (777, 888, 999)
FORMAT_KEY = "format_version"  # int64 [1]


def mean_key(epochs: int, dataset: str, split: str) -> str:
    """float64 [15625]: seed-mean accuracy (%)."""
    return f"acc_mean__{epochs}__{dataset}__{split}"


def seeds_key(epochs: int, dataset: str, split: str) -> str:
    """float64 [15625, 3]: per-seed accuracy (%), columns = `seeds`; NaN where the seed is missing."""
    return f"acc_seeds__{epochs}__{dataset}__{split}"


def n_seeds_key(epochs: int, dataset: str, split: str) -> str:
    """int8 [15625]: number of seeds behind the mean."""
    return f"n_seeds__{epochs}__{dataset}__{split}"


def cost_key(dataset: str, name: str) -> str:
    """float64 [15625]: params_m, flops_m, train_time_per_epoch_s (and, for cifar10, ..._valid_run)."""
    return f"cost__{dataset}__{name}"
