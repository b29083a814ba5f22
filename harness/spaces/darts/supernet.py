"""The DARTS-space weight-sharing supernet, its gradient-matching vector, and its one-hot discrete twin.

Contract (algorithms.md §1, design.md §4): `forward(x, op_weights, active_mask)` with `op_weights` and
`active_mask` of shape `[28, len(ops)]`: rows 0..13 the normal-cell edges, rows 14..27 the reduction-cell
edges, columns in the order of `ops`. Every cell of a type reads its type's rows (per-cell rows, shape
`[layers, 14, len(ops)]`, are also accepted for samplers that draw a path per cell). An edge outputs
sum_o w[e, o] * op_o(input); an op whose mask is False or whose weight is exactly 0 is never computed, and
`none` is never computed either (it adds an exact zero, and w * 0 passes no gradient to w). A node with nothing
computed on its incoming edges is a zero tensor of the node's shape. Gradients flow into `op_weights`.

Edge order (equal to the genotype module's): edge of (node k, input j) = EDGE_OFFSETS[k] + j, inputs 0/1 the
preprocessed cell inputs, j >= 2 node j-2.

Skeleton (repository quark0/darts, `cnn/model_search.py`, read for behaviour, not copied): stem 3x3 conv to
stem_multiplier*C + BN (always affine, tracking); reduction cells at layers//3 and 2*layers//3 doubling C;
preprocessing and ops with `affine` / `track_running_stats` (DARTS: affine=False); a non-affine BN after every
pooling op; output = concat of the 4 nodes; global average pool; linear classifier.

Why plain per-op modules (no fusion as in the NB201 supernet): every (cell layer, edge, op) owns its module
(`cells[i].edges[e].ops[o]`), so children of few-shot / HEP-NAS splits are a `copy.deepcopy` away and the GM
vector and the discrete twin can address one op's weights directly.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from harness.spaces.darts.network import DartsSearchNetwork, reduction_layers
from harness.spaces.darts.ops import OP_NAMES, make_search_op, preprocess

STEPS = 4
"""Intermediate nodes per cell."""
EDGE_OFFSETS: tuple[int, ...] = (0, 2, 5, 9)
"""First edge of each intermediate node; node k owns edges EDGE_OFFSETS[k] .. EDGE_OFFSETS[k] + k + 1."""
CELL_EDGES = 14
"""Edges of one cell."""
NUM_EDGES = 2 * CELL_EDGES
"""Rows of op_weights / active_mask: normal-cell edges, then reduction-cell edges."""


def edge_index(node: int, source: int) -> int:
    """Edge of (intermediate node `node`, input `source`) inside one cell (0..13)."""
    if not 0 <= node < STEPS or not 0 <= source < node + 2:
        raise ValueError(f"no edge from input {source} into node {node}")
    return EDGE_OFFSETS[node] + source


class MixedEdge(nn.Module):
    """All candidate ops of one edge, in the supernet's `ops` order (`ops[o]` is op o's module)."""

    def __init__(
        self, ops: Sequence[str], channels: int, stride: int, *, affine: bool, track_running_stats: bool
    ) -> None:
        super().__init__()
        self.ops = nn.ModuleList(
            make_search_op(name, channels, stride, affine=affine, track_running_stats=track_running_stats)
            for name in ops
        )


class SearchCell(nn.Module):
    """One supernet cell: preprocessing, 14 mixed edges, concat of the 4 nodes."""

    def __init__(
        self,
        ops: Sequence[str],
        c_prev_prev: int,
        c_prev: int,
        C: int,
        *,
        reduction: bool,
        reduction_prev: bool,
        affine: bool,
        track_running_stats: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.channels = C
        kw = {"affine": affine, "track_running_stats": track_running_stats}
        self.preprocess0 = preprocess(c_prev_prev, C, reduction_prev, **kw)
        self.preprocess1 = preprocess(c_prev, C, False, **kw)
        self.edges = nn.ModuleList(
            MixedEdge(ops, C, 2 if reduction and j < 2 else 1, **kw) for k in range(STEPS) for j in range(k + 2)
        )

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor, compute: list[list[int]]) -> Tensor:
        """`weights` [14, O]; `compute[e]` the op indices to run on edge e."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        n, _, h, w = states[1].shape
        if self.reduction:
            h, w = (h + 1) // 2, (w + 1) // 2
        for k in range(STEPS):
            total: Tensor | None = None
            for j in range(k + 2):
                e = EDGE_OFFSETS[k] + j
                edge = self.edges[e]
                for o in compute[e]:
                    y = weights[e, o] * edge.ops[o](states[j])
                    total = y if total is None else total + y
            if total is None:
                total = states[1].new_zeros(n, self.channels, h, w)
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The DARTS search network with per-edge op weights and an active-op mask (see the module docstring)."""

    def __init__(
        self,
        *,
        num_classes: int,
        ops: Sequence[str],
        C: int = 16,
        layers: int = 8,
        stem_multiplier: int = 3,
        affine: bool = False,
        track_running_stats: bool = True,
        checkpoint_cells: bool = True,
    ) -> None:
        super().__init__()
        self.checkpoint_cells = checkpoint_cells
        ops = tuple(ops)
        unknown = [o for o in ops if o not in OP_NAMES]
        if unknown or not ops or len(set(ops)) != len(ops):
            raise ValueError(f"ops must be distinct DARTS primitives ({', '.join(OP_NAMES)}), got {ops}")
        if layers < 3:
            raise ValueError(f"layers must be >= 3 (two reduction cells and a normal one), got {layers}")
        self.ops, self.C, self.layers, self.num_classes = ops, C, layers, num_classes
        self.stem_multiplier, self.affine, self.track_running_stats = stem_multiplier, affine, track_running_stats
        self._none = ops.index("none") if "none" in ops else -1
        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        reductions = reduction_layers(layers)
        self.cells = nn.ModuleList()
        c_prev_prev, c_prev, c_curr, reduction_prev = c_stem, c_stem, C, False
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            self.cells.append(
                SearchCell(
                    ops,
                    c_prev_prev,
                    c_prev,
                    c_curr,
                    reduction=reduction,
                    reduction_prev=reduction_prev,
                    affine=affine,
                    track_running_stats=track_running_stats,
                )
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, STEPS * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    @property
    def num_cells(self) -> int:
        """Searched cells (every layer is a cell; samplers drawing per cell need the count)."""
        return self.layers

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    def _cell_rows(self, op_weights: Tensor, active_mask: Tensor | None) -> tuple[list[Tensor], list[list[list[int]]]]:
        """Per cell: its [14, O] weights and, per edge, the op indices to compute (one host sync in all)."""
        n_ops = self.num_ops
        per_cell = op_weights.dim() == 3
        shape = (self.layers, CELL_EDGES, n_ops) if per_cell else (NUM_EDGES, n_ops)
        if tuple(op_weights.shape) != shape:
            raise ValueError(
                f"op_weights must have shape [{NUM_EDGES}, {n_ops}] or [{self.layers}, 14, {n_ops}], "
                f"got {list(op_weights.shape)}"
            )
        compute = op_weights.detach() != 0
        if active_mask is not None:
            if tuple(active_mask.shape) != shape:
                raise ValueError(
                    f"active_mask must have the shape of op_weights {list(shape)}, got {list(active_mask.shape)}"
                )
            compute = compute & active_mask.to(device=compute.device, dtype=torch.bool)
        if self._none >= 0:
            compute[..., self._none] = False
        rows = compute.cpu().tolist()
        weights: list[Tensor] = []
        plans: list[list[list[int]]] = []
        for i, cell in enumerate(self.cells):
            if per_cell:
                w, r = op_weights[i], rows[i]
            else:
                lo = CELL_EDGES if cell.reduction else 0
                w, r = op_weights[lo : lo + CELL_EDGES], rows[lo : lo + CELL_EDGES]
            weights.append(w)
            plans.append([[o for o in range(n_ops) if row[o]] for row in r])
        return weights, plans

    def forward(self, x: Tensor, op_weights: Tensor, active_mask: Tensor | None = None) -> Tensor:
        """Logits for `x` under op weights `[28, O]` (or `[layers, 14, O]`); `active_mask` None = all active.

        With gradients enabled and `checkpoint_cells` on, each cell is recomputed in the backward pass instead
        of keeping its activations (every op of every edge keeps its own: ~9.8 GB at batch 64, C=16, 8 layers on
        CPU). The recomputation is exact (same inputs, same RNG state, batch statistics in train mode) and does
        not touch BN running statistics or counters a second time (`_frozen_bn_stats`), so results are those of
        a plain forward; it costs one more forward per cell."""
        weights, plans = self._cell_rows(op_weights, active_mask)
        s0 = s1 = self.stem(x)
        checkpointing = self.checkpoint_cells and torch.is_grad_enabled()
        for cell, w, plan in zip(self.cells, weights, plans, strict=True):
            if checkpointing:
                out = checkpoint(
                    cell,
                    s0,
                    s1,
                    w,
                    plan,
                    use_reentrant=False,
                    context_fn=functools.partial(_recompute_contexts, cell),
                )
            else:
                out = cell(s0, s1, w, plan)
            s0, s1 = s1, out
        return self.classifier(self.global_pooling(s1).flatten(1))


@contextlib.contextmanager
def _frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Inside: BN layers in train mode normalise with batch statistics as usual but leave running statistics
    (momentum 0: running = 1 * running + 0 * batch, bit-exact) and num_batches_tracked as they were."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        if m.momentum is None:
            raise ValueError("checkpointed cells need BN layers with a momentum (not a cumulative average)")
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def _recompute_contexts(cell: nn.Module) -> tuple[contextlib.AbstractContextManager[None], Any]:
    """(forward context, recompute context) for torch.utils.checkpoint: the recomputation freezes BN stats."""
    return contextlib.nullcontext(), _frozen_bn_stats(cell)


def _grad(p: Tensor) -> Tensor:
    return (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)


def gm_vector(supernet: DartsSupernet, edge: int) -> Tensor:
    """GM gradient vector of a `DartsSupernet` after backward, for a probe on flattened edge `edge` (0..27).

    As the GM-NAS DARTS code's `get_split_gradients`: for every cell layer in order, the parameter gradients
    of every op on every edge, except the probed edge in the cells of the probed edge's type (edge < 14: normal
    cells, else reduction cells); cells of the other type contribute all 14 edges. Order: cell layer, edge,
    op (the supernet's `ops` order), then the op's `parameters()` order. Stem, preprocessing and classifier are
    excluded (algorithms.md §3). A missing gradient (op not computed in this probe) is zeros, so every probe
    gives a vector of the same layout; parameter-free ops contribute nothing.
    """
    if not 0 <= edge < NUM_EDGES:
        raise ValueError(f"edge must be in 0..{NUM_EDGES - 1}, got {edge}")
    probed_reduction, local = edge >= CELL_EDGES, edge % CELL_EDGES
    parts: list[Tensor] = []
    for cell in supernet.cells:
        for e, mixed in enumerate(cell.edges):
            if cell.reduction == probed_reduction and e == local:
                continue
            parts.extend(_grad(p) for p in mixed.parameters())
    return torch.cat(parts) if parts else torch.zeros(0)


def _cell_choices(cell: Any, ops: Sequence[str]) -> list[tuple[int, int]]:
    """(edge, op index) per genotype pair, in pair order; ValueError for ops outside `ops` or duplicate pairs."""
    pairs = [(str(op), int(j)) for op, j in cell]
    if len(pairs) != 2 * STEPS:
        raise ValueError(f"a DARTS cell has {2 * STEPS} (op, input) pairs, got {len(pairs)}")
    out = []
    for t, (name, j) in enumerate(pairs):
        if name not in ops:
            raise ValueError(f"op {name!r} is not in the supernet's ops {tuple(ops)}")
        out.append((edge_index(t // 2, j), ops.index(name)))
    for k in range(STEPS):
        if out[2 * k] == out[2 * k + 1]:
            raise ValueError(f"node {k} uses the same (op, input) twice; the supernet cannot express it")
    return out


def genotype_op_weights(genotype: Any, ops: Sequence[str]) -> Tensor:
    """float32 `[28, len(ops)]` one-hot op weights of a genotype: 1 on its 16 (edge, op) entries, 0 elsewhere
    (rows of unused edges are all zero). Use `weights > 0` as the matching active mask."""
    ops = tuple(ops)
    w = torch.zeros(NUM_EDGES, len(ops))
    for lo, cell in ((0, genotype.normal), (CELL_EDGES, genotype.reduce)):
        for e, o in _cell_choices(cell, ops):
            w[lo + e, o] = 1.0
    return w


def load_into_search_network(supernet: DartsSupernet, genotype: Any) -> DartsSearchNetwork:
    """A `DartsSearchNetwork` of `genotype` on `supernet`'s skeleton holding copies of its weights (stem,
    preprocessing, the genotype's ops, classifier; BN running stats included). Its forward equals the
    supernet's under `genotype_op_weights(genotype, supernet.ops)` with the matching mask."""
    if tuple(genotype.normal_concat) != (2, 3, 4, 5) or tuple(genotype.reduce_concat) != (2, 3, 4, 5):
        raise ValueError("the supernet concatenates all 4 nodes; the genotype's concat must be (2, 3, 4, 5)")
    net = DartsSearchNetwork(
        genotype,
        C=supernet.C,
        layers=supernet.layers,
        num_classes=supernet.num_classes,
        stem_multiplier=supernet.stem_multiplier,
        affine=supernet.affine,
        track_running_stats=supernet.track_running_stats,
    )
    choices = {False: _cell_choices(genotype.normal, supernet.ops), True: _cell_choices(genotype.reduce, supernet.ops)}
    param = next(supernet.parameters())
    net.to(device=param.device, dtype=param.dtype)
    net.stem.load_state_dict(supernet.stem.state_dict())
    net.classifier.load_state_dict(supernet.classifier.state_dict())
    for src, dst in zip(supernet.cells, net.cells, strict=True):
        dst.preprocess0.load_state_dict(src.preprocess0.state_dict())
        dst.preprocess1.load_state_dict(src.preprocess1.state_dict())
        for t, (e, o) in enumerate(choices[src.reduction]):
            dst.ops[t].load_state_dict(src.edges[e].ops[o].state_dict())
    net.train(supernet.training)
    return net
