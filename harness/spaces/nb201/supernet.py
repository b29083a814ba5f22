"""The NB201 weight-sharing supernet, fused per source node for CPU (and GPU) speed.

Contract (algorithms.md §1): `forward(x, op_weights, active_mask=None)` with op weights `[6, 5]` shared by all
cells or `[3N, 6, 5]` per cell; an op whose mask is False or whose weight is exactly 0 is not computed; node j
of a cell is sum over incoming edges e and computed ops o of `op_weights[e, o] * op_o(node_i)`, gradients
flowing into `op_weights`. DARTS passes masked softmax weights, SPOS one-hot rows, few-shot NAS / HEP-NAS
masks.

Why fused: all edges leaving one source node see the same input. So per source node the cell computes ReLU
once, ONE 1x1 conv and ONE 3x3 conv whose output channels are the stacked weights of every active outgoing
edge, ONE BatchNorm call over the concatenated channels (BN is per channel, so this equals one BN per edge,
running stats included), and ONE 3x3 average pool. The op weight is folded into the BN scale (w * BN(z) = BN
with weight w * gamma and bias w * beta), so conv outputs need no extra multiply. `none` is never computed.
The result equals a plain per-edge DARTS cell (tests/test_models_supernet.py keeps a slow reference to prove
it).

Parameter layout (per cell, addressable per edge and op): conv weights are stacked by *slot*, slots ordered by
source node so that a source's edges are contiguous (no copies when all its edges are active):
    SLOT_EDGES = (0, 1, 3, 2, 4, 5)   # slot k holds canonical edge SLOT_EDGES[k]
`conv1x1 [6, C, C, 1, 1]`, `conv3x3 [6, C, C, 3, 3]`; BN running stats `bn1x1_mean/var`, `bn3x3_mean/var [6,
C]` (buffers, when track_running_stats); BN affine `bn1x1_weight/bias`, `bn3x3_weight/bias [6, C]` (when
affine). `FusedCell.op_tensors(edge, op)` returns the views that belong to one (edge, op). Children of
few-shot / HEP-NAS splits are made with `copy.deepcopy(supernet)` or
`child.load_state_dict(parent.state_dict())`.

Two engines compute this (`engine(name)` selects one for a block, e.g. for before/after timings): "fused", the
default on CPU in fp32/fp64 without autocast, runs harness/spaces/nb201/cell_engine.py (a hand-written backward
with fewer memory passes, BN folded into convolutions in eval mode); "autograd", used on GPU and under autocast,
is `FusedCell.forward_autograd` below (torch ops under autograd). Both compute the same function up to float
rounding (tests/test_models_supernet.py).

Conv layers have no bias: a bias before BatchNorm is cancelled by the mean subtraction (the benchmark's search
code adds one when affine=False; it receives zero gradient there and is omitted here).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.spaces.nb201.arch import EDGES, NUM_EDGES, NUM_OPS, OPS
from harness.spaces.nb201.cell_engine import CellTensors, FusedCellFunction, cell_forward, inv_pool_count
from harness.spaces.nb201.ops import Head, ResidualReduction, Stem, stage_channels

SLOT_EDGES: tuple[int, ...] = (0, 1, 3, 2, 4, 5)
"""Slot k of the stacked per-cell tensors holds canonical edge SLOT_EDGES[k] (source-major order)."""
EDGE_SLOTS: tuple[int, ...] = tuple(SLOT_EDGES.index(e) for e in range(NUM_EDGES))
"""Inverse of SLOT_EDGES: the slot of canonical edge e."""

_SKIP, _CONV1, _CONV3, _POOL = (
    OPS.index(n) for n in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
)
_BN_MOMENTUM, _BN_EPS = 0.1, 1e-5


@dataclass
class _ConvGroup:
    """The active edges of one conv kind leaving one source: their edges, destinations and slots."""

    edges: tuple[int, ...]
    dsts: tuple[int, ...]
    slots: tuple[int, ...]
    contiguous: bool
    _index: dict[torch.device, tuple[Tensor, Tensor]] = field(default_factory=dict)
    _channel_index: dict[tuple, Tensor] = field(default_factory=dict)

    def index(self, device: torch.device) -> Tensor:
        """Slot indices on `device` (cached: no host-to-device copy per step)."""
        return self._indices(device)[0]

    def edge_index(self, device: torch.device) -> Tensor:
        return self._indices(device)[1]

    def channel_weight_index(self, op: int, num_ops: int, c: int, device: torch.device) -> Tensor:
        """[len(edges) * c] flat indices into op weights [E, num_ops] of (edge, op), each repeated per channel:
        the group's per-channel op weights in one index_select (cached like `index`)."""
        key = (op, num_ops, c, device)
        if key not in self._channel_index:
            flat = torch.tensor([e * num_ops + op for e in self.edges], dtype=torch.long)
            self._channel_index[key] = flat.repeat_interleave(c).to(device)
        return self._channel_index[key]

    def _indices(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._index:
            self._index[device] = (
                torch.tensor(self.slots, dtype=torch.long, device=device),
                torch.tensor(self.edges, dtype=torch.long, device=device),
            )
        return self._index[device]


@dataclass
class _SourcePlan:
    skip: tuple[tuple[int, int], ...]  # (edge, dst)
    pool: tuple[tuple[int, int], ...]
    conv1: _ConvGroup | None
    conv3: _ConvGroup | None

    @property
    def empty(self) -> bool:
        return not (self.skip or self.pool or self.conv1 or self.conv3)


def _conv_group(active: tuple[tuple[bool, ...], ...], src: int, op: int) -> _ConvGroup | None:
    chosen = [(e, dst) for e, (dst, s) in enumerate(EDGES) if s == src and active[e][op]]
    if not chosen:
        return None
    slots = tuple(EDGE_SLOTS[e] for e, _ in chosen)
    order = sorted(range(len(slots)), key=lambda i: slots[i])
    chosen = [chosen[i] for i in order]
    slots = tuple(sorted(slots))
    contiguous = slots == tuple(range(slots[0], slots[0] + len(slots)))
    return _ConvGroup(tuple(e for e, _ in chosen), tuple(d for _, d in chosen), slots, contiguous)


def _make_plan(active: tuple[tuple[bool, ...], ...]) -> tuple[_SourcePlan, ...]:
    plans = []
    for src in range(3):
        out = [(e, dst) for e, (dst, s) in enumerate(EDGES) if s == src]
        plans.append(
            _SourcePlan(
                skip=tuple((e, d) for e, d in out if active[e][_SKIP]),
                pool=tuple((e, d) for e, d in out if active[e][_POOL]),
                conv1=_conv_group(active, src, _CONV1),
                conv3=_conv_group(active, src, _CONV3),
            )
        )
    return tuple(plans)


def avg_pool_3x3(x: Tensor) -> Tensor:
    """3x3 average pool, stride 1, padding 1, count_include_pad=False, as separable shifted sums.

    Why not F.avg_pool2d: on CPU its forward + backward is ~2x slower than these few elementwise passes, and
    the pool runs on every edge of every cell. Equal to F.avg_pool2d up to float rounding (tested).
    """
    h, w = x.shape[-2:]
    p = F.pad(x, (1, 1, 1, 1))
    rows = p[..., :, :-2] + p[..., :, 1:-1] + p[..., :, 2:]
    box = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
    return box * inv_pool_count(h, w, x)


@dataclass
class _Engine:
    name: str = "fused"


ENGINE = _Engine()
"""Which cell arithmetic runs: "fused" (harness/spaces/nb201/cell_engine.py, CPU fp32 without autocast) or
"autograd" (torch ops under autograd everywhere; `engine("autograd")` selects it, e.g. for before/after timings)."""
ENGINES = ("fused", "autograd")


@contextlib.contextmanager
def engine(name: str) -> Iterator[None]:
    """Inside: every fused cell runs with engine `name` (see ENGINE)."""
    if name not in ENGINES:
        raise ValueError(f"unknown cell engine {name!r}; allowed: {', '.join(ENGINES)}")
    before, ENGINE.name = ENGINE.name, name
    try:
        yield
    finally:
        ENGINE.name = before


def _engine_applies(x: Tensor, w: Tensor) -> bool:
    """The hand-written engine covers CPU fp32 / fp64 without autocast (per-cell op weights reach each cell as
    its own [6, 5] slice)."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and w.dtype == x.dtype
        and w.dim() == 2
        and not torch.is_autocast_enabled("cpu")
    )


def _accumulate(acc: Tensor | None, term: Tensor, weight: Tensor | None = None) -> Tensor:
    if weight is None:
        return term if acc is None else acc + term
    return term * weight if acc is None else torch.addcmul(acc, term, weight)


class FusedCell(nn.Module):
    """One NB201 search cell with all 5 ops on all 6 edges, computed fused per source node."""

    def __init__(self, channels: int, *, affine: bool, track_running_stats: bool) -> None:
        super().__init__()
        self.channels = channels
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.momentum = _BN_MOMENTUM  # as torch's BatchNorm: BN recalibration (rank scoring) sets it per batch
        c = channels
        self.conv1x1 = nn.Parameter(torch.empty(NUM_EDGES, c, c, 1, 1))
        self.conv3x3 = nn.Parameter(torch.empty(NUM_EDGES, c, c, 3, 3))
        if affine:
            self.bn1x1_weight = nn.Parameter(torch.ones(NUM_EDGES, c))
            self.bn1x1_bias = nn.Parameter(torch.zeros(NUM_EDGES, c))
            self.bn3x3_weight = nn.Parameter(torch.ones(NUM_EDGES, c))
            self.bn3x3_bias = nn.Parameter(torch.zeros(NUM_EDGES, c))
        if track_running_stats:
            for kind in ("bn1x1", "bn3x3"):
                self.register_buffer(f"{kind}_mean", torch.zeros(NUM_EDGES, c))
                self.register_buffer(f"{kind}_var", torch.ones(NUM_EDGES, c))
        self.reset_parameters()

    def running_stat_specs(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """Buffer name -> (shape, initial value) of the running statistics this cell keeps when tracking them
        (what BN recalibration creates for a cell built without them)."""
        shape = (NUM_EDGES, self.channels)
        stats = (("mean", 0.0), ("var", 1.0))
        return {f"{kind}_{stat}": (shape, fill) for kind in ("bn1x1", "bn3x3") for stat, fill in stats}

    def reset_parameters(self) -> None:
        """nn.Conv2d's default init, per slot: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        for w in (self.conv1x1, self.conv3x3):
            bound = 1.0 / math.sqrt(w[0].numel() // w.shape[1])
            nn.init.uniform_(w, -bound, bound)

    def op_tensors(self, edge: int, op: str) -> dict[str, Tensor]:
        """Views of the parameters and buffers owned by one (canonical edge, op); empty for parameter-free
        ops."""
        if op not in ("nor_conv_1x1", "nor_conv_3x3"):
            if op not in OPS:
                raise ValueError(f"unknown NB201 op {op!r}")
            return {}
        kind = "bn1x1" if op == "nor_conv_1x1" else "bn3x3"
        slot = EDGE_SLOTS[edge]
        out = {"conv": (self.conv1x1 if kind == "bn1x1" else self.conv3x3)[slot]}
        for suffix in ("weight", "bias", "mean", "var"):
            t = getattr(self, f"{kind}_{suffix}", None)
            if t is not None:
                out[f"bn_{suffix}"] = t[slot]
        return out

    def _conv_bn(self, r: Tensor, w: Tensor, group: _ConvGroup, kernel: int) -> Tensor:
        c = self.channels
        weight = self.conv1x1 if kernel == 1 else self.conv3x3
        kind = "bn1x1" if kernel == 1 else "bn3x3"
        k = len(group.slots)
        if group.contiguous:
            a = group.slots[0]
            idx = None
            conv_w = weight[a : a + k]
        else:
            idx = group.index(weight.device)
            conv_w = weight.index_select(0, idx)
        z = F.conv2d(r, conv_w.reshape(k * c, c, kernel, kernel), padding=kernel // 2)
        op = _CONV1 if kernel == 1 else _CONV3
        if k > 1:
            scale = w[:, op].index_select(0, group.edge_index(w.device)).repeat_interleave(c)
        else:
            scale = w[group.edges[0], op].expand(c)
        bias = None
        if self.affine:
            gamma = getattr(self, f"{kind}_weight")
            beta = getattr(self, f"{kind}_bias")
            if idx is None:
                gamma, beta = gamma[a : a + k], beta[a : a + k]
            else:
                gamma, beta = gamma.index_select(0, idx), beta.index_select(0, idx)
            bias = beta.reshape(-1) * scale
            scale = gamma.reshape(-1) * scale
        if not self.track_running_stats:
            return F.batch_norm(z, None, None, scale, bias, True, 0.0, _BN_EPS)
        mean_buf, var_buf = getattr(self, f"{kind}_mean"), getattr(self, f"{kind}_var")
        if idx is None:  # contiguous rows: a view, F.batch_norm updates the buffers in place
            mean, var = mean_buf[a : a + k].view(-1), var_buf[a : a + k].view(-1)
        else:
            mean, var = mean_buf.index_select(0, idx).view(-1), var_buf.index_select(0, idx).view(-1)
        y = F.batch_norm(z, mean, var, scale, bias, self.training, self.momentum, _BN_EPS)
        if idx is not None and self.training:
            with torch.no_grad():
                mean_buf.index_copy_(0, idx, mean.view(k, c))
                var_buf.index_copy_(0, idx, var.view(k, c))
        return y

    def forward(self, x: Tensor, w: Tensor, plans: tuple[_SourcePlan, ...]) -> Tensor:
        if ENGINE.name == "autograd" or not _engine_applies(x, w):
            return self.forward_autograd(x, w, plans)
        x = x.contiguous()  # the engine's views and GEMMs assume NCHW-contiguous activations (a no-op unless
        # the caller made them channels-last)
        batch_stats = self.training or not self.track_running_stats
        t = self._engine_tensors(batch_stats)
        if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad or self._params_need_grad()):
            if not batch_stats:  # eval-mode BN under autograd: rare (no method trains so), kept on autograd
                return self.forward_autograd(x, w, plans)
            aff = (t.gamma1, t.beta1, t.gamma3, t.beta3)
            return FusedCellFunction.apply(
                x, w, self.conv1x1.view_as(self.conv1x1), self.conv3x3.view_as(self.conv3x3), *aff, plans, t,
                self.channels,
            )
        with torch.no_grad():
            return cell_forward(x, w, plans, t, channels=self.channels, save=False)[0]

    def _params_need_grad(self) -> bool:
        return any(p.requires_grad for p in self.parameters(recurse=False))

    def _engine_tensors(self, batch_stats: bool) -> CellTensors:
        tracked = self.track_running_stats
        return CellTensors(
            self.conv1x1,
            self.conv3x3,
            getattr(self, "bn1x1_weight", None),
            getattr(self, "bn1x1_bias", None),
            getattr(self, "bn3x3_weight", None),
            getattr(self, "bn3x3_bias", None),
            self.bn1x1_mean if tracked else None,
            self.bn1x1_var if tracked else None,
            self.bn3x3_mean if tracked else None,
            self.bn3x3_var if tracked else None,
            batch_stats,
            batch_stats and tracked and self.training,
            float(self.momentum),
        )

    def forward_autograd(self, x: Tensor, w: Tensor, plans: tuple[_SourcePlan, ...]) -> Tensor:
        """The cell as torch ops under autograd (the engine's reference; used on GPU and under autocast)."""
        acc: list[Tensor | None] = [x, None, None, None]
        for src, plan in enumerate(plans):
            if plan.empty:
                continue
            xs = acc[src]
            # a node with no computed input is zero; ops fed by it still run (BN(0) != 0 in eval)
            if xs is None:
                xs = acc[src] = torch.zeros_like(x)
            for e, dst in plan.skip:
                acc[dst] = _accumulate(acc[dst], xs, w[e, _SKIP])
            if plan.pool:
                pooled = avg_pool_3x3(xs)
                for e, dst in plan.pool:
                    acc[dst] = _accumulate(acc[dst], pooled, w[e, _POOL])
            if plan.conv1 is not None or plan.conv3 is not None:
                r = F.relu(xs)
                for group, kernel in ((plan.conv1, 1), (plan.conv3, 3)):
                    if group is None:
                        continue
                    y = self._conv_bn(r, w, group, kernel)
                    chunks = y.split(self.channels, dim=1) if len(group.dsts) > 1 else (y,)
                    for chunk, dst in zip(chunks, group.dsts, strict=True):
                        acc[dst] = _accumulate(acc[dst], chunk)
        out = acc[3]
        return torch.zeros_like(x) if out is None else out


class NB201Supernet(nn.Module):
    """Weight-sharing NB201 supernet (TinyNetwork skeleton) with fused cells; holds weights only, no alphas.

    Cell BN settings are arguments (algorithms.md §2.5: affine=False, track_running_stats=True for HEP-NAS);
    stem, reduction blocks and head always use affine BN with running stats, as the benchmark's search code
    does.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        affine: bool = False,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        if num_classes < 1 or C < 1 or N < 1:
            raise ValueError(f"num_classes, C and N must be >= 1, got {num_classes}, {C}, {N}")
        self.num_classes, self.C, self.N = num_classes, C, N
        self.affine, self.track_running_stats = affine, track_running_stats
        self.stem = Stem(C)
        layers: list[nn.Module] = []
        self.cell_layer_index: list[int] = []  # position in `layers` of search cell i (0..3N-1)
        c_prev = C
        for c, reduction in stage_channels(C, N):
            if reduction:
                layers.append(ResidualReduction(c_prev, c))
            else:
                self.cell_layer_index.append(len(layers))
                layers.append(FusedCell(c, affine=affine, track_running_stats=track_running_stats))
            c_prev = c
        self.layers = nn.ModuleList(layers)
        self.head = Head(c_prev, num_classes)
        self._plan_cache: dict[tuple[bool, ...], tuple[_SourcePlan, ...]] = {}

    @property
    def num_cells(self) -> int:
        return 3 * self.N

    def cell(self, i: int) -> FusedCell:
        """Search cell i (0..3N-1), skipping reduction blocks."""
        layer = self.layers[self.cell_layer_index[i]]
        assert isinstance(layer, FusedCell)
        return layer

    def _plans(self, active: list) -> tuple[_SourcePlan, ...]:
        key = tuple(b for row in active for b in row)
        plans = self._plan_cache.get(key)
        if plans is None:
            plans = self._plan_cache[key] = _make_plan(tuple(tuple(row) for row in active))
        return plans

    def active_ops(self, op_weights: Tensor, active_mask: Tensor | None = None) -> Tensor:
        """Bool tensor shaped like op_weights: the ops this forward computes (mask True and weight != 0)."""
        shape = tuple(op_weights.shape)
        if shape not in ((NUM_EDGES, NUM_OPS), (self.num_cells, NUM_EDGES, NUM_OPS)):
            raise ValueError(
                f"op_weights must be [{NUM_EDGES},{NUM_OPS}] or "
                f"[{self.num_cells},{NUM_EDGES},{NUM_OPS}], got {shape}"
            )
        active = op_weights.detach() != 0
        if active_mask is not None:
            if tuple(active_mask.shape) != shape:
                raise ValueError(f"active_mask shape {tuple(active_mask.shape)} != op_weights shape {shape}")
            active = active & active_mask.to(device=active.device, dtype=torch.bool)
        return active

    def forward(self, x: Tensor, op_weights: Tensor, active_mask: Tensor | None = None) -> Tensor:
        """Logits [B, num_classes]; see the module docstring for the op-weight and mask contract."""
        return self.forward_after_stem(self.stem(x), op_weights, active_mask)

    def forward_after_stem(self, h: Tensor, op_weights: Tensor, active_mask: Tensor | None = None) -> Tensor:
        """Logits from the stem's output `h`. The stem does not depend on the architecture, so scoring many
        architectures on one batch computes it once (algorithms/common/scoring.py)."""
        active = self.active_ops(op_weights, active_mask).cpu().tolist()
        per_cell = op_weights.dim() == 3
        shared_plans = None if per_cell else self._plans(active)
        cell_i = 0
        for layer in self.layers:
            if isinstance(layer, FusedCell):
                if per_cell:
                    h = layer(h, op_weights[cell_i], self._plans(active[cell_i]))
                else:
                    h = layer(h, op_weights, shared_plans)
                cell_i += 1
            else:
                h = layer(h)
        return self.head(h)
