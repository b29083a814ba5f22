"""Splitting a (sub-)supernet into children that own regions of the search space.

Why one module: few-shot NAS (one edge, one child per op), GM-NAS and HEP-NAS (a hierarchy of edges, groups
per edge, Cartesian product) differ only in *which* masks the children get; how a child inherits its parent
(deep copies of weights, alpha, optimizer moments and scheduler position) is the same and easy to get subtly
wrong (shared momentum buffers, optimizers still pointing at the parent's parameters). Both halves live here.

Granularity:
* `edge_partitions(mask, e)`: one child per active op of edge e (few-shot NAS).
* `hierarchy_partitions(mask, edges, groups)`: per-edge op groups (GM: 2 groups; exhaustive: singletons),
  children = the Cartesian product, first edge varying slowest, group 0 before group 1 (this order decides
  selection ties).
A child's mask is the AND of the parent mask and its per-edge group masks; its region size is the space's
(`SearchSpace.one_shot.region_size`; NB201: the product of the kept ops per edge). Masks are the space's
[E, O] arrays.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import torch
from torch import Tensor, nn

from harness.errors import InputError
from harness.spaces.base import OneShotAdapter

DEFAULT_MAX_SUB_SUPERNETS = 128


class TooManySubSupernets(InputError):
    """A split would create more children than `max_sub_supernets` allows (raised before any training)."""


def check_cap(count: int, cap: int, what: str = "split") -> None:
    if count > cap:
        raise TooManySubSupernets(
            f"{what} would create {count} sub-supernets, more than max_sub_supernets={cap}; "
            "raise the cap or use partition=gm"
        )


@dataclass(frozen=True)
class Partition:
    """One child's region: its mask and, per split edge, the kept ops (canonical op indices)."""

    mask: np.ndarray  # bool [E, O]
    groups: tuple[tuple[int, tuple[int, ...]], ...]  # ((edge, ops), ...) in edge order

    def remaining_space(self, one_shot: OneShotAdapter) -> int:
        return one_shot.region_size(self.mask)

    def describe(self, one_shot: OneShotAdapter) -> str:
        """e.g. "e1={skip_connect,nor_conv_3x3} e2={none}" (edge names are the space's)."""
        names, ops_ = one_shot.edge_names, one_shot.ops
        return " ".join(f"{names[e]}={{{','.join(ops_[o] for o in ops)}}}" for e, ops in self.groups)

    def torch_mask(self, device: torch.device | str | None = None) -> Tensor:
        return torch.as_tensor(self.mask, dtype=torch.bool, device=device)


def _as_numpy_mask(mask: Tensor | np.ndarray) -> np.ndarray:
    m = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    m = m.astype(bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2-d [edges, ops] array, got shape {m.shape}")
    return m


def active_ops(mask: Tensor | np.ndarray, edge: int) -> tuple[int, ...]:
    return tuple(int(o) for o in np.flatnonzero(_as_numpy_mask(mask)[edge]))


def singleton_groups(mask: Tensor | np.ndarray, edge: int) -> tuple[tuple[int, ...], ...]:
    """Exhaustive granularity: every active op of the edge is its own group."""
    return tuple((o,) for o in active_ops(mask, edge))


def hierarchy_partitions(
    parent_mask: Tensor | np.ndarray,
    edges: Sequence[int],
    groups: Sequence[Sequence[Sequence[int]]],
) -> list[Partition]:
    """Cartesian product of per-edge op groups; `groups[k]` are the groups of `edges[k]`.

    Order: first edge varies slowest, and within an edge the groups keep their given order (group 0 first).
    Each group must be a non-empty subset of the edge's active ops.
    """
    parent = _as_numpy_mask(parent_mask)
    if len(edges) != len(groups):
        raise ValueError("one list of groups per edge is required")
    for e, gs in zip(edges, groups, strict=True):
        allowed = set(active_ops(parent, e))
        for g in gs:
            if not g or not set(g) <= allowed:
                raise ValueError(
                    f"group {tuple(g)} of edge {e} is empty or not inside its active ops {allowed}"
                )
    children: list[Partition] = []
    for combo in product(*[list(gs) for gs in groups]):
        mask = parent.copy()
        for e, g in zip(edges, combo, strict=True):
            keep = np.zeros(mask.shape[1], dtype=bool)
            keep[list(g)] = True
            mask[e] &= keep
        children.append(
            Partition(
                mask=mask,
                groups=tuple(
                    (int(e), tuple(sorted(int(o) for o in g))) for e, g in zip(edges, combo, strict=True)
                ),
            )
        )
    return children


def edge_partitions(parent_mask: Tensor | np.ndarray, edge: int) -> list[Partition]:
    """Few-shot NAS granularity: one child per active op of one edge, in op order."""
    return hierarchy_partitions(parent_mask, [edge], [singleton_groups(parent_mask, edge)])


def planned_children(parent_mask: Tensor | np.ndarray, edges: Sequence[int], granularity: str) -> int:
    """How many children a hierarchy split will make, known before any training: gm -> 2^|H| (edges with a
    single active op stay whole), exhaustive -> product of active ops."""
    parent = _as_numpy_mask(parent_mask)
    counts = [int(parent[e].sum()) for e in edges]
    if granularity == "gm":
        return int(np.prod([2 if c >= 2 else 1 for c in counts]))
    if granularity == "exhaustive":
        return int(np.prod(counts))
    raise ValueError(f"granularity must be 'gm' or 'exhaustive', got {granularity!r}")


# --- state inheritance
# --------------------------------------------------------------------------------------------


@dataclass
class SupernetState:
    """Everything a (sub-)supernet trains with. Mutable on purpose: training updates it in place.

    `sched` holds the scheduler position as plain ints (e.g. {"step": 12}); schedules are closed-form
    functions of it (harness.train.path_cosine_lr / public_code_lr), so copying it copies the scheduler.
    """

    supernet: nn.Module
    mask: Tensor  # bool [E, O], on the supernet's device
    alpha: Tensor | None = None  # leaf with requires_grad, [E, O]
    w_opt: torch.optim.Optimizer | None = None
    a_opt: torch.optim.Optimizer | None = None
    sched: dict[str, int] = field(default_factory=dict)


def _clone_optimizer(opt: torch.optim.Optimizer, param_map: dict[int, Tensor]) -> torch.optim.Optimizer:
    """Same class, hyper-parameters and state as `opt`, over the mapped (copied) parameters; no shared
    tensors."""
    groups = []
    for g in opt.param_groups:
        new_group = {k: v for k, v in g.items() if k != "params"}
        new_group["params"] = [param_map[id(p)] for p in g["params"]]
        groups.append(new_group)
    new = type(opt)(groups, **opt.defaults)
    # load_state_dict may alias same-device tensors: deep-copy first so momentum buffers are never shared.
    new.load_state_dict(copy.deepcopy(opt.state_dict()))
    return new


def spawn_child(
    parent: SupernetState,
    mask: Tensor | np.ndarray,
    *,
    inherit_optimizers: bool = True,
) -> SupernetState:
    """A child with deep copies of the parent's weights (and BN buffers), alpha, optimizer states and
    scheduler position, restricted to `mask` AND the parent's mask.

    inherit_optimizers=False (few-shot NAS weight transfer) leaves w_opt/a_opt None and sched empty: the
    caller builds fresh ones.
    """
    net = copy.deepcopy(parent.supernet)
    child_mask = (
        torch.as_tensor(_as_numpy_mask(mask), dtype=torch.bool, device=parent.mask.device) & parent.mask
    )
    alpha = None
    if parent.alpha is not None:
        alpha = parent.alpha.detach().clone().requires_grad_(parent.alpha.requires_grad)
    param_map: dict[int, Tensor] = {
        id(p_parent): p_child
        for p_parent, p_child in zip(parent.supernet.parameters(), net.parameters(), strict=True)
    }
    if parent.alpha is not None and alpha is not None:
        param_map[id(parent.alpha)] = alpha
    w_opt = a_opt = None
    sched: dict[str, int] = {}
    if inherit_optimizers:
        w_opt = _clone_optimizer(parent.w_opt, param_map) if parent.w_opt is not None else None
        a_opt = _clone_optimizer(parent.a_opt, param_map) if parent.a_opt is not None else None
        sched = dict(parent.sched)
    return SupernetState(supernet=net, mask=child_mask, alpha=alpha, w_opt=w_opt, a_opt=a_opt, sched=sched)
