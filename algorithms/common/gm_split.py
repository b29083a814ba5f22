"""GM-NAS gradient-matching split of one edge into two op groups (algorithms.md §3), reused by HEP-NAS.

Why: ops whose training pushes the *rest* of the supernet in similar directions can keep sharing weights; ops
whose gradients disagree should be separated. For edge e and each active op o on e, the supernet is run with
e's weights replaced by a one-hot probe on o (NB201, `--hard 1`), the CE gradient is collected, and two ops
are close when their gradients point the same way (d = 1 - cos). The ops are cut into the 2 groups of minimal
total intra-group distance.

Gradient vector: the space's (`SearchSpace.one_shot.gm_vector`, e.g. `harness/spaces/nb201/gm.py`), passed in
as `grad_vector`; each space defines which parameter gradients describe "the rest of the supernet".

Distance per batch: d(i, j) = 1 - <g_i, g_j> / (|g_i| |g_j| + 1e-6); averaged over the batches (repeats).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.common.config import GM_PROBES

COS_EPS = 1e-6
GradVectorFn = Callable[[nn.Module, int], Tensor]
"""(supernet after backward, probed edge) -> flat gradient vector (the space's `one_shot.gm_vector`)."""


def default_group0_sizes(num_ops: int) -> tuple[int, ...]:
    """Sizes tried for group 0: 5 ops -> (2,) (pairs vs the other 3); 7 ops -> (2, 3); generally 2..n//2."""
    if num_ops < 2:
        raise ValueError(f"cannot split {num_ops} op(s) into two groups")
    if num_ops < 4:
        return (1,)
    return tuple(range(2, num_ops // 2 + 1))


def intra_group_distance(distance: np.ndarray, group: Sequence[int]) -> float:
    """Sum of d(i, j) over unordered pairs i < j inside the group."""
    return float(sum(distance[i, j] for i, j in combinations(sorted(group), 2)))


def min_cut_two_groups(
    distance: np.ndarray, group0_sizes: Sequence[int] | None = None
) -> tuple[tuple[int, ...], tuple[int, ...], float]:
    """The 2 groups (of positions 0..n-1) minimising the total intra-group distance.

    Candidates for group 0 are all subsets with a size in `group0_sizes` (default `default_group0_sizes(n)`),
    enumerated by size then in itertools.combinations order; the first strict minimum wins, so ties are
    deterministic. Group 1 is the complement. Returns (group0, group1, cost), groups sorted ascending.
    """
    d = np.asarray(distance, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distance must be a square matrix, got shape {d.shape}")
    n = d.shape[0]
    sizes = tuple(group0_sizes) if group0_sizes is not None else default_group0_sizes(n)
    if not sizes or any(not 1 <= s <= n - 1 for s in sizes):
        raise ValueError(f"group-0 sizes must lie in 1..{n - 1}, got {sizes}")
    best: tuple[tuple[int, ...], tuple[int, ...], float] | None = None
    everything = set(range(n))
    for size in sizes:
        for g0 in combinations(range(n), size):
            g1 = tuple(sorted(everything - set(g0)))
            cost = intra_group_distance(d, g0) + intra_group_distance(d, g1)
            if best is None or cost < best[2]:
                best = (tuple(g0), g1, cost)
    assert best is not None
    return best


def cosine_distance_matrix(grads: Tensor) -> np.ndarray:
    """[k, D] gradient vectors -> [k, k] distances 1 - cos (1e-6 added to the norm product)."""
    g = grads.detach().double()
    norms = g.norm(dim=1)
    dots = g @ g.T
    cos = dots / (norms[:, None] * norms[None, :] + COS_EPS)
    return (1.0 - cos).cpu().numpy()


def probe_weights(base: Tensor, edge: int, op: int, probe: str = "one_hot") -> Tensor:
    """Copy of `base` ([..., E, O]) with edge `edge` zeroed except op `op`, which gets weight 1 (`one_hot`: the
    NB201 code's `--hard 1`) or keeps its current mixture weight (`alpha`: the DARTS-space code)."""
    if probe not in GM_PROBES:
        raise ValueError(f"probe must be one of {GM_PROBES}, got {probe!r}")
    w = base.detach().clone()
    w[..., edge, :] = 0.0
    w[..., edge, op] = 1.0 if probe == "one_hot" else base[..., edge, op].detach()
    return w


def _bn_buffers(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.named_buffers()}


@dataclass(frozen=True)
class EdgeSplit:
    """Result of splitting one edge: groups as canonical op indices (group 0 first), the averaged distance."""

    edge: int
    ops: tuple[int, ...]  # active ops on the edge, the rows/cols of `distance`
    groups: tuple[tuple[int, ...], tuple[int, ...]]
    distance: np.ndarray
    cut_cost: float


def gradient_distance(
    supernet: nn.Module,
    base_weights: Tensor,
    active_mask: Tensor,
    edge: int,
    batches: Iterable[tuple[Tensor, Tensor]],
    grad_vector: GradVectorFn,
    probe: str = "one_hot",
) -> tuple[tuple[int, ...], np.ndarray, int]:
    """Average 1 - cos distance between the one-hot probes of every active op on `edge`.

    The supernet runs in train mode (algorithms.md §3); its BN buffers are restored afterwards so probing does
    not change the supernet the caller keeps training, and parameter gradients are cleared. Returns (ops,
    distance, forwards). Raises ValueError when no batch is given.
    """
    ops = tuple(int(o) for o in torch.nonzero(active_mask[edge]).flatten().tolist())
    if len(ops) < 2:
        raise ValueError(f"edge {edge} has {len(ops)} active op(s); nothing to split")
    was_training = supernet.training
    buffers = _bn_buffers(supernet)
    supernet.train()
    total = np.zeros((len(ops), len(ops)), dtype=np.float64)
    repeats = 0
    forwards = 0
    try:
        for x, y in batches:
            vectors = []
            for o in ops:
                supernet.zero_grad(set_to_none=True)
                w = probe_weights(base_weights, edge, o, probe)
                logits = supernet(x, w, active_mask)
                F.cross_entropy(logits, y).backward()
                vectors.append(grad_vector(supernet, edge).detach().clone())
                forwards += 1
            total += cosine_distance_matrix(torch.stack(vectors))
            repeats += 1
    finally:
        supernet.zero_grad(set_to_none=True)
        with torch.no_grad():
            for k, v in supernet.named_buffers():
                v.copy_(buffers[k])
        supernet.train(was_training)
    if repeats == 0:
        raise ValueError("gradient matching needs at least one batch")
    return ops, total / repeats, forwards


def gm_split_edge(
    supernet: nn.Module,
    base_weights: Tensor,
    active_mask: Tensor,
    edge: int,
    batches: Iterable[tuple[Tensor, Tensor]],
    grad_vector: GradVectorFn,
    group0_sizes: Sequence[int] | None = None,
    probe: str = "one_hot",
) -> tuple[EdgeSplit, int]:
    """Gradient-match edge `edge` and cut its active ops into 2 groups. Returns (split, forwards used)."""
    ops, dist, forwards = gradient_distance(
        supernet, base_weights, active_mask, edge, batches, grad_vector, probe
    )
    g0, g1, cost = min_cut_two_groups(dist, group0_sizes)
    groups = (tuple(ops[i] for i in g0), tuple(ops[i] for i in g1))
    return EdgeSplit(edge=edge, ops=ops, groups=groups, distance=dist, cut_cost=cost), forwards
