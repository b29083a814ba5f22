"""The search-space protocol: what an algorithm, the runner, the CLI and the reports may ask of a space.

Why a protocol and capabilities: NB201 and the DARTS space answer different questions. NB201 can be enumerated
(15,625 cells with a benchmark index) and judged by a table; the DARTS space can be neither, but it has a
surrogate judge and a cell with two cell types. Code outside `harness/spaces/<name>/` receives a
`SearchSpace` object and asks it for a capability; asking for one the space does not have is refused with a
one-line `InputError` (exit 2) before any work, e.g. `random_search` on the DARTS space.

Capabilities (attributes of `SearchSpace`; `None` when absent):

* `values` (`ArchValues`): the architecture type (frozen, hashable, canonical text form `to_str()`), a safe
  parser for user input (never `eval`), uniform sampling and one-decision mutation from a numpy Generator,
  validity.
* `one_shot` (`OneShotAdapter`): what a weight-sharing algorithm needs. Op names and edges, flattened over
  cell types (NB201: 6 edges of one cell; DARTS: 14 normal-cell edges, then 14 reduction-cell edges), so the
  architecture parameters, op weights and active-op masks all have shape `[num_edges, num_ops]`. Region size
  and membership of a mask; HEP-NAS hierarchies (flattened edge indices into each intermediate node, per cell
  type that is split); the derivation rule from masked-softmax weights; the weight-sharing supernet
  (`forward(x, op_weights, active_mask)`; masked ops and ops of weight exactly 0 are never computed); the
  fixed network of an architecture on the supernet's skeleton (for the one-hot equivalence test); the
  gradient-matching (GM) vector of an edge. Torch is imported only inside the methods that build modules.
* `single_path` (`SinglePathAdapter`, a one-shot adapter with more): one active op per edge *is* an
  architecture (NB201; not the DARTS space, whose cells keep 2 of each node's incoming edges). SPOS-style
  uniform path sampling, connectivity rejection and path <-> architecture conversion need it.
* `enumeration` (`Enumeration`): a finite, indexed space (NB201): index <-> architecture, the named arch
  sets `all` / `connected` / `noniso` used by rank evaluation.
* `trainable` (`Trainer`): the evaluation network of an architecture, for training from scratch
  (`nas-harness train`): NB201's benchmark network, the DARTS evaluation network with its auxiliary head.
* `judge` (`Judge`): what the harness may say about an architecture's accuracy: a benchmark table, a
  surrogate (its numbers always carry its label) or nothing (`kind == "none"`). Its `sha256` enters the run
  id of every run in the space.

Nothing here imports torch, so `query` and `status` stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.errors import InputError

CAPABILITIES: tuple[str, ...] = ("values", "one_shot", "single_path", "enumeration", "judge", "trainable")


class CapabilityMissing(InputError):
    """An algorithm or command asked a space for a capability it does not have."""


@runtime_checkable
class ArchValues(Protocol):
    """Architecture values of a space."""

    arch_type: type

    def parse(self, token: str) -> Any:
        """An architecture from user text (InputError with a one-line message on anything else)."""
        ...

    def sample(self, rng: np.random.Generator) -> Any: ...

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        """A valid architecture that differs from `arch` in exactly one decision."""
        ...

    def is_valid(self, arch: Any) -> bool: ...

    def decisions(self, arch: Any) -> tuple[Any, ...]:
        """The architecture's decisions in a fixed order (one entry per choice), for the mutation test."""
        ...


@runtime_checkable
class OneShotAdapter(Protocol):
    """What weight-sharing algorithms ask; every array is `[num_edges, num_ops]` in the space's edge order."""

    ops: tuple[str, ...]
    edge_names: tuple[str, ...]
    cell_edges: tuple[tuple[int, ...], ...]  # the edges of each cell type (NB201: one cell type)
    hierarchies: tuple[tuple[int, ...], ...]
    selection_rule: str

    @property
    def num_edges(self) -> int: ...

    @property
    def num_ops(self) -> int: ...

    def full_mask(self) -> np.ndarray: ...

    def region_size(self, mask: np.ndarray) -> int: ...

    def in_region(self, arch: Any, mask: np.ndarray) -> bool: ...

    def derive(self, weights: np.ndarray, mask: np.ndarray) -> Any:
        """The architecture the space's derivation rule reads from masked-softmax op weights."""
        ...

    def arch_weights(self, arch: Any) -> np.ndarray:
        """float32 one-hot op weights of `arch` (rows of edges the arch does not use are all zero)."""
        ...

    def sample_arch(self, mask: np.ndarray, generator: Any) -> Any:
        """An architecture inside the region `mask`, drawn with the torch generator (uniform per decision)."""
        ...

    def build_supernet(self, *, num_classes: int, C: int, N: int, affine: bool, track_running_stats: bool) -> Any:
        """The weight-sharing supernet (`num_cells` searched cells; N = searched cells per stage)."""
        ...

    def build_fixed_network(
        self, arch: Any, supernet: Any, *, num_classes: int, C: int, N: int, affine: bool, track_running_stats: bool
    ) -> Any:
        """The fixed network of `arch` on the supernet's skeleton, holding copies of `supernet`'s weights."""
        ...

    def gm_vector(self, supernet: Any, edge: int) -> Any:
        """Flat gradient vector for a GM probe on `edge`, after backward (equal layout for every probe)."""
        ...


@runtime_checkable
class SinglePathAdapter(OneShotAdapter, Protocol):
    """A one-shot adapter whose single paths (one op per edge) are architectures."""

    def arch_from_op_indices(self, codes: Sequence[int]) -> Any: ...

    def op_indices(self, arch: Any) -> tuple[int, ...]: ...

    def path_connected(self, codes: Sequence[int]) -> bool:
        """True if the path is a usable network (NB201: a non-`none` route from input to output)."""
        ...

    def region_has_connected(self, mask: np.ndarray) -> bool: ...

    def region_archs(self, mask: np.ndarray) -> list[Any]:
        """Every architecture inside the region (product order)."""
        ...


@runtime_checkable
class Enumeration(Protocol):
    """A finite, indexed space."""

    num_archs: int

    def index(self, arch: Any) -> int: ...

    def from_index(self, index: int) -> Any: ...

    def arch_set(self, name: str) -> tuple[int, ...]:
        """Ascending indices of a named set: all | connected | noniso (ValueError otherwise)."""
        ...


@runtime_checkable
class Judge(Protocol):
    """What the harness may say about an architecture's accuracy, and how its numbers must be labelled."""

    name: str
    kind: str  # "benchmark" | "surrogate" | "none"
    label: str
    epochs: int | None  # the training length its numbers refer to

    @property
    def sha256(self) -> str: ...

    def targets(self, eval_datasets: Sequence[str]) -> tuple[tuple[str, str], ...]:
        """The (dataset, split) pairs it can answer for these eval data sets, in report order."""
        ...

    def accuracy(self, archs: Sequence[Any], *, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy %, n_seeds) per arch; n_seeds is 0 for a surrogate's prediction."""
        ...


@runtime_checkable
class Trainer(Protocol):
    """Builds the network an architecture is trained from scratch with."""

    def build_network(self, arch: Any, *, num_classes: int, C: int, N: int, auxiliary: bool) -> Any:
        """A torch module whose forward gives logits, or (logits, auxiliary logits or None)."""
        ...

    def set_drop_path(self, network: Any, probability: float) -> None: ...


@runtime_checkable
class NetworkInspector(Protocol):
    """Builds an architecture's network for `inspect` (a module of the space: DATASETS, inspect, render)."""

    DATASETS: tuple[str, ...]

    def inspect(self, arch: Any, dataset: str) -> dict[str, Any]: ...

    def render(self, report: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class NoJudge:
    """A space with nothing to say about accuracy: every number is n/a."""

    name: str = "none"
    kind: str = "none"
    label: str = "n/a (no judge for this space)"
    epochs: int | None = None

    @property
    def sha256(self) -> str:
        return "n/a"

    def targets(self, eval_datasets: Sequence[str]) -> tuple[tuple[str, str], ...]:
        return ()

    def accuracy(self, archs: Sequence[Any], *, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        raise InputError("this search space has no judge: its accuracies are n/a")


@dataclass(frozen=True)
class SearchSpace:
    """One registered search space: its name, the data sets it runs on, and its capabilities."""

    name: str
    description: str
    datasets: tuple[str, ...]
    values: ArchValues
    judge: Judge
    one_shot: OneShotAdapter | None = None
    enumeration: Enumeration | None = None
    facts: Any = None  # arch -> {name: number} recorded for final architectures (e.g. params_m), or None
    preset_section: str = ""  # the `[spaces.<key>]` preset sections it reads ("" = its name)
    inspector: Any = None  # a NetworkInspector (a module of the space: DATASETS, inspect, render)
    querier: Any = None  # the space's `query` command module (run(args) -> exit code)
    trainer: Trainer | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        have = {"values", "judge"} if self.judge.kind != "none" else {"values"}
        if self.one_shot is not None:
            have.add("one_shot")
            if isinstance(self.one_shot, SinglePathAdapter):
                have.add("single_path")
        if self.enumeration is not None:
            have.add("enumeration")
        if self.trainer is not None:
            have.add("trainable")
        return frozenset(have)

    def require(self, capability: str, who: str) -> Any:
        """The capability object, or CapabilityMissing naming who asked and what this space offers."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
        if capability not in self.capabilities:
            raise CapabilityMissing(
                f"{who} needs a search space with {capability!r}; space {self.name!r} offers "
                f"{', '.join(sorted(self.capabilities))}"
            )
        attribute = {"single_path": "one_shot", "trainable": "trainer"}.get(capability, capability)
        return getattr(self, attribute)

    @property
    def preset_key(self) -> str:
        return self.preset_section or self.name

    def check_dataset(self, dataset: str, what: str = "dataset") -> str:
        if dataset not in self.datasets:
            raise InputError(
                f"{what} {dataset!r} is not available in space {self.name!r}; allowed: {', '.join(self.datasets)}"
            )
        return dataset


def check_requirements(space: SearchSpace, requires: Sequence[str], who: str) -> None:
    """Refuse (exit 2) before any work when `space` lacks a capability `who` requires."""
    for capability in requires:
        space.require(capability, who)
