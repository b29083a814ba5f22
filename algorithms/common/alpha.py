"""Architecture parameters (alpha) for the NB201 cell: initialisation, masked softmax, per-edge argmax.

Why here: DARTS, HEP-NAS and any other gradient-based method share one definition of "masked softmax"
(algorithms.md §1: softmax over an edge's ACTIVE ops, exactly 0 elsewhere), so a masked op is never computed
by the supernet (weight exactly 0) and receives no alpha gradient.

Public API (all accept any leading batch dims before the trailing [6, 5]):
    init_alpha(generator: torch.Generator, scale: float = 1e-3, *, shape=(6, 5), device=None) -> Tensor
        scale * N(0, 1) drawn on the generator's device (the context's CPU stream), then moved to `device`;
        a leaf with requires_grad=True that the caller hands to its Adam.
    masked_softmax(alpha: Tensor[..., 6, 5], mask: Tensor[..., 6, 5] bool) -> Tensor[..., 6, 5]
        differentiable; rows sum to 1 over active ops; ValueError if an edge has no active op.
    derive_argmax(alpha: Tensor[6, 5], mask: Tensor[6, 5] bool) -> NB201Arch
        per-edge argmax of masked_softmax (`none` allowed; ties go to the lower op index).
    full_mask(device=None) -> Tensor[6, 5] bool    every op active (the whole NB201 space)
"""

from __future__ import annotations

import torch
from torch import Tensor

from harness.spaces.nb201 import NUM_EDGES, NUM_OPS, NB201Arch


def full_mask(device: torch.device | str | None = None) -> Tensor:
    """The whole NB201 space: every op of every edge active."""
    return torch.ones(NUM_EDGES, NUM_OPS, dtype=torch.bool, device=device)


def init_alpha(
    generator: torch.Generator,
    scale: float = 1e-3,
    *,
    shape: tuple[int, ...] = (NUM_EDGES, NUM_OPS),
    device: torch.device | str | None = None,
) -> Tensor:
    """DARTS initialisation `1e-3 * randn` (quark0/darts model_search.py), seeded by the caller's generator.

    Drawn on the generator's device (the run context hands out CPU generators) so a seed gives the same
    alpha on
    CPU and GPU, then moved to `device`.
    """
    gdev = generator.device
    a = scale * torch.randn(shape, generator=generator, device=gdev, dtype=torch.float32)
    return a.to(device if device is not None else gdev).requires_grad_(True)


def _check_mask(alpha: Tensor, mask: Tensor) -> Tensor:
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
    if alpha.shape[-2:] != (NUM_EDGES, NUM_OPS):
        raise ValueError(f"alpha must end in shape {(NUM_EDGES, NUM_OPS)}, got {tuple(alpha.shape)}")
    mask = mask.to(alpha.device)
    if not bool(mask.any(dim=-1).all()):
        raise ValueError("every edge needs at least one active op in the mask")
    return mask


def masked_softmax(alpha: Tensor, mask: Tensor) -> Tensor:
    """Softmax over each edge's active ops; exactly 0 (and zero gradient) at masked ops."""
    mask = _check_mask(alpha, mask)
    logits = alpha.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    # exp(-inf) is already exactly 0; the `where` also keeps the result NaN-free if alpha itself holds -inf.
    return torch.where(mask, probs, torch.zeros_like(probs))


@torch.no_grad()
def derive_argmax(alpha: Tensor, mask: Tensor) -> NB201Arch:
    """NB201 derivation (algorithms.md §5): per-edge argmax of the masked softmax, `none` allowed.

    torch.argmax returns the first maximal index, so exact ties go to the lower canonical op index.
    """
    if alpha.shape != (NUM_EDGES, NUM_OPS):
        raise ValueError(
            f"derive_argmax expects alpha of shape {(NUM_EDGES, NUM_OPS)}, got {tuple(alpha.shape)}"
        )
    probs = masked_softmax(alpha.detach().float(), mask)
    codes = probs.argmax(dim=-1).tolist()
    return NB201Arch.from_codes(tuple(int(c) for c in codes))
