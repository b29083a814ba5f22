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
        The supernet's train/eval mode is restored on return. torch.no_grad (not inference_mode: tensors the
        cells cache during scoring are later used under autograd); batches outer, archs inner, so a supernet
        with `forward_after_stem` (NB201) runs its architecture-independent stem once per batch; one host sync
        per call.
    batch_statistics_bn(module) -> context manager used by bn_mode="train" (also for HEP-NAS selection).
    held_out_score_batches(data: SearchData, batch_size: int, max_images: int | None = None) -> list[(x, y)]
    score_for_rank(one_shot, supernet, archs, ctx, *, native_bn_mode, batch_size, max_images, autocast_device)
        what every `SupernetScorer.score` calls: the run's rank-scoring protocol (`ctx.scoring`,
        harness.api.ScoringProtocol): "recalibrate" = per-arch BN recalibration on fixed weight-half batches,
        then eval mode (`score_recalibrated`); "native" or None = `native_bn_mode`. Counts forwards/images.
    score_by_owner(one_shot, archs, owners, supernets: {owner: module}, ctx, **score_for_rank options)
        score_for_rank per owning (sub-)supernet (few-shot NAS, HEP-NAS), in input order.
    recalibrated_bn(module) -> context manager: fresh running-statistics buffers on every BN layer (also on
        cells built without them), restored on exit; `recalibrate(...)` fills them for one path.

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

from .buffers import restored_buffers
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

    return autocast(device, enabled=True)


EVAL_CHUNK = 64
"""Images per forward when scoring with running statistics (see `_eval_chunks`)."""


def _eval_chunks(
    batches: Sequence[tuple[Tensor, Tensor]], bn_mode: str
) -> Iterator[tuple[Tensor, Tensor]]:
    """The scoring batches, cut into EVAL_CHUNK-image pieces when BN uses running statistics on CPU.

    Why: with running statistics every image is computed on its own (no batch statistics), so the pieces give
    the same logits as the whole batch, while their activations stay in the CPU's caches (at batch 512 and
    C=16 one activation is 33 MB; elementwise passes ran at half the bandwidth of batch 64). With batch
    statistics (bn_mode "train") the batch is the unit of normalisation and is never cut; a GPU wants big
    batches, so its batches are not cut either."""
    for x, y in batches:
        if bn_mode != "eval" or x.device.type != "cpu" or int(y.shape[0]) <= EVAL_CHUNK:
            yield x, y
        else:
            yield from zip(x.split(EVAL_CHUNK), y.split(EVAL_CHUNK), strict=True)


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
    weights = [arch_one_hot(one_shot, arch, device) for arch in archs]
    correct = torch.zeros(len(archs), dtype=torch.int64, device=device)
    after_stem = getattr(supernet, "forward_after_stem", None)
    with mode, _autocast(autocast_device):
        for x, y in _eval_chunks(batches, bn_mode):
            if after_stem is not None:
                # The stem does not depend on the architecture and nothing here changes it (no training; BN
                # running statistics are read, or batch statistics are used without updating them), so its
                # output for this batch is the same, bit for bit, for every architecture: computed once.
                h = supernet.stem(x)
                for i, w in enumerate(weights):
                    correct[i] += (after_stem(h, w, w.bool()).argmax(dim=1) == y).sum()
            else:
                for i, w in enumerate(weights):
                    correct[i] += (supernet(x, w, w.bool()).argmax(dim=1) == y).sum()
    return 100.0 * correct.cpu().numpy().astype(np.float64) / total


# ------------------------------------------------------------------------------------------ BN recalibration
def _bn_layers(module: nn.Module) -> list[nn.Module]:
    """torch BatchNorm layers and fused cells that declare their statistics (`running_stat_specs`)."""
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) or callable(getattr(m, "running_stat_specs", None))
    ]


def _stat_specs(m: nn.Module) -> dict[str, tuple[tuple[int, ...], float]]:
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return {"running_mean": ((m.num_features,), 0.0), "running_var": ((m.num_features,), 1.0)}
    return m.running_stat_specs()  # type: ignore[operator,no-any-return]


@contextlib.contextmanager
def recalibrated_bn(module: nn.Module) -> Iterator[list[nn.Module]]:
    """Inside: every BN layer of `module` tracks running statistics in fresh buffers (zeros / ones), whatever it
    was built with, so `recalibrate` can fill them; on exit the layers get back their own buffers (or none),
    flags, momenta and train/eval modes, untouched. Yields the BN layers."""
    layers = _bn_layers(module)
    device = next(module.parameters()).device
    saved = []
    for m in layers:
        own = {name: m._buffers.get(name, _ABSENT) for name in _stat_specs(m)}
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            own["num_batches_tracked"] = m._buffers.get("num_batches_tracked", _ABSENT)
        saved.append((m, m.track_running_stats, m.momentum, own))
    modes = [(m, m.training) for m in module.modules()]
    try:
        for m in layers:
            for name, (shape, fill) in _stat_specs(m).items():
                fresh = torch.full(shape, fill, dtype=torch.float32, device=device)
                if name in m._buffers:
                    m._buffers[name] = fresh
                else:
                    m.register_buffer(name, fresh, persistent=False)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m._buffers["num_batches_tracked"] = torch.zeros((), dtype=torch.long, device=device)
            m.track_running_stats = True
        yield layers
    finally:
        for m, flag, momentum, own in saved:
            for name, tensor in own.items():
                if tensor is _ABSENT:
                    del m._buffers[name]
                else:
                    m._buffers[name] = tensor
            m.track_running_stats = flag
            m.momentum = momentum
        for m, t in modes:
            m.train(t)


_ABSENT: Any = object()


def recalibrate(
    module: nn.Module, layers: Sequence[nn.Module], w: Tensor, m: Tensor, calib: Sequence[tuple[Tensor, Tensor]]
) -> None:
    """Inside `recalibrated_bn`: reset the statistics and recompute them for path (w, m) as a cumulative
    average over the calibration batches (momentum 1/t on the t-th batch, torch's momentum=None rule), then
    leave `module` in eval mode. No gradients."""
    for layer in layers:
        for name, (_, fill) in _stat_specs(layer).items():
            layer._buffers[name].fill_(fill)
    module.train()
    with torch.no_grad():
        for t, (x, _) in enumerate(calib, start=1):
            for layer in layers:
                layer.momentum = 1.0 / t
            module(x, w, m)
    module.eval()


@torch.no_grad()
def score_recalibrated(
    one_shot: OneShotAdapter,
    supernet: nn.Module,
    archs: Sequence[Any],
    batches: Sequence[tuple[Tensor, Tensor]],
    calib: Sequence[tuple[Tensor, Tensor]],
    *,
    autocast_device: torch.device | str | None = None,
) -> np.ndarray:
    """% held-out top-1 of each arch's path after recalibrating every BN on `calib` for that path (eval mode)."""
    batches, calib = list(batches), list(calib)
    if not batches or not calib:
        raise ValueError("score_recalibrated needs scoring and calibration batches")
    total = sum(int(y.shape[0]) for _, y in batches)
    device = batches[0][0].device
    scores = np.empty(len(archs), dtype=np.float64)
    with recalibrated_bn(supernet) as layers, _autocast(autocast_device):
        for i, arch in enumerate(archs):
            w = arch_one_hot(one_shot, arch, device)
            m = w.bool()
            recalibrate(supernet, layers, w, m, calib)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for x, y in batches:
                correct += (supernet(x, w, m).argmax(dim=1) == y).sum()
            scores[i] = 100.0 * int(correct) / total
    return scores


def calibration_batches(data: Any, images: int, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    """The fixed BN-calibration batches: the first `images` weight-half images, un-augmented."""
    from harness.data import fixed_batches

    weight = data.weight
    return fixed_batches(weight.subset(slice(0, min(images, len(weight)))), batch_size)


def score_for_rank(
    one_shot: OneShotAdapter,
    supernet: nn.Module,
    archs: Sequence[Any],
    ctx: Any,
    *,
    native_bn_mode: str,
    batch_size: int,
    max_images: int | None,
    autocast_device: torch.device | str | None = None,
) -> np.ndarray:
    """Scores for the harness's rank-correlation set under the run's protocol (`ctx.scoring`; see module doc).
    The supernet's buffers and modes are the same after the call as before."""
    protocol = getattr(ctx, "scoring", None)
    batches = held_out_score_batches(ctx.data, batch_size, max_images)
    n_img = sum(int(y.shape[0]) for _, y in batches)
    if protocol is None or protocol.bn == "native":
        with restored_buffers(supernet):
            scores = score_single_path(
                one_shot, supernet, archs, batches, bn_mode=native_bn_mode, autocast_device=autocast_device
            )
        ctx.count(forwards=len(archs) * len(batches), images=len(archs) * n_img)
        return scores
    calib = calibration_batches(ctx.data, protocol.calib_images, protocol.calib_batch_size)
    scores = score_recalibrated(one_shot, supernet, archs, batches, calib, autocast_device=autocast_device)
    c_img = sum(int(y.shape[0]) for _, y in calib)
    ctx.count(forwards=len(archs) * (len(batches) + len(calib)), images=len(archs) * (n_img + c_img))
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


def score_by_owner(
    one_shot: OneShotAdapter,
    archs: Sequence[Any],
    owners: Sequence[str],
    supernets: dict[str, nn.Module],
    ctx: Any,
    *,
    native_bn_mode: str,
    batch_size: int,
    max_images: int | None,
    autocast_device: torch.device | str | None = None,
) -> np.ndarray:
    """score_for_rank per owning (sub-)supernet: archs[i] is scored by supernets[owners[i]]; input order kept.
    Few-shot NAS and HEP-NAS score their rank-evaluation sets this way (each arch by the child owning it)."""
    scores = np.empty(len(archs), dtype=np.float64)
    with ctx.phase("score"):
        for name, net in supernets.items():
            idx = [i for i, o in enumerate(owners) if o == name]
            if idx:
                scores[idx] = score_for_rank(
                    one_shot,
                    net,
                    [archs[i] for i in idx],
                    ctx,
                    native_bn_mode=native_bn_mode,
                    batch_size=batch_size,
                    max_images=max_images,
                    autocast_device=autocast_device,
                )
    return scores
