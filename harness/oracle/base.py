"""Vocabulary shared by every NB201 ground-truth oracle: datasets, splits, epochs, seed policy, typed errors.

Why this module exists: the public benchmark APIs silently default to 12-epoch results and a random seed, and
CIFAR-10 "valid" and "test" come from two different training runs (design.md §9, pitfalls 2-5). Here every
query names all four choices, and the mapping from our (dataset, split) to the benchmark's own
(dataset, eval-set) names lives in ONE function, `benchmark_key`.

Nothing here imports torch or pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, Union

import numpy as np

from harness.errors import InputError
from harness.spaces.nb201 import NUM_ARCHS, NB201Arch

Dataset = Literal["cifar10", "cifar100", "imagenet16-120"]
Split = Literal["valid", "test", "valtest"]
Epochs = Literal[200, 12]
SeedPolicy = Union[Literal["mean"], int]  # noqa: UP007 (a runtime alias; `|` on a Literal is fine too)

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
SPLITS: tuple[str, ...] = ("valid", "test", "valtest")
EPOCHS: tuple[int, ...] = (200, 12)
BENCHMARK_SEEDS: tuple[int, ...] = (777, 888, 999)
"""Seeds of the 200-epoch runs (every arch has 777 and 888; 8,169 also have 999)."""

ArchLike = Union[NB201Arch, int, np.integer]  # noqa: UP007


class OracleMiss(InputError, LookupError):
    """The oracle has no value for this question (a missing seed, per-seed CIFAR-10 test, ...).

    A `LookupError` for library callers and an `InputError` so that the CLI answers exit 2 in one line.
    """


class OracleUnavailable(InputError):
    """No ground-truth oracle exists for this space (the DARTS space) or the named file cannot serve."""


@dataclass(frozen=True)
class AccuracyResult:
    """Accuracies (%) in the order asked, and how many seeds stand behind each value."""

    values: np.ndarray  # float64 [n]
    n_seeds: np.ndarray  # int64 [n]


@dataclass(frozen=True)
class Query:
    """A validated (dataset, split, epochs, seed) tuple."""

    dataset: str
    split: str
    epochs: int
    seed: str | int


def benchmark_key(dataset: str, split: str) -> tuple[str, str]:
    """Our (dataset, split) -> the benchmark's (dataset name, eval-set name). The one mapping function.

    cifar10 valid is the `cifar10-valid` run (trained on the 25k train half, evaluated on the 25k valid half,
    `x-valid`); cifar10 test is the `cifar10` run (trained on all 50k, evaluated on the 10k test set,
    `ori-test`). For CIFAR-100 and ImageNet16-120 valid / test are the `x-valid` / `x-test` halves of the test
    set and `valtest` is the whole test set (`ori-test`), all from one run.
    """
    if dataset == "cifar10":
        if split == "valid":
            return "cifar10-valid", "x-valid"
        if split == "test":
            return "cifar10", "ori-test"
        raise InputError(f"split {split!r} does not exist for cifar10; allowed: valid, test")
    names = {"cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
    if dataset not in names:
        raise InputError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    evals = {"valid": "x-valid", "test": "x-test", "valtest": "ori-test"}
    if split not in evals:
        raise InputError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    return names[dataset], evals[split]


def benchmark_dataset(dataset: str) -> str:
    """The benchmark's dataset name whose networks/costs stand for `dataset` (cifar10 -> the 50k run)."""
    return benchmark_key(dataset, "test")[0]


def validate_query(dataset: object, split: object, epochs: object, seed: object) -> Query:
    """Check the four required choices; raise `InputError` naming the bad value and what is allowed."""
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    benchmark_key(str(dataset), str(split))  # rejects cifar10 valtest
    if isinstance(epochs, bool) or epochs not in EPOCHS:
        raise InputError(f"epochs must be 200 or 12, got {epochs!r}")
    if seed != "mean" and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise InputError(f"seed policy must be 'mean' or an integer seed, got {seed!r}")
    return Query(str(dataset), str(split), int(epochs), seed if seed == "mean" else int(seed))  # type: ignore[arg-type]


def parse_seed_policy(text: str) -> str | int:
    """CLI helper: 'mean' or an integer."""
    value = text.strip().lower()
    if value == "mean":
        return "mean"
    try:
        return int(value)
    except ValueError:
        raise InputError(f"seed must be 'mean' or an integer, got {text!r}") from None


def to_indices(archs: Sequence[ArchLike] | np.ndarray) -> np.ndarray:
    """Benchmark indices (int64 array) of a sequence of `NB201Arch` or indices; integer arrays pass
    through."""
    if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
        idx = archs.astype(np.int64, copy=False).reshape(-1)
    else:
        out = np.empty(len(archs), dtype=np.int64)
        for i, a in enumerate(archs):
            if isinstance(a, NB201Arch):
                out[i] = a.index
            elif isinstance(a, int | np.integer) and not isinstance(a, bool):
                out[i] = int(a)
            else:
                raise InputError(f"expected an NB201Arch or a benchmark index, got {a!r}")
        idx = out
    if idx.size and (idx.min() < 0 or idx.max() >= NUM_ARCHS):
        bad = idx[(idx < 0) | (idx >= NUM_ARCHS)][0]
        raise InputError(f"NB201 index must be in 0..{NUM_ARCHS - 1}, got {int(bad)}")
    return idx


class Oracle(Protocol):
    """What every NB201 ground-truth source offers (embedded table or an official file)."""

    @property
    def sha256(self) -> str: ...

    @property
    def description(self) -> str: ...

    def accuracy(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        *,
        dataset: str,
        split: str,
        epochs: int,
        seed: str | int,
    ) -> AccuracyResult: ...

    def available(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        *,
        dataset: str,
        split: str,
        epochs: int,
        seed: str | int,
    ) -> np.ndarray: ...

    def cost(self, archs: Sequence[ArchLike] | np.ndarray, *, dataset: str) -> dict[str, np.ndarray]: ...
