"""Uniform single-path sampling for SPOS / RSPS / few-shot NAS supernet training.

Why one sampler: the public codes differ only in *where* a path is drawn (one arch shared by all cells in
GM-NAS / HEP-NAS `rsws`; an independent arch per cell in few-shot NAS) and in whether disconnected cells are
re-drawn; both are switches here, recorded by the caller (algorithms.md §4, §6).

Public API (shapes are the space's [E, O]; connectivity is the space's `one_shot.path_connected`):
    sample_codes(one_shot, mask: Tensor[E,O] bool, generator: torch.Generator, *, per: str = "network",
                 num_cells: int = 1, reject_disconnected: bool = True, max_tries: int = 10_000) -> Tensor
        int64 op codes, [E] (per="network") or [num_cells, E] (per="cell"); each edge's op uniform over the
        edge's ACTIVE ops. reject_disconnected re-draws a cell until the space calls its path connected
        (per network: the one shared arch; per cell: each cell on its own). ValueError if the region holds
        no connected cell.
    sample_single_path(one_shot, mask, generator, *, per="network", num_cells=1, reject_disconnected=True)
        -> Tensor float32 one-hot op weights [E,O] or [num_cells,E,O], on mask's device. Feed it to
        supernet.forward(x, w, w.bool()) so only the sampled op per edge is computed.
    one_hot_codes(codes: Tensor[..., E] int, num_ops: int, device=None) -> Tensor[..., E, O] float32
    arch_one_hot(one_shot, arch, device=None) -> Tensor[E, O] float32
    sample_arch(one_shot, mask, generator, *, reject_disconnected=True) -> arch
    sample_path_weights(one_shot, mask, generator, *, per="network", num_cells=1, reject_disconnected=True)
        Any space: where one op per edge is an architecture (`single_path`, NB201) these are the functions
        above; elsewhere (DARTS) the space draws an architecture inside the region (`one_shot.sample_arch`)
        and its one-hot weights are the path (per="network" only: every cell of a type shares the draw).

Randomness comes only from `generator` (drawn on its device, normally the context's CPU stream), so a seed
fixes the sequence of paths independently of the training device.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from harness.errors import InputError
from harness.spaces.base import OneShotAdapter, SinglePathAdapter

SAMPLE_PER = ("network", "cell")


def one_hot_codes(codes: Tensor, num_ops: int, device: torch.device | str | None = None) -> Tensor:
    """Op codes [..., E] -> float32 one-hot op weights [..., E, O]."""
    codes = codes.to(torch.int64)
    out = torch.nn.functional.one_hot(codes, num_ops).to(torch.float32)
    return out.to(device) if device is not None else out


def arch_one_hot(one_shot: OneShotAdapter, arch: Any, device: torch.device | str | None = None) -> Tensor:
    """The arch's single path as op weights (rows of edges it does not use are all zero)."""
    return torch.as_tensor(one_shot.arch_weights(arch), dtype=torch.float32, device=device)


def _draw_cell(
    one_shot: OneShotAdapter, probs: Tensor, generator: torch.Generator, reject: bool, max_tries: int
) -> Tensor:
    for _ in range(max_tries):
        codes = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        if not reject or one_shot.path_connected(codes.tolist()):
            return codes
    raise RuntimeError(f"no connected cell drawn in {max_tries} tries")  # pragma: no cover (region checked)


def sample_codes(
    one_shot: OneShotAdapter,
    mask: Tensor,
    generator: torch.Generator,
    *,
    per: str = "network",
    num_cells: int = 1,
    reject_disconnected: bool = True,
    max_tries: int = 10_000,
) -> Tensor:
    """Op codes of one uniformly sampled single path (see module docstring)."""
    if per not in SAMPLE_PER:
        raise ValueError(f"per must be one of {SAMPLE_PER}, got {per!r}")
    shape = (one_shot.num_edges, one_shot.num_ops)
    if tuple(mask.shape) != shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape {shape}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every edge needs at least one active op in the mask")
    if reject_disconnected and not one_shot.region_has_connected(mask.detach().cpu().numpy()):
        raise ValueError("reject_disconnected=True but the region contains no connected cell")
    # Uniform over active ops: multinomial over the 0/1 mask row. Drawn on the generator's device.
    probs = mask.detach().to(generator.device, torch.float32)
    if per == "network":
        return _draw_cell(one_shot, probs, generator, reject_disconnected, max_tries)
    if num_cells < 1:
        raise ValueError("num_cells must be >= 1 for per='cell'")
    return torch.stack(
        [_draw_cell(one_shot, probs, generator, reject_disconnected, max_tries) for _ in range(num_cells)]
    )


def sample_single_path(
    one_shot: OneShotAdapter,
    mask: Tensor,
    generator: torch.Generator,
    *,
    per: str = "network",
    num_cells: int = 1,
    reject_disconnected: bool = True,
) -> Tensor:
    """One-hot float op weights of a uniformly sampled path: [6,5] (network) or [num_cells,6,5] (cell)."""
    codes = sample_codes(
        one_shot, mask, generator, per=per, num_cells=num_cells, reject_disconnected=reject_disconnected
    )
    return one_hot_codes(codes, one_shot.num_ops, mask.device)


def sample_arch(
    one_shot: OneShotAdapter, mask: Tensor, generator: torch.Generator, *, reject_disconnected: bool = True
) -> Any:
    """One architecture drawn uniformly (per decision) inside the region `mask`."""
    if isinstance(one_shot, SinglePathAdapter):
        codes = sample_codes(one_shot, mask, generator, reject_disconnected=reject_disconnected)
        return one_shot.arch_from_op_indices(codes.tolist())
    return one_shot.sample_arch(mask.detach().cpu().numpy(), generator)


def sample_path_weights(
    one_shot: OneShotAdapter,
    mask: Tensor,
    generator: torch.Generator,
    *,
    per: str = "network",
    num_cells: int = 1,
    reject_disconnected: bool = True,
) -> Tensor:
    """One-hot op weights of a uniformly drawn single path inside `mask` (see the module docstring)."""
    if isinstance(one_shot, SinglePathAdapter):
        return sample_single_path(
            one_shot, mask, generator, per=per, num_cells=num_cells, reject_disconnected=reject_disconnected
        )
    if per != "network":
        raise InputError(f"sample_per={per!r} needs a space whose single paths are architectures; use 'network'")
    return arch_one_hot(one_shot, sample_arch(one_shot, mask, generator), mask.device)
