"""The public contract between the harness and search algorithms.

An algorithm is a class with a `name`, a frozen `Config` dataclass (its defaults live there and nowhere else) and
`search(space, ctx) -> SearchOutcome`. It reaches data, RNGs, device, logging, cost attribution and checkpoints only
through the `RunContext` the runner gives it. Weight-sharing algorithms never see ground truth: `ctx.oracle` is
None unless the algorithm class declares `uses_oracle = True` (the `UsesOracle` capability); the runner refuses an
algorithm that tries to reach the oracle otherwise.

Spaces: `search` receives a `harness.spaces.base.SearchSpace` object, never a name, and asks it for what it
needs (`space.one_shot`, `space.values`, ...). An algorithm declares the space capabilities it needs in
`requires`; the runner refuses (exit 2) a space that lacks one before any work. Architectures are the space's
values (frozen, hashable, `to_str()`), typed `Any` here.

Capabilities: an algorithm that can score architectures with its trained (sub-)supernets implements
`SupernetScorer.score`, so the harness (not the algorithm) can measure rank correlation on a set it fixes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from harness.spaces.base import SearchSpace

Arch = Any
"""An architecture value of the run's space (frozen, hashable, with a canonical `to_str()`)."""


@dataclass(frozen=True)
class SubSupernetOutcome:
    """One child (sub-supernet) of a split. Every child is recorded; `selected` marks the survivor explicitly."""

    stage: int
    child: int
    partition: str  # e.g. "e1={skip_connect,nor_conv_3x3} e2={none,nor_conv_1x1,avg_pool_3x3}"
    held_out_acc: float  # % top-1 on the whole held-out half (the selection criterion)
    selected: bool
    remaining_space: int  # number of architectures inside this child's region
    cost: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StageOutcome:
    """One stage of a staged algorithm: how many children were trained, which won, what space remains."""

    index: int
    children: int
    pick: int
    remaining_space: int
    pick_arch: Arch | None = None  # the arch the stage's winner would derive now, if defined
    cost: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchOutcome:
    final_arch: Arch
    selection_rule: str  # plain words, e.g. "per-edge argmax of masked softmax(alpha)"
    stages: tuple[StageOutcome, ...] = ()
    sub_supernets: tuple[SubSupernetOutcome, ...] = ()
    candidates: tuple[tuple[Arch, float], ...] = ()  # (arch, the algorithm's own score) it considered
    extras: dict[str, Any] = field(default_factory=dict)  # JSON-safe


@dataclass(frozen=True)
class WorkItem:
    """`count` steps of one kind in a method's search protocol (its `work_plan`), for the projected search cost
    (harness.projection): "train" = forward + backward + SGD on the supernet, "forward" = a no-grad forward;
    `active_ops` ops kept per edge (None: the full supernet, 1: a single path). `note` says what the step stands
    for and what it approximates."""

    phase: str
    kind: str  # "train" | "forward"
    count: int
    batch_size: int
    active_ops: int | None
    note: str


#: data protocols whose split has another name (few-shot NAS "public": weights on the training set, candidates
#: scored on the test set, as its released score files were made); every other protocol names its split
#: (harness.data.search.SEARCH_SPLITS: train_half, nb201_official, train_test)
PROTOCOL_SPLITS: dict[str, str] = {"public": "train_test"}


def protocol_split(protocol: str) -> str:
    """The data split a method's Config `data_protocol` uses (the runner loads that split)."""
    return PROTOCOL_SPLITS.get(protocol, protocol)


RANK_BN_PROTOCOLS: tuple[str, ...] = ("recalibrate", "native")


@dataclass(frozen=True)
class ScoringProtocol:
    """How `SupernetScorer.score` treats BatchNorm when the harness scores its rank-correlation set.

    Why one protocol: methods' native BN modes differ (batch statistics, running statistics gathered under the
    architecture mixture, cells that keep none), so a cross-method Kendall tau would compare BN modes, not
    methods. `recalibrate` (default): for each architecture, every BN's statistics are recomputed (cumulative
    average) from `calib_images` fixed, un-augmented weight-half images in batches of `calib_batch_size`, then
    the path is scored in eval mode; the supernet's own buffers are untouched. `native`: each method's own mode.
    The runner sets it as `ctx.scoring`; None (unit tests, an algorithm's own selection) means native.
    """

    bn: str = "recalibrate"
    calib_images: int = 2048
    calib_batch_size: int = 256


class OracleAccessRefused(RuntimeError):
    """A weight-sharing algorithm asked for ground truth."""


class RunContext(Protocol):
    """What the runner hands an algorithm. Implemented by `harness.context.LocalRunContext`."""

    seed: int
    device: Any  # torch.device
    artifact_dir: Path
    scoring: ScoringProtocol | None  # the rank-scoring protocol (set by the runner before `score`)

    @property
    def data(self) -> Any:  # harness.data.SearchData
        ...

    @property
    def oracle(self) -> Any:  # None unless the algorithm declares uses_oracle; else raises OracleAccessRefused
        ...

    def torch_generator(self, purpose: str) -> Any:
        """A torch.Generator on the run's device-independent CPU stream, seeded from (run seed, purpose)."""
        ...

    def numpy_rng(self, purpose: str) -> np.random.Generator: ...

    def log(self, step: int, phase: str, *, stage: int | None = None, child: int | None = None,
            epoch: int | None = None, **scalars: float) -> None:
        """Append scalars (one long-format row each) to records.csv."""
        ...

    def phase(self, name: str) -> AbstractContextManager[None]:
        """Attribute cost spent inside to phase `name` (nested names join with '/')."""
        ...

    def count(self, *, epochs: float = 0, steps: int = 0, images: int = 0, forwards: int = 0) -> None:
        """Add work counters to the current phase."""
        ...

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None: ...

    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        """The state saved under `name`, loaded with weights_only=True, or None."""
        ...

    def progress(self, iterable: Sequence[Any] | Iterator[Any], *, total: int | None = None,
                 desc: str = "") -> Iterator[Any]: ...


@runtime_checkable
class Algorithm(Protocol):
    name: ClassVar[str]
    Config: ClassVar[type]
    uses_oracle: ClassVar[bool]
    requires: ClassVar[tuple[str, ...]]  # space capabilities, e.g. ("one_shot",); see harness.spaces.base

    def __init__(self, config: Any) -> None: ...

    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome: ...


@runtime_checkable
class SupernetScorer(Protocol):
    """Scores architectures with the trained (sub-)supernet that owns each one (after `search`).

    Returns one score per arch (held-out top-1 %, higher = better), in input order. Also returns which supernet
    scored each arch via `owner` (e.g. "one-shot", "stage3/child2"), so per-stage correlation can be reported.
    """

    def score(self, archs: Sequence[Arch], ctx: RunContext) -> tuple[np.ndarray, list[str]]: ...


ProgressFn = Callable[[Iterator[Any]], Iterator[Any]]
