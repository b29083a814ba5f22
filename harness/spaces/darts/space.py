"""The DARTS search space as `SearchSpace` objects: genotype values, a one-shot adapter, the surrogate judge.

Two registered spaces share this code and differ only in the op set the supernet searches (the run's space
name records which): `darts` = the 8 DARTS primitives with `none` (quark0/darts), `darts-s5` = the 7 ops
without `none` that the HEP-NAS and GM-NAS code search. Genotype values and the judge are the same for both;
a genotype never holds `none` edges in practice (DARTS derivation skips `none`), but the 8-op space accepts one.

One-shot layout (harness.spaces.base): 28 edges = the 14 normal-cell edges, then the 14 reduction-cell edges;
HEP-NAS hierarchies are the normal cell's nodes only (the reduction cell is never split: algorithms.md §2.1).
The supernet's N is the number of normal cells per stage: layers = 3N + 2 (N=2 gives DARTS' 8 layers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.spaces.base import SearchSpace
from harness.spaces.darts import inspect as darts_inspect
from harness.spaces.darts import query as darts_query
from harness.spaces.darts.genotype import (
    CELL_TYPES,
    HIERARCHIES,
    NODE_EDGE_START,
    NUM_CELL_EDGES,
    OP_SETS,
    DartsGenotype,
    count_genotypes_in_region,
    derive_genotype,
    genotype_edge_ops,
    genotype_in_region,
    mutate_genotype,
    parse_genotype,
    sample_genotype,
)
from harness.spaces.darts.surrogate import SurrogateJudge

DATASETS: tuple[str, ...] = ("cifar10", "cifar100")


def layers_for(N: int) -> int:
    """Search-network layers for N normal cells per stage (two reduction cells between three stages)."""
    return 3 * N + 2


class DartsValues:
    """DARTS genotypes restricted to an op set (sampling and mutation never draw `none`)."""

    arch_type = DartsGenotype

    def __init__(self, op_set: str) -> None:
        self.op_set = op_set

    def parse(self, token: str) -> DartsGenotype:
        return parse_genotype(token).check_op_set(self.op_set)

    def sample(self, rng: np.random.Generator) -> DartsGenotype:
        return sample_genotype(rng, op_set="s5")

    def mutate(self, arch: DartsGenotype, rng: np.random.Generator) -> DartsGenotype:
        return mutate_genotype(arch, rng, op_set="s5")

    def is_valid(self, arch: Any) -> bool:
        if not isinstance(arch, DartsGenotype):
            return False
        try:
            arch.check_op_set(self.op_set)
        except ValueError:
            return False
        return True

    def decisions(self, arch: DartsGenotype) -> tuple[Any, ...]:
        return arch.decisions()


class DartsOneShot:
    """DARTS-space one-shot adapter over one op set."""

    hierarchies = HIERARCHIES
    selection_rule = (
        "per cell and node, the 2 incoming edges with the largest non-none weight of masked softmax(alpha), "
        "argmax non-none op on each (DARTS rule)"
    )

    def __init__(self, op_set: str) -> None:
        self.op_set = op_set
        self.ops: tuple[str, ...] = OP_SETS[op_set]
        self.edge_names = tuple(f"{cell}.e{e}" for cell in CELL_TYPES for e in range(NUM_CELL_EDGES))
        self.cell_edges = tuple(
            tuple(range(c * NUM_CELL_EDGES, (c + 1) * NUM_CELL_EDGES)) for c in range(len(CELL_TYPES))
        )

    @property
    def num_edges(self) -> int:
        return len(CELL_TYPES) * NUM_CELL_EDGES

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    def full_mask(self) -> np.ndarray:
        return np.ones((self.num_edges, self.num_ops), dtype=bool)

    def region_size(self, mask: np.ndarray) -> int:
        return count_genotypes_in_region(mask, self.ops)

    def in_region(self, arch: DartsGenotype, mask: np.ndarray) -> bool:
        return genotype_in_region(arch, mask, self.ops)

    def derive(self, weights: np.ndarray, mask: np.ndarray) -> DartsGenotype:
        return derive_genotype(weights, mask, self.ops)

    def arch_weights(self, arch: DartsGenotype) -> np.ndarray:
        out = np.zeros((self.num_edges, self.num_ops), dtype=np.float32)
        for c, cell in enumerate(CELL_TYPES):
            for e, op in genotype_edge_ops(arch, cell).items():
                out[c * NUM_CELL_EDGES + e, self.ops.index(op)] = 1.0
        return out

    def sample_arch(self, mask: np.ndarray, generator: Any) -> DartsGenotype:
        """A genotype inside the region: per cell and node, two distinct incoming edges drawn uniformly among
        those with an active non-`none` op, then one such op per chosen edge uniformly (uniform per decision,
        the DARTS-space single path). Draws come from the torch `generator`."""
        import torch

        m = np.asarray(mask, dtype=bool) & np.array([op != "none" for op in self.ops])
        cells: list[list[tuple[str, int]]] = []
        for c in range(len(CELL_TYPES)):
            pairs: list[tuple[str, int]] = []
            for k, edges in enumerate(HIERARCHIES):
                usable = [e for e in edges if m[c * NUM_CELL_EDGES + e].any()]
                if len(usable) < 2:
                    raise ValueError(f"node {k} of the {CELL_TYPES[c]} cell has fewer than 2 usable edges")
                order = torch.randperm(len(usable), generator=generator, device=generator.device)[:2].tolist()
                for e in sorted(usable[i] for i in order):
                    ops = np.flatnonzero(m[c * NUM_CELL_EDGES + e])
                    pick = int(torch.randint(len(ops), (1,), generator=generator, device=generator.device))
                    pairs.append((self.ops[int(ops[pick])], e - NODE_EDGE_START[k]))
            cells.append(pairs)
        return DartsGenotype(normal=tuple(cells[0]), reduce=tuple(cells[1]))

    def build_supernet(self, *, num_classes: int, C: int, N: int, affine: bool, track_running_stats: bool) -> Any:
        from harness.spaces.darts.supernet import DartsSupernet

        return DartsSupernet(
            num_classes=num_classes,
            ops=self.ops,
            C=C,
            layers=layers_for(N),
            affine=affine,
            track_running_stats=track_running_stats,
        )

    def build_fixed_network(
        self, arch: DartsGenotype, supernet: Any, *, num_classes: int, C: int, N: int, affine: bool,
        track_running_stats: bool,
    ) -> Any:
        from harness.spaces.darts.supernet import load_into_search_network

        return load_into_search_network(supernet, arch)

    def gm_vector(self, supernet: Any, edge: int) -> Any:
        from harness.spaces.darts.supernet import gm_vector

        return gm_vector(supernet, edge)


class DartsTrainer:
    """The DARTS CIFAR evaluation network (layers = 3N + 2; C=36, N=6 is the published 20-layer network) with
    its auxiliary head and drop-path."""

    def build_network(self, arch: DartsGenotype, *, num_classes: int, C: int, N: int, auxiliary: bool) -> Any:
        from harness.spaces.darts.network import DartsNetworkCIFAR

        return DartsNetworkCIFAR(arch, C=C, layers=layers_for(N), num_classes=num_classes, auxiliary=auxiliary)

    def set_drop_path(self, network: Any, probability: float) -> None:
        network.drop_path_prob = probability


def final_facts(genotype: DartsGenotype) -> dict[str, float]:
    """What reports show beside a DARTS-space search result: the CIFAR-10 evaluation network's parameters (M,
    auxiliary head excluded, as published) and the surrogate's percentile among 10,000 random cells."""
    from harness.spaces.darts.cost import count_params

    judge = SurrogateJudge()
    predicted = judge.predict([genotype])
    return {
        "params_m": float(count_params(genotype, "cifar10")),
        "surrogate_percentile": float(judge.percentile(predicted)[0]),
    }


def _space(name: str, op_set: str, description: str) -> SearchSpace:
    return SearchSpace(
        name=name,
        preset_section="darts",
        facts=final_facts,
        description=description,
        datasets=DATASETS,
        values=DartsValues(op_set),
        judge=SurrogateJudge(),
        one_shot=DartsOneShot(op_set),
        inspector=darts_inspect,
        querier=darts_query,
        trainer=DartsTrainer(),
    )


SPACE = _space(
    "darts", "darts", "DARTS cell: 2 cell types x 14 edges, 8 ops incl. none (quark0/darts); no tabular oracle"
)
SPACE_S5 = _space(
    "darts-s5", "s5", "DARTS cell with the 7-op set without none (HEP-NAS / GM-NAS `s5`); no tabular oracle"
)

