"""Uniform single-path sampling for SPOS / RSPS / few-shot NAS supernet training.

Why one sampler: the public codes differ only in *where* a path is drawn (one arch shared by all cells in
GM-NAS / HEP-NAS `rsws`; an independent arch per cell in few-shot NAS) and in whether disconnected cells are
re-drawn; both are switches here, recorded by the caller (algorithms.md §4, §6).

Public API:
    sample_codes(mask: Tensor[6,5] bool, generator: torch.Generator, *, per: str = "network",
                 num_cells: int = 1, reject_disconnected: bool = True, max_tries: int = 10_000) -> Tensor
        int64 op codes, [6] (per="network") or [num_cells, 6] (per="cell"); each edge's op uniform over the
        edge's ACTIVE ops. reject_disconnected re-draws a cell until it has a non-`none` path 0 -> 3
        (per network: the one shared arch; per cell: each cell on its own). ValueError if the region holds
        no connected cell.
    sample_single_path(mask, generator, *, per="network", num_cells=1, reject_disconnected=True)
        -> Tensor float32 one-hot op weights [6,5] or [num_cells,6,5], on mask's device. Feed it to
        NB201Supernet.forward(x, w, w.bool()) so only the sampled op per edge is computed.
    one_hot_codes(codes: Tensor[..., 6] int, device=None) -> Tensor[..., 6, 5] float32
    arch_one_hot(arch: NB201Arch, device=None) -> Tensor[6, 5] float32
    region_has_connected(mask) -> bool

Randomness comes only from `generator` (drawn on its device, normally the context's CPU stream), so a seed
fixes the sequence of paths independently of the training device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from harness.spaces.nb201 import EDGES, NUM_EDGES, NUM_NODES, NUM_OPS, NB201Arch

SAMPLE_PER = ("network", "cell")
_NONE = 0  # canonical index of `none`


def one_hot_codes(codes: Tensor, device: torch.device | str | None = None) -> Tensor:
    """Op codes [..., 6] -> float32 one-hot op weights [..., 6, 5]."""
    codes = codes.to(torch.int64)
    out = torch.nn.functional.one_hot(codes, NUM_OPS).to(torch.float32)
    return out.to(device) if device is not None else out


def arch_one_hot(arch: NB201Arch, device: torch.device | str | None = None) -> Tensor:
    return one_hot_codes(torch.tensor(arch.codes, dtype=torch.int64), device)


def _connected_codes(codes: list[int]) -> bool:
    reachable = [True] + [False] * (NUM_NODES - 1)
    for e, (dst, src) in enumerate(EDGES):
        if codes[e] != _NONE and reachable[src]:
            reachable[dst] = True
    return reachable[-1]


def region_has_connected(mask: Tensor) -> bool:
    """True if some cell inside the region `mask` connects node 0 to node 3 through non-`none` ops."""
    m = mask.detach().to("cpu", torch.bool)
    usable = m[:, 1:].any(dim=1).tolist()  # edge can carry a non-`none` op
    reachable = [True] + [False] * (NUM_NODES - 1)
    for e, (dst, src) in enumerate(EDGES):
        if usable[e] and reachable[src]:
            reachable[dst] = True
    return reachable[-1]


def _draw_cell(probs: Tensor, generator: torch.Generator, reject: bool, max_tries: int) -> Tensor:
    for _ in range(max_tries):
        codes = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        if not reject or _connected_codes(codes.tolist()):
            return codes
    raise RuntimeError(f"no connected cell drawn in {max_tries} tries")  # pragma: no cover (region checked)


def sample_codes(
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
    if mask.shape != (NUM_EDGES, NUM_OPS) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape {(NUM_EDGES, NUM_OPS)}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every edge needs at least one active op in the mask")
    if reject_disconnected and not region_has_connected(mask):
        raise ValueError("reject_disconnected=True but the region contains no connected cell")
    # Uniform over active ops: multinomial over the 0/1 mask row. Drawn on the generator's device.
    probs = mask.detach().to(generator.device, torch.float32)
    if per == "network":
        return _draw_cell(probs, generator, reject_disconnected, max_tries)
    if num_cells < 1:
        raise ValueError("num_cells must be >= 1 for per='cell'")
    return torch.stack(
        [_draw_cell(probs, generator, reject_disconnected, max_tries) for _ in range(num_cells)]
    )


def sample_single_path(
    mask: Tensor,
    generator: torch.Generator,
    *,
    per: str = "network",
    num_cells: int = 1,
    reject_disconnected: bool = True,
) -> Tensor:
    """One-hot float op weights of a uniformly sampled path: [6,5] (network) or [num_cells,6,5] (cell)."""
    codes = sample_codes(
        mask, generator, per=per, num_cells=num_cells, reject_disconnected=reject_disconnected
    )
    return one_hot_codes(codes, mask.device)
