"""Single-path proxy scoring: held-out top-1 of each arch's path through a trained (sub-)supernet.

Why shared: SPOS selection, few-shot NAS / HEP-NAS per-child scoring and the harness's rank-correlation set
all use the same proxy (algorithms.md §6, §8), and its BN handling is a known source of disagreement
(§9 #10), so it lives in one place with an explicit `bn_mode`.

Public API:
    score_single_path(supernet, archs: Sequence[NB201Arch], batches: Sequence[tuple[Tensor, Tensor]], *,
                      bn_mode: str = "eval", autocast_device=None) -> np.ndarray
        float64 [len(archs)], % top-1 over all images in `batches` (a fixed list, no augmentation: use
        harness.data.fixed_batches on the held-out half), one-hot op weights shared by all cells.
        bn_mode "eval": BN uses its running statistics (SPOS / few-shot NAS convention).
        bn_mode "train": BN normalises with each batch's statistics and running stats are NOT updated (the
        modules' `track_running_stats` is switched off for the call and restored after), so scoring never
        changes the supernet. A supernet built with track_running_stats=False always uses batch statistics.
        The supernet's train/eval mode is restored on return. torch.no_grad; one host sync per arch.
    batch_statistics_bn(module) -> context manager used by bn_mode="train" (also for HEP-NAS selection).
    held_out_score_batches(data: SearchData, batch_size: int, max_images: int | None = None) -> list[(x, y)]
    score_with_context(supernet, archs, ctx, *, batch_size, max_images, bn_mode) -> np.ndarray
        score_single_path on ctx.data's held-out batches, also counting forwards and images via ctx.count.

Cost: score_single_path itself counts nothing; its caller adds len(archs) * len(batches) forwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from harness.spaces.base import OneShotAdapter

from .sampling import arch_one_hot

BN_MODES = ("eval", "train")


@contextlib.contextmanager
def batch_statistics_bn(module: nn.Module) -> Iterator[None]:
    """Inside: `module` in train mode, every BN normalising with batch statistics and leaving its running
    statistics (and num_batches_tracked) untouched. Modes and flags are restored on exit.

    Works on any module exposing a boolean `track_running_stats` attribute that its forward honours: torch's
    _BatchNorm (training=True with track_running_stats=False passes no running buffers to F.batch_norm, see
    torch/nn/modules/batchnorm.py) and the fused supernet cell (harness.spaces.nb201.supernet.FusedCell).
    """
    flagged = [m for m in module.modules() if isinstance(getattr(m, "track_running_stats", None), bool)]
    was_training = [(m, m.training) for m in module.modules()]
    flags = [m.track_running_stats for m in flagged]
    try:
        module.train()
        for m in flagged:
            m.track_running_stats = False
        yield
    finally:
        for m, f in zip(flagged, flags, strict=True):
            m.track_running_stats = f
        for m, t in was_training:
            m.train(t)


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was_training = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        yield
    finally:
        for m, t in was_training:
            m.train(t)


def _autocast(device: torch.device | str | None) -> contextlib.AbstractContextManager[None]:
    if device is None:
        return contextlib.nullcontext()
    from harness.train import autocast

    return autocast(device)


@torch.no_grad()
def score_single_path(
    one_shot: OneShotAdapter,
    supernet: nn.Module,
    archs: Sequence[Any],
    batches: Sequence[tuple[Tensor, Tensor]],
    *,
    bn_mode: str = "eval",
    autocast_device: torch.device | str | None = None,
) -> np.ndarray:
    """% held-out top-1 of each arch's single path (see module docstring)."""
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
    batches = list(batches)
    if not batches:
        raise ValueError("score_single_path needs at least one batch")
    total = sum(int(y.shape[0]) for _, y in batches)
    device = batches[0][0].device
    mode = _eval_mode(supernet) if bn_mode == "eval" else batch_statistics_bn(supernet)
    scores = np.empty(len(archs), dtype=np.float64)
    with mode, _autocast(autocast_device):
        for i, arch in enumerate(archs):
            w = arch_one_hot(one_shot, arch, device)
            m = w.bool()
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for x, y in batches:
                logits = supernet(x, w, m)
                correct += (logits.argmax(dim=1) == y).sum()
            scores[i] = 100.0 * int(correct) / total
    return scores


def held_out_score_batches(
    data: Any, batch_size: int, max_images: int | None = None
) -> list[tuple[Tensor, Tensor]]:
    """Fixed, un-augmented proxy-scoring batches: the first `max_images` (None: all) held-out images."""
    from harness.data import fixed_batches

    images = data.held_out
    if max_images is not None:
        if max_images < 1:
            raise ValueError("max_images must be >= 1")
        images = images.subset(slice(0, min(max_images, len(images))))
    return fixed_batches(images, batch_size)


def score_with_context(
    one_shot: OneShotAdapter,
    supernet: nn.Module,
    archs: Sequence[Any],
    ctx: Any,
    *,
    batch_size: int,
    max_images: int | None,
    bn_mode: str,
) -> np.ndarray:
    """score_single_path on ctx.data's held-out batches; counts forwards and images in the current phase."""
    batches = held_out_score_batches(ctx.data, batch_size, max_images)
    scores = score_single_path(one_shot, supernet, archs, batches, bn_mode=bn_mode, autocast_device=ctx.device)
    n_img = sum(int(y.shape[0]) for _, y in batches)
    ctx.count(forwards=len(archs) * len(batches), images=len(archs) * n_img)
    return scores
