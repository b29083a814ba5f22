"""The training pieces of one HEP-NAS (sub-)supernet: BN-safe no-grad forwards, one epoch with optional SMD,
whole-held-out selection accuracy.

Why separate from the stage logic in `search.py`: the same epoch loop runs the supernet epochs (plain CE), the
SMD epochs of every child (CE + KL terms) and the final epochs; keeping it in one function makes "SMD changes
only the weight loss, never the alpha step" visible in one place.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.common.alpha import masked_softmax
from algorithms.common.bilevel import darts_alpha_step
from algorithms.common.buffers import restored_buffers
from algorithms.common.partition import SupernetState
from harness.train import autocast, set_lr, sgd_step

from .smd import smd_loss, uses_siblings, uses_teacher


@contextlib.contextmanager
def frozen_stats(module: nn.Module, bn_mode: str) -> Iterator[None]:
    """Forwards inside leave `module` exactly as it was: bn_mode "train" normalises with batch statistics and
    restores every buffer afterwards (running stats are never updated, whatever the BN implementation: the
    fused supernet cells use F.batch_norm directly); "eval" uses running statistics. Modes are restored on
    exit."""
    modes = [(m, m.training) for m in module.modules()]
    keep = restored_buffers(module) if bn_mode == "train" else contextlib.nullcontext()
    try:
        module.train(bn_mode == "train")
        with keep:
            yield
    finally:
        for m, t in modes:  # each module's own flag (m.train(t) would recurse: quadratic in the module count)
            m.training = t


@contextlib.contextmanager
def kd_forward_mode(module: nn.Module, bn_mode: str) -> Iterator[None]:
    """BN mode for a teacher/peer forward: "public" = train mode, running stats updated (the public code's
    incidental behaviour, kd_bn_mode="public"); otherwise as `frozen_stats`."""
    if bn_mode == "public":
        was = module.training
        module.train(True)
        try:
            yield
        finally:
            module.train(was)
    else:
        with frozen_stats(module, bn_mode):
            yield


def mixture_weights(state: SupernetState) -> Tensor:
    assert state.alpha is not None
    return masked_softmax(state.alpha, state.mask)


@torch.no_grad()
def mixture_logits(state: SupernetState, x: Tensor, bn_mode: str, amp_device: torch.device | None) -> Tensor:
    """Logits of a (frozen or sibling) supernet's masked-softmax mixture, no gradient."""
    with kd_forward_mode(state.supernet, bn_mode), _amp(amp_device):
        return state.supernet(x, mixture_weights(state).detach(), state.mask).float()


@torch.no_grad()
def held_out_accuracy(
    state: SupernetState,
    batches: Iterable[tuple[Tensor, Tensor]],
    bn_mode: str,
    amp_device: torch.device | None,
) -> float:
    """% top-1 of the child's own masked-softmax mixture over all given batches (a list or one pass of a
    stream; no gradient, stats untouched). With bn_mode "train" each batch is normalised with its own
    statistics, so the batch size and composition change the result (the selection protocol fixes both)."""
    correct = 0
    total = 0
    w = mixture_weights(state).detach()
    with frozen_stats(state.supernet, bn_mode), _amp(amp_device):
        for x, y in batches:
            logits = state.supernet(x, w, state.mask)
            correct += int((logits.argmax(dim=1) == y).sum())
            total += int(y.shape[0])
    if total == 0:
        raise ValueError("held-out accuracy over zero images is undefined")
    return 100.0 * correct / total


def _amp(device: torch.device | None) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on `device`; None (the default amp=false) = fp32. The caller passes a device only when the
    run opted in (Config.amp)."""
    return autocast(device, enabled=True) if device is not None else contextlib.nullcontext()


@dataclass
class KD:
    """Who distils into the student during one SMD epoch, and how their logits are obtained.

    With `cache` (a dict shared by all children of one round-robin round, in which every child replays the
    SAME weight-half batches), the frozen teacher's logits are computed once per batch and each sibling's
    logits once per (batch, whether the sibling has already trained in this round): a sibling only changes
    during its own epoch, so these are exactly the logits an uncached forward would produce. Forwards drop
    from K per student step to about 2 per sibling per batch per round. Without cache (kd_bn_mode="public",
    whose forwards also update running statistics), every student step runs the forwards itself.
    """

    mode: str
    teacher: SupernetState | None
    siblings: list[tuple[int, SupernetState]]  # (child index, state), the student excluded
    teacher_bn: str  # "train" (batch stats) | "public"
    peer_bn: str  # "train" | "eval" | "public"
    cache: dict[tuple[Any, ...], Tensor] | None = None
    trained: set[int] = field(default_factory=set)  # children that already ran their epoch in this round

    @property
    def nominal_forwards(self) -> int:
        """Teacher + sibling forwards one student step needs without caching (the public code's count)."""
        return int(uses_teacher(self.mode) and self.teacher is not None) + (
            len(self.siblings) if uses_siblings(self.mode) else 0
        )

    def targets(
        self, batch: int, x: Tensor, amp_device: torch.device | None
    ) -> tuple[Tensor | None, list[Tensor], int]:
        """(teacher logits, sibling logits, forwards actually run) for weight-half batch number `batch`."""
        forwards = 0

        def get(key: tuple[Any, ...], state: SupernetState, bn: str) -> Tensor:
            nonlocal forwards
            if self.cache is not None and key in self.cache:
                return self.cache[key]
            z = mixture_logits(state, x, bn, amp_device)
            forwards += 1
            if self.cache is not None:
                self.cache[key] = z
            return z

        teacher_logits = None
        if uses_teacher(self.mode) and self.teacher is not None:
            teacher_logits = get(("teacher", batch), self.teacher, self.teacher_bn)
        sibling_logits: list[Tensor] = []
        if uses_siblings(self.mode):
            sibling_logits = [
                get(("sibling", k, batch, k in self.trained), st, self.peer_bn) for k, st in self.siblings
            ]
        return teacher_logits, sibling_logits, forwards


@dataclass
class EpochStats:
    loss: float = 0.0
    steps: int = 0
    images: int = 0
    forwards: int = 0
    wall_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def train_epoch(
    state: SupernetState,
    weight_batches: Sequence[tuple[Tensor, Tensor]] | Iterator[tuple[Tensor, Tensor]],
    held_batches: Sequence[tuple[Tensor, Tensor]] | Iterator[tuple[Tensor, Tensor]],
    *,
    lr: float,
    grad_clip: float,
    update_alpha: bool,
    alpha_regularizer: Any = None,
    kd: KD | None = None,
    max_steps: int = 0,
    amp_device: torch.device | None = None,
) -> EpochStats:
    """One epoch: per batch pair, a first-order alpha step on the held-out batch (CE, plus
    `alpha_regularizer(masked softmax)` when given: the sharpening term; skipped while `update_alpha` is False),
    then an SGD weight step whose loss is CE or, with `kd`, the SMD loss (§2.3). KD never touches alpha."""
    assert state.w_opt is not None and state.alpha is not None
    # A fully determined region (one active op per edge) has a constant mixture (softmax over one op = 1):
    # alpha gets no gradient, so the alpha step is skipped (the exhaustive partition's last stage).
    update_alpha = update_alpha and bool((state.mask.sum(dim=-1) > 1).any())
    if update_alpha:
        assert state.a_opt is not None
    start = time.perf_counter()
    stats = EpochStats()
    net = state.supernet
    net.train()
    set_lr(state.w_opt, lr)
    params = [p for p in net.parameters() if p.requires_grad]
    pairs = zip(weight_batches, held_batches)  # noqa: B905 (the held-out half may be shorter)
    for batch, ((xw, yw), (xv, yv)) in enumerate(itertools.islice(pairs, max_steps) if max_steps else pairs):
        if update_alpha:
            assert state.a_opt is not None
            darts_alpha_step(
                net,
                state.alpha,
                state.mask,
                state.a_opt,
                (xv, yv),
                order=1,
                autocast_device=amp_device,
                regularizer=alpha_regularizer,
            )
            stats.forwards += 1
        teacher_logits = None
        sibling_logits: list[Tensor] = []
        if kd is not None:
            teacher_logits, sibling_logits, n = kd.targets(batch, xw, amp_device)
            stats.forwards += n
            stats.extra["kd_nominal_forwards"] = (
                stats.extra.get("kd_nominal_forwards", 0.0) + kd.nominal_forwards
            )
        net.train()
        state.w_opt.zero_grad(set_to_none=True)
        with _amp(amp_device):
            logits = net(xw, mixture_weights(state).detach(), state.mask).float()
        if kd is None:
            loss = F.cross_entropy(logits, yw)
        else:
            loss = smd_loss(logits, yw, teacher_logits, sibling_logits, kd.mode)
        sgd_step(loss, state.w_opt, params, grad_clip)
        stats.forwards += 1
        stats.loss += float(loss.detach())
        stats.steps += 1
        stats.images += int(yw.shape[0])
    if stats.steps:
        stats.loss /= stats.steps
    stats.wall_s = time.perf_counter() - start
    return stats
