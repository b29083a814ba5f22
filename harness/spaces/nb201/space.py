"""The NAS-Bench-201 space as a `SearchSpace` object: values, one-shot adapter, enumeration, table judge.

Everything NB201-specific that general code needs is answered here; the heavy parts (torch modules, the
ground-truth table) are imported only when asked for, so resolving the space stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache
from itertools import product
from typing import Any

import numpy as np

from harness.spaces.base import SearchSpace
from harness.spaces.nb201 import inspect as nb201_inspect
from harness.spaces.nb201 import query as nb201_query
from harness.spaces.nb201.arch import (
    EDGES,
    HIERARCHIES,
    NUM_ARCHS,
    NUM_EDGES,
    NUM_NODES,
    NUM_OPS,
    OPS,
    NB201Arch,
    all_archs,
    arch_in_region,
    connected_mask,
    parse_arch,
    region_size,
)

NAME = "nb201"
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
GT_EPOCHS = 200
GT_SEED = "mean"
GT_SPLITS: tuple[str, ...] = ("valid", "test")
_NONE = OPS.index("none")


class NB201Values:
    """NB201 architecture values: 6 op names in the benchmark's edge order."""

    arch_type = NB201Arch

    def parse(self, token: str) -> NB201Arch:
        return parse_arch(token)

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return NB201Arch.from_codes(tuple(int(c) for c in rng.integers(0, NUM_OPS, NUM_EDGES)))

    def mutate(self, arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        codes = list(arch.codes)
        edge = int(rng.integers(NUM_EDGES))
        codes[edge] = int(rng.choice([o for o in range(NUM_OPS) if o != codes[edge]]))
        return NB201Arch.from_codes(tuple(codes))

    def is_valid(self, arch: Any) -> bool:
        return isinstance(arch, NB201Arch)

    def decisions(self, arch: NB201Arch) -> tuple[str, ...]:
        return arch.ops


class NB201OneShot:
    """The NB201 one-shot adapter: one cell type, 6 edges x 5 ops, per-edge argmax derivation."""

    ops = OPS
    edge_names = tuple(f"e{e}" for e in range(NUM_EDGES))
    cell_edges = (tuple(range(NUM_EDGES)),)
    hierarchies = HIERARCHIES
    selection_rule = "per-edge argmax of masked softmax(alpha), none allowed"

    @property
    def num_edges(self) -> int:
        return NUM_EDGES

    @property
    def num_ops(self) -> int:
        return NUM_OPS

    def full_mask(self) -> np.ndarray:
        return np.ones((NUM_EDGES, NUM_OPS), dtype=bool)

    def region_size(self, mask: np.ndarray) -> int:
        return region_size(mask)

    def in_region(self, arch: NB201Arch, mask: np.ndarray) -> bool:
        return arch_in_region(arch, mask)

    def region_archs(self, mask: np.ndarray) -> list[NB201Arch]:
        """Every architecture inside the region, in product order (edge 0 slowest, ops ascending)."""
        m = np.asarray(mask, dtype=bool)
        per_edge = [np.flatnonzero(m[e]).tolist() for e in range(NUM_EDGES)]
        return [NB201Arch.from_codes(codes) for codes in product(*per_edge)]

    def derive(self, weights: np.ndarray, mask: np.ndarray) -> NB201Arch:
        """Per-edge argmax of the masked-softmax weights (`none` allowed; ties to the lower op index)."""
        w = np.where(np.asarray(mask, dtype=bool), np.asarray(weights), -np.inf)
        return NB201Arch.from_codes(tuple(int(c) for c in w.argmax(axis=-1)))

    def arch_weights(self, arch: NB201Arch) -> np.ndarray:
        out = np.zeros((NUM_EDGES, NUM_OPS), dtype=np.float32)
        out[np.arange(NUM_EDGES), list(arch.codes)] = 1.0
        return out

    def sample_arch(self, mask: np.ndarray, generator: Any) -> NB201Arch:
        """One uniform op per edge among the region's active ops (no connectivity check)."""
        import torch

        probs = torch.as_tensor(np.asarray(mask, dtype=bool), dtype=torch.float32, device=generator.device)
        return self.arch_from_op_indices(torch.multinomial(probs, 1, generator=generator).squeeze(1).tolist())

    def arch_from_op_indices(self, codes: Sequence[int]) -> NB201Arch:
        """The architecture with op `codes[e]` on edge e (a single path of the supernet)."""
        return NB201Arch.from_codes(tuple(int(c) for c in codes))

    def op_indices(self, arch: NB201Arch) -> tuple[int, ...]:
        return arch.codes

    def path_connected(self, codes: Sequence[int]) -> bool:
        """True if the single path `codes` (op index per edge) has a non-`none` route input -> output."""
        reachable = [True] + [False] * (NUM_NODES - 1)
        for e, (dst, src) in enumerate(EDGES):
            if codes[e] != _NONE and reachable[src]:
                reachable[dst] = True
        return reachable[-1]

    def region_has_connected(self, mask: np.ndarray) -> bool:
        """True if some cell inside the region connects input and output through non-`none` ops."""
        usable = np.asarray(mask, dtype=bool)[:, [o for o in range(NUM_OPS) if o != _NONE]].any(axis=1)
        reachable = [True] + [False] * (NUM_NODES - 1)
        for e, (dst, src) in enumerate(EDGES):
            if usable[e] and reachable[src]:
                reachable[dst] = True
        return reachable[-1]

    def build_supernet(self, *, num_classes: int, C: int, N: int, affine: bool, track_running_stats: bool) -> Any:
        from harness.spaces.nb201.supernet import NB201Supernet

        return NB201Supernet(
            num_classes=num_classes, C=C, N=N, affine=affine, track_running_stats=track_running_stats
        )

    engines = ("fused", "autograd")
    """Supernet cell arithmetic (optional capability, used by `nas-harness bench`): "fused" = the hand-written
    CPU engine (harness/spaces/nb201/cell_engine.py), "autograd" = torch ops under autograd, the engine before
    issue 14 and the one used on GPU and under autocast."""

    def supernet_engine(self, name: str) -> Any:
        """Context manager: inside, NB201 supernets compute with engine `name` (one of `engines`)."""
        from harness.spaces.nb201.supernet import engine

        return engine(name)

    def build_fixed_network(
        self, arch: NB201Arch, supernet: Any, *, num_classes: int, C: int, N: int, affine: bool,
        track_running_stats: bool,
    ) -> Any:
        from harness.spaces.nb201.network import NB201Network, load_from_supernet

        net = NB201Network(
            arch, num_classes=num_classes, C=C, N=N, affine=affine, track_running_stats=track_running_stats
        )
        return load_from_supernet(net.to(next(supernet.parameters()).dtype), supernet)

    def gm_vector(self, supernet: Any, edge: int) -> Any:
        from harness.spaces.nb201.gm import gm_vector

        return gm_vector(supernet, edge)


class NB201Trainer:
    """The benchmark network (stem, 3 stages of N cells, residual reductions; no auxiliary head, no drop-path)."""

    def build_network(self, arch: NB201Arch, *, num_classes: int, C: int, N: int, auxiliary: bool) -> Any:
        from harness.spaces.nb201.network import NB201Network

        return NB201Network(arch, num_classes=num_classes, C=C, N=N)

    def set_drop_path(self, network: Any, probability: float) -> None:
        """NB201 networks have no drop-path (the benchmark's recipe uses none)."""


class NB201Enumeration:
    """Benchmark index <-> architecture through the packaged official list; named arch sets."""

    num_archs = NUM_ARCHS

    def index(self, arch: NB201Arch) -> int:
        return arch.index

    def from_index(self, index: int) -> NB201Arch:
        return NB201Arch.from_index(index)

    def arch_set(self, name: str) -> tuple[int, ...]:
        if name == "all":
            return tuple(range(NUM_ARCHS))
        if name == "connected":
            return tuple(int(i) for i in np.flatnonzero(connected_mask()))
        if name == "noniso":
            return _noniso_indices()
        raise ValueError(f"unknown arch set {name!r}; allowed: all, connected, noniso")


@lru_cache(maxsize=1)
def _noniso_indices() -> tuple[int, ...]:
    """The smallest index of each of the 6,466 isomorphism classes."""
    seen: dict[str, int] = {}
    for i, arch in enumerate(all_archs()):
        seen.setdefault(arch.isomorph_key(), i)
    return tuple(sorted(seen.values()))


class NB201TableJudge:
    """The embedded NAS-Bench-201 table (NATS-tss): 200-epoch seed means, for valid and test."""

    name = "nb201-table"
    kind = "benchmark"
    label = "NAS-Bench-201 ground truth (200 epochs, seed mean)"
    epochs = GT_EPOCHS

    @cached_property
    def _oracle(self) -> Any:
        from harness.oracle.table import load_oracle

        return load_oracle()

    @property
    def sha256(self) -> str:
        return str(self._oracle.sha256)

    def targets(self, eval_datasets: Sequence[str]) -> tuple[tuple[str, str], ...]:
        return tuple((d, s) for d in eval_datasets for s in GT_SPLITS)

    def accuracy(self, archs: Sequence[Any], *, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        res = self._oracle.accuracy(list(archs), dataset=dataset, split=split, epochs=GT_EPOCHS, seed=GT_SEED)
        return np.asarray(res.values, dtype=np.float64), np.asarray(res.n_seeds)

    @property
    def oracle(self) -> Any:
        """The full oracle (for algorithms that declare uses_oracle, e.g. random search)."""
        return self._oracle


SPACE = SearchSpace(
    name=NAME,
    description="NAS-Bench-201 cell: 4 nodes, 6 edges, 5 ops (15,625 cells), C=16 N=5 benchmark network",
    datasets=DATASETS,
    values=NB201Values(),
    judge=NB201TableJudge(),
    one_shot=NB201OneShot(),
    enumeration=NB201Enumeration(),
    inspector=nb201_inspect,
    querier=nb201_query,
    trainer=NB201Trainer(),
)
