"""The NB201 gradient-matching (GM) vector of an edge (algorithms.md §3), for the fused supernet.

Matches "the op weights on every other edge of every cell + the residual reduction blocks" of the GM-NAS
code: for every search cell, the gradient slices of the parameterised ops (1x1 / 3x3 conv, BN affine when
present) of the 5 edges other than the probed one, then every parameter gradient of the residual reduction
blocks; stem and head are excluded. Parameter-free ops (skip, pool, none) contribute nothing, as in the public
code. Missing gradients count as zeros (equal layouts; a zero block changes neither dot products nor norms).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.spaces.nb201.arch import NUM_EDGES
from harness.spaces.nb201.supernet import EDGE_SLOTS, FusedCell


def gm_vector(supernet: nn.Module, edge: int) -> Tensor:
    """GM gradient vector of an `NB201Supernet` after backward, for a probe on `edge`."""
    other_slots = [EDGE_SLOTS[e] for e in range(NUM_EDGES) if e != edge]
    parts: list[Tensor] = []
    for layer in supernet.layers:  # type: ignore[attr-defined]
        if isinstance(layer, FusedCell):
            for name in ("conv1x1", "conv3x3", "bn1x1_weight", "bn1x1_bias", "bn3x3_weight", "bn3x3_bias"):
                p = getattr(layer, name, None)
                if p is None:
                    continue
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                parts.append(g[other_slots].reshape(-1))
        else:
            parts.extend(
                (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                for p in layer.parameters()
            )
    return torch.cat(parts) if parts else torch.zeros(0)
