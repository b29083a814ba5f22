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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.common.alpha import check_mask, masked_softmax
from algorithms.common.bilevel import darts_alpha_step
from algorithms.common.buffers import untouched_batch_statistics
from algorithms.common.partition import SupernetState
from harness.train import autocast, set_lr, sgd_step

from .smd import smd_loss, uses_siblings, uses_teacher

Sections = Callable[[str], contextlib.AbstractContextManager[Any]]
"""An optional timing hook (`train_epoch(..., sections=...)`, `KD.targets`): called with a section name, it returns a
context manager around that part of the step. Names: "arch_step" (darts_alpha_step), "kd_targets" (all teacher and
sibling logits of one step), inside it "teacher" and "sibling{k}" (entered only for a forward actually run, not for
a cached one), "weight_step" (zero_grad, forward, loss, backward, clip, SGD step). algorithms/hepnas/step_bench.py
times them; None (the default) costs one shared no-op context per section."""

_NO_SECTION = contextlib.nullcontext()


def _section(sections: Sections | None, name: str) -> contextlib.AbstractContextManager[Any]:
    return _NO_SECTION if sections is None else sections(name)


@contextlib.contextmanager
def frozen_stats(module: nn.Module, bn_mode: str) -> Iterator[None]:
    """Forwards inside leave `module` exactly as it was: bn_mode "train" normalises with batch statistics and
    updates no running statistics (`untouched_batch_statistics`: track_running_stats is switched off for the
    block, so neither torch's BN nor the fused supernet cells, which call F.batch_norm directly, write a buffer;
    no buffer is copied); "eval" uses running statistics. Modes are restored on exit."""
    if bn_mode == "train":
        with untouched_batch_statistics(module):
            yield
        return
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.train(False)
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


def mixture_weights(state: SupernetState, *, checked: bool = False) -> Tensor:
    """masked_softmax(alpha, mask) of `state`; `checked` as masked_softmax's (the mask was validated already)."""
    assert state.alpha is not None
    return masked_softmax(state.alpha, state.mask, checked=checked)


@torch.no_grad()
def mixture_logits(
    state: SupernetState,
    x: Tensor,
    bn_mode: str,
    amp_device: torch.device | None,
    weights: Tensor | None = None,
) -> Tensor:
    """Logits of a (frozen or sibling) supernet's masked-softmax mixture, no gradient. `weights`: that mixture,
    when the caller already has it (mixture_weights(state) of the current alpha)."""
    with kd_forward_mode(state.supernet, bn_mode), _amp(amp_device):
        w = mixture_weights(state).detach() if weights is None else weights
        return state.supernet(x, w, state.mask).float()


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
    correct = torch.zeros((), dtype=torch.int64, device=state.mask.device)  # summed on the device: one host read
    total = 0
    w = mixture_weights(state).detach()
    with frozen_stats(state.supernet, bn_mode), _amp(amp_device):
        for x, y in batches:
            logits = state.supernet(x, w, state.mask)
            correct += (logits.argmax(dim=1) == y).sum()
            total += int(y.shape[0])
    if total == 0:
        raise ValueError("held-out accuracy over zero images is undefined")
    return 100.0 * int(correct) / total


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
    _weights: dict[int, tuple[int, Tensor]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _mixture(self, state: SupernetState) -> Tensor:
        """mixture_weights(state), detached, computed once per alpha version of `state`."""
        assert state.alpha is not None
        version = state.alpha._version
        hit = self._weights.get(id(state))
        if hit is None or hit[0] != version:
            with torch.no_grad():
                hit = self._weights[id(state)] = (version, mixture_weights(state).detach())
        return hit[1]

    @property
    def nominal_forwards(self) -> int:
        """Teacher + sibling forwards one student step needs without caching (the public code's count)."""
        return int(uses_teacher(self.mode) and self.teacher is not None) + (
            len(self.siblings) if uses_siblings(self.mode) else 0
        )

    def targets(
        self, batch: int, x: Tensor, amp_device: torch.device | None, sections: Sections | None = None
    ) -> tuple[Tensor | None, list[Tensor], int]:
        """(teacher logits, sibling logits, forwards actually run) for weight-half batch number `batch`;
        `sections` as train_epoch's ("teacher", "sibling{k}")."""
        forwards = 0

        def get(key: tuple[Any, ...], state: SupernetState, bn: str, name: str) -> Tensor:
            nonlocal forwards
            if self.cache is not None and key in self.cache:
                return self.cache[key]
            with _section(sections, name):
                z = mixture_logits(state, x, bn, amp_device, self._mixture(state))
            forwards += 1
            if self.cache is not None:
                self.cache[key] = z
            return z

        teacher_logits = None
        if uses_teacher(self.mode) and self.teacher is not None:
            teacher_logits = get(("teacher", batch), self.teacher, self.teacher_bn, "teacher")
        sibling_logits: list[Tensor] = []
        if uses_siblings(self.mode):
            sibling_logits = [
                get(("sibling", k, batch, k in self.trained), st, self.peer_bn, f"sibling{k}")
                for k, st in self.siblings
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
    sections: Sections | None = None,
) -> EpochStats:
    """One epoch: per batch pair, a first-order alpha step on the held-out batch (CE, plus
    `alpha_regularizer(masked softmax)` when given: the sharpening term; skipped while `update_alpha` is False),
    then an SGD weight step whose loss is CE or, with `kd`, the SMD loss (§2.3). KD never touches alpha.
    `sections`: the optional timing hook (`Sections`); it changes no value."""
    assert state.w_opt is not None and state.alpha is not None
    # A fully determined region (one active op per edge) has a constant mixture (softmax over one op = 1):
    # alpha gets no gradient, so the alpha step is skipped (the exhaustive partition's last stage).
    update_alpha = update_alpha and bool((state.mask.sum(dim=-1) > 1).any())
    if update_alpha:
        assert state.a_opt is not None
    # Once per epoch, not per step: the mask check reads back to the host (a GPU sync), and so would a per-step
    # float(loss); the losses are summed on the device in float64 (the same sums as Python floats) instead.
    check_mask(state.alpha, state.mask)
    loss_sum = torch.zeros((), dtype=torch.float64, device=state.alpha.device)
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
            with _section(sections, "arch_step"):
                darts_alpha_step(
                    net,
                    state.alpha,
                    state.mask,
                    state.a_opt,
                    (xv, yv),
                    order=1,
                    autocast_device=amp_device,
                    regularizer=alpha_regularizer,
                    mask_checked=True,
                )
            stats.forwards += 1
        teacher_logits = None
        sibling_logits: list[Tensor] = []
        if kd is not None:
            with _section(sections, "kd_targets"):
                teacher_logits, sibling_logits, n = kd.targets(batch, xw, amp_device, sections)
            stats.forwards += n
            stats.extra["kd_nominal_forwards"] = (
                stats.extra.get("kd_nominal_forwards", 0.0) + kd.nominal_forwards
            )
        with _section(sections, "weight_step"):
            net.train()
            state.w_opt.zero_grad(set_to_none=True)
            with _amp(amp_device):
                logits = net(xw, mixture_weights(state, checked=True).detach(), state.mask).float()
            if kd is None:
                loss = F.cross_entropy(logits, yw)
            else:
                loss = smd_loss(logits, yw, teacher_logits, sibling_logits, kd.mode)
            sgd_step(loss, state.w_opt, params, grad_clip)
        stats.forwards += 1
        loss_sum += loss.detach()
        stats.steps += 1
        stats.images += int(yw.shape[0])
    if stats.steps:
        stats.loss = float(loss_sum) / stats.steps
    stats.wall_s = time.perf_counter() - start
    return stats
