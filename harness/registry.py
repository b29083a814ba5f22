"""Name -> "module:Class" registry, imported lazily.

Why strings: `harness/` must never import a concrete algorithm (algorithms depend on the harness, not the
other way), and listing algorithms must not import torch. A name is resolved only when a run needs that class,
so there is no `if algo == ...` ladder and no eager dict of instantiated objects (design.md section 11.2).

Tests may register extra entries temporarily with `registered(name, target)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.errors import InputError

ALGORITHMS: dict[str, str] = {
    "darts": "algorithms.darts:Darts",
    "spos": "algorithms.spos:Spos",
    "fewshot": "algorithms.fewshot:FewShot",
    "hepnas": "algorithms.hepnas:HepNas",
    "random_search": "algorithms.random_search:RandomSearch",
}

JOBS: dict[str, str] = {
    "train": "algorithms.train:TrainFromScratch",
}
"""Runs that use the algorithm contract but are not search methods (never part of `compare`)."""

BENCHMARKS: dict[str, str] = {
    "score": "algorithms.common.scoring_bench:bench_score",
}
"""Timings of algorithm code that `nas-harness bench` runs (resolved like algorithms, by name)."""


def resolve_benchmark(name: str) -> Any:
    """The benchmark function registered under `name` (imported now)."""
    return _import_target(BENCHMARKS[name])


DEFAULT_SPACE = "nb201"
"""The space a command uses when none is named."""

SPACES: dict[str, str] = {
    "nb201": "harness.spaces.nb201.space:SPACE",
    "darts": "harness.spaces.darts.space:SPACE",
    "darts-s5": "harness.spaces.darts.space:SPACE_S5",
}


def algorithm_names() -> tuple[str, ...]:
    return tuple(ALGORITHMS)


def check_algorithm(name: str, *, jobs: bool = False) -> str:
    """`name` if it is a registered algorithm (or, with jobs=True, a job such as `train`)."""
    if name not in ALGORITHMS and not (jobs and name in JOBS):
        raise InputError(f"unknown algorithm {name!r}; allowed: {', '.join(ALGORITHMS)}")
    return name


def check_space(name: str) -> str:
    if name not in SPACES:
        raise InputError(f"unknown search space {name!r}; allowed: {', '.join(SPACES)}")
    return name


def resolve_space(name: str) -> Any:
    """The `SearchSpace` object registered under `name` (imported now)."""
    return _import_target(SPACES[check_space(name)])


def algorithm_target(name: str) -> str:
    return {**ALGORITHMS, **JOBS}[check_algorithm(name, jobs=True)]


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    if not attr:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"{target}: module {module_name} defines no {attr}") from None


def resolve_algorithm(name: str) -> type:
    """The algorithm class registered under `name` (imported now). Unknown name -> InputError listing
    allowed."""
    target = algorithm_target(name)
    cls = _import_target(target)
    for attr in ("name", "Config", "uses_oracle", "requires", "search"):
        if not hasattr(cls, attr):
            raise TypeError(f"{target} does not implement the Algorithm protocol (missing {attr!r})")
    return cls


def algorithm_config_class(name: str) -> type:
    """The frozen Config dataclass of algorithm `name` (class attribute `Config`)."""
    return resolve_algorithm(name).Config


@contextmanager
def registered(name: str, target: str) -> Iterator[None]:
    """Register `name -> target` for the duration of a `with` block (tests: fake or leaking algorithms)."""
    previous = ALGORITHMS.get(name)
    ALGORITHMS[name] = target
    try:
        yield
    finally:
        if previous is None:
            del ALGORITHMS[name]
        else:
            ALGORITHMS[name] = previous
