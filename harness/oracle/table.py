"""The embedded NB201 ground-truth oracle: the packaged `.npz` file, queried with index arrays.

Why: answering a ground-truth question must not need the multi-GB official file (about 28 GB of RAM to load).
The packaged file holds every value as a float array in benchmark index order, so a query over all 15,625
architectures is one fancy-indexing operation. Every query names dataset, split, epochs and seed policy; a
value
the sources do not have raises `OracleMiss` (never 0 or NaN).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from functools import cached_property, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import InputError
from harness.oracle import layout
from harness.oracle.base import (
    DATASETS,
    EPOCHS,
    AccuracyResult,
    ArchLike,
    OracleMiss,
    Query,
    benchmark_key,
    to_indices,
    validate_query,
)

if TYPE_CHECKING:
    import pandas as pd

PACKAGED_FILE = "nb201-oracle.npz"
COST_NAMES = ("params_m", "flops_m", "train_time_per_epoch_s")


class TableOracle:
    """Ground truth from the packaged table (NATS-Bench tss v1.0 = NB201). Arrays are read lazily per
    column."""

    def __init__(self, data: bytes, *, description: str = "embedded table") -> None:
        self._bytes = data
        self._npz = np.load(io.BytesIO(data), allow_pickle=False)
        self._names = {name for name in self._npz.files}
        self._cache: dict[str, np.ndarray] = {}
        self._description = description
        seeds = self._array(layout.SEEDS_KEY)
        self.seeds: tuple[int, ...] = tuple(int(s) for s in seeds)

    @classmethod
    def from_package(cls) -> TableOracle:
        data = resources.files("harness.oracle").joinpath("data", PACKAGED_FILE).read_bytes()
        return cls(data, description=f"embedded table harness/oracle/data/{PACKAGED_FILE}")

    # --- provenance ----------------------------------------------------------------------------------
    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the packaged file: names the table family in every run's provenance."""
        return hashlib.sha256(self._bytes).hexdigest()

    @property
    def description(self) -> str:
        return self._description

    # --- internals -----------------------------------------------------------------------------------
    def _array(self, name: str) -> np.ndarray:
        arr = self._cache.get(name)
        if arr is None:
            arr = self._npz[name]
            arr.setflags(write=False)
            self._cache[name] = arr
        return arr

    def _column(self, q: Query) -> tuple[np.ndarray, np.ndarray | int, str]:
        """(values, n_seeds, what) for a validated query; values may hold NaN = missing."""
        bench, eval_name = benchmark_key(q.dataset, q.split)
        what = f"{q.dataset} {q.split} ({bench} {eval_name}), {q.epochs} epochs, seed {q.seed}"
        if q.seed == "mean":
            key = layout.mean_key(q.epochs, q.dataset, q.split)
            if key not in self._names:
                raise OracleMiss(
                    f"no {q.epochs}-epoch values for {q.dataset} {q.split} in the embedded table"
                )
            return self._array(key), self._array(layout.n_seeds_key(q.epochs, q.dataset, q.split)), what
        key = layout.seeds_key(q.epochs, q.dataset, q.split)
        if key not in self._names:
            if q.dataset == "cifar10" and q.split == "test":
                reason = (
                    "per-seed CIFAR-10 test accuracy (cifar10 ori-test) is not available; use seed='mean'"
                )
            else:
                reason = (
                    f"no per-seed {q.epochs}-epoch values for {q.dataset} {q.split} in the embedded table"
                )
            raise OracleMiss(reason)
        if q.seed not in self.seeds:
            raise OracleMiss(
                f"seed {q.seed} is not a benchmark seed; available: {', '.join(map(str, self.seeds))}"
            )
        return self._array(key)[:, self.seeds.index(int(q.seed))], 1, what

    # --- public API ----------------------------------------------------------------------------------
    def accuracy(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        *,
        dataset: str,
        split: str,
        epochs: int,
        seed: str | int,
    ) -> AccuracyResult:
        """Accuracy (%) of each arch; all four keywords are required (no silent defaults)."""
        q = validate_query(dataset, split, epochs, seed)
        idx = to_indices(archs)
        column, n_seeds, what = self._column(q)
        values = column[idx]
        missing = np.isnan(values)
        if missing.any():
            first = int(idx[np.argmax(missing)])
            raise OracleMiss(
                f"no value for arch {first} ({int(missing.sum())} of {idx.size} missing): {what}"
            )
        counts = n_seeds[idx] if isinstance(n_seeds, np.ndarray) else np.full(idx.size, n_seeds)
        return AccuracyResult(values=values.astype(np.float64, copy=False), n_seeds=counts.astype(np.int64))

    def available(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        *,
        dataset: str,
        split: str,
        epochs: int,
        seed: str | int,
    ) -> np.ndarray:
        """Boolean mask: where `accuracy` with the same arguments has a value (explicit, never a NaN)."""
        q = validate_query(dataset, split, epochs, seed)
        idx = to_indices(archs)
        try:
            column, _, _ = self._column(q)
        except OracleMiss:
            return np.zeros(idx.size, dtype=bool)
        return ~np.isnan(column[idx])

    def cost(self, archs: Sequence[ArchLike] | np.ndarray, *, dataset: str) -> dict[str, np.ndarray]:
        """params_m, flops_m (millions, benchmark network C=16 N=5) and train_time_per_epoch_s.

        The train time is that of the run behind the `test` split (for cifar10 the 50k-train run); cifar10
        adds
        `train_time_per_epoch_s_valid_run` (the 25k cifar10-valid run, whose accuracy is the valid split).
        """
        if dataset not in DATASETS:
            raise InputError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
        idx = to_indices(archs)
        out = {name: self._array(layout.cost_key(dataset, name))[idx] for name in COST_NAMES}
        extra = layout.cost_key(dataset, "train_time_per_epoch_s_valid_run")
        if extra in self._names:
            out["train_time_per_epoch_s_valid_run"] = self._array(extra)[idx]
        return out

    def frame(self) -> pd.DataFrame:
        """The whole table as a DataFrame (one row per index; columns `<dataset>_<split>_<epochs>ep`, n_seeds,
        costs). Per-seed values are not in the frame; use `accuracy(..., seed=...)`."""
        import pandas as pd

        from harness.spaces.nb201 import all_archs

        data: dict[str, Any] = {"index": np.arange(len(self._array(layout.mean_key(200, "cifar10", "test"))))}
        data["arch"] = [a.to_str() for a in all_archs()]
        for epochs in EPOCHS:
            for dataset in DATASETS:
                for split in ("valid", "test", "valtest"):
                    key = layout.mean_key(epochs, dataset, split)
                    if key in self._names:
                        data[f"{dataset}_{split}_{epochs}ep"] = self._array(key)
                        data[f"{dataset}_{split}_{epochs}ep_n_seeds"] = self._array(
                            layout.n_seeds_key(epochs, dataset, split)
                        )
        for dataset in DATASETS:
            for name in (*COST_NAMES, "train_time_per_epoch_s_valid_run"):
                key = layout.cost_key(dataset, name)
                if key in self._names:
                    data[f"{dataset}_{name}"] = self._array(key)
        return pd.DataFrame(data)


@lru_cache(maxsize=1)
def load_oracle() -> TableOracle:
    """The embedded oracle (loaded once per process)."""
    return TableOracle.from_package()
