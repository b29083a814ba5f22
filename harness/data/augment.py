"""Standard CIFAR augmentation (random crop with padding + horizontal flip, optional cutout) on whole batches,
on the device.

Random numbers come from a caller's torch.Generator (any device) and are moved to the data's device, so a CPU
generator gives the same crops on CPU and CUDA. The crop is two `gather`s: no per-sample Python.
"""

from __future__ import annotations

import torch
from torch import Tensor


def shift_crop(x: Tensor, offsets_y: Tensor, offsets_x: Tensor, size: int) -> Tensor:
    """Per-sample crop: out[i] = x[i, :, oy[i]:oy[i]+size, ox[i]:ox[i]+size] (one indexing copy of a view)."""
    windows = x.unfold(2, size, 1).unfold(3, size, 1)  # [n,c,K,K,size,size], no copy
    rows = torch.arange(x.shape[0], device=x.device)
    return windows[rows, :, offsets_y.to(x.device), offsets_x.to(x.device)]


def random_crop_flip(
    x: Tensor,
    generator: torch.Generator,
    *,
    padding: int,
    pad_value: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Tensor:
    """RandomCrop(H, padding) + RandomHorizontalFlip(0.5) for a batch [B,3,H,W] (H == W).

    Draw order is fixed (crop y, crop x, flip), so a generator state reproduces the batch exactly.
    """
    b, c, h, w = x.shape
    gdev = generator.device
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=gdev)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=gdev)
    flip = torch.rand((b,), generator=generator, device=gdev) < 0.5
    fill = torch.tensor(pad_value, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    padded = fill.expand(b, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding : padding + h, padding : padding + w] = x
    out = shift_crop(padded, oy, ox, h)
    flip = flip.to(x.device).view(b, 1, 1, 1)
    return torch.where(flip, out.flip(3), out)


def cutout(x: Tensor, generator: torch.Generator, *, length: int) -> Tensor:
    """Cutout (DeVries & Taylor 2017, as in quark0/darts `utils.Cutout`): per image, a `length` x `length`
    square centred on a uniform pixel (clipped at the border) is set to 0, after normalisation as there.

    One centre per image, drawn (y, then x) from `generator`; a mask multiply, no per-sample Python.
    """
    b, _, h, w = x.shape
    gdev = generator.device
    cy = torch.randint(0, h, (b,), generator=generator, device=gdev).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator, device=gdev).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    half = length // 2
    inside_y = (rows >= (cy - half).view(b, 1, 1)) & (rows < (cy + length - half).view(b, 1, 1))
    inside_x = (cols >= (cx - half).view(b, 1, 1)) & (cols < (cx + length - half).view(b, 1, 1))
    keep = ~(inside_y & inside_x)
    return x * keep.unsqueeze(1).to(x.dtype)
