"""Architecture parameters (alpha) of a one-shot space: initialisation, masked softmax, derivation.

Why here: DARTS, HEP-NAS and any other gradient-based method share one definition of "masked softmax"
(algorithms.md §1: softmax over an edge's ACTIVE ops, exactly 0 elsewhere), so a masked op is never computed
by the supernet (weight exactly 0) and receives no alpha gradient.

Shapes are the space's `[E, O]` (`SearchSpace.one_shot`: NB201 [6, 5]); all accept leading batch dims.
    init_alpha(generator: torch.Generator, scale: float = 1e-3, *, shape, device=None) -> Tensor
        scale * N(0, 1) drawn on the generator's device (the context's CPU stream), then moved to `device`;
        a leaf with requires_grad=True that the caller hands to its Adam.
    masked_softmax(alpha: Tensor[..., E, O], mask: Tensor[..., E, O] bool, *, checked: bool = False)
        -> Tensor[..., E, O]
        differentiable; rows sum to 1 over active ops; ValueError if an edge has no active op.
        checked=True skips that validation (the caller ran `check_mask` on this unchanged mask): the check reads a
        boolean back to the host, a synchronisation on GPU, so training loops check once per epoch, not per step.
    check_mask(alpha, mask) -> None
        the validation of masked_softmax on its own (TypeError / ValueError).
    derive(one_shot, alpha: Tensor[E, O], mask: Tensor[E, O] bool) -> arch
        the space's derivation rule applied to masked_softmax(alpha) (NB201: per-edge argmax, `none` allowed,
        ties to the lower op index).
    full_mask(one_shot, device=None, exclude_ops=()) -> Tensor[E, O] bool
        every op active (the whole space), except the named ops (e.g. ("none",): HEP-NAS's 7-op DARTS set)
    sharpen_loss(probs: Tensor[E, O], cell_edges) -> Tensor
        the HEP-NAS DARTS-space alpha-sharpening term (algorithms.md §2.5)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from harness.spaces.base import OneShotAdapter


def full_mask(
    one_shot: OneShotAdapter, device: torch.device | str | None = None, exclude_ops: tuple[str, ...] = ()
) -> Tensor:
    """The whole space: every op of every edge active, except the ops named in `exclude_ops`."""
    unknown = sorted(set(exclude_ops) - set(one_shot.ops))
    if unknown:
        from harness.errors import InputError

        raise InputError(f"exclude_ops {unknown} are not ops of this space; its ops: {', '.join(one_shot.ops)}")
    mask = torch.as_tensor(one_shot.full_mask(), dtype=torch.bool, device=device)
    for op in exclude_ops:
        mask[:, one_shot.ops.index(op)] = False
    return mask


def init_alpha(
    generator: torch.Generator,
    scale: float = 1e-3,
    *,
    shape: tuple[int, ...],
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
    if alpha.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"alpha shape {tuple(alpha.shape)} does not end in the mask's {tuple(mask.shape[-2:])}")
    mask = mask.to(alpha.device)
    if not bool(mask.any(dim=-1).all()):
        raise ValueError("every edge needs at least one active op in the mask")
    return mask


def check_mask(alpha: Tensor, mask: Tensor) -> None:
    """What masked_softmax(alpha, mask) validates: a bool mask of alpha's [E, O] shape with an active op on every
    edge (one host read)."""
    _check_mask(alpha, mask)


def masked_softmax(alpha: Tensor, mask: Tensor, *, checked: bool = False) -> Tensor:
    """Softmax over each edge's active ops; exactly 0 (and zero gradient) at masked ops. `checked`: the caller
    has validated this mask with `check_mask` (and not changed it since), so the per-call check and its host
    read are skipped."""
    mask = mask.to(alpha.device) if checked else _check_mask(alpha, mask)
    logits = alpha.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    # exp(-inf) is already exactly 0; the `where` also keeps the result NaN-free if alpha itself holds -inf.
    return torch.where(mask, probs, torch.zeros_like(probs))


@torch.no_grad()
def derive(one_shot: OneShotAdapter, alpha: Tensor, mask: Tensor) -> Any:
    """The space's derivation rule (algorithms.md §5) applied to the masked softmax of `alpha`."""
    expected = (one_shot.num_edges, one_shot.num_ops)
    if tuple(alpha.shape) != expected:
        raise ValueError(f"derive expects alpha of shape {expected}, got {tuple(alpha.shape)}")
    probs = masked_softmax(alpha.detach().float(), mask)
    return one_shot.derive(probs.cpu().numpy(), mask.detach().cpu().numpy())


SHARPEN_FLOOR = 1e-4


def sharpen_loss(probs: Tensor, active: Tensor, cell_edges: tuple[tuple[int, ...], ...]) -> Tensor:
    """HEP-NAS alpha-sharpening (algorithms.md §2.5, [code]): per cell type, KL(one-hot on the largest entry ||
    the edge's masked-softmax weights sorted descending), averaged over the cell's E x O entries, i.e.
    (1 / (E * O)) * sum_e -log p_max(e) with p floored at 1e-4; summed over cell types. O = the ops active in the
    search (`active` columns with any True), so the 7-op set gives the public code's 1 / (14 * 7)."""
    num_ops = int(active.any(dim=0).sum())
    total = probs.new_zeros(())
    for edges in cell_edges:
        p_max = probs[list(edges)].max(dim=-1).values.clamp_min(SHARPEN_FLOOR)
        total = total + (-torch.log(p_max)).sum() / (len(edges) * num_ops)
    return total
