"""Shared supernet epoch loops: single-path / masked weight training and the DARTS alternating epoch.

Why shared: SPOS, few-shot NAS, HEP-NAS and DARTS spend their time in the same two loops; one implementation
keeps cost counting (ctx.count), per-epoch logging (train_loss, train_acc_pct) and the step order identical
across algorithms. The LR schedule is the caller's (harness.train.set_lr before each epoch).

Public API:
    @dataclass(frozen=True) EpochStats: loss: float; acc_pct: float; steps: int; images: int;
        alpha_loss: float | None = None (mean held-out loss of the alpha steps, DARTS epochs only)
    train_weights_epoch(supernet, op_weights_fn: Callable[[], tuple[Tensor, Tensor | None]], stream,
                        optimizer, grad_clip: float, ctx, *, epoch: int, log_phase: str = "supernet",
                        step_offset: int = 0, stage: int | None = None, child: int | None = None,
                        log: bool = True) -> EpochStats
        One epoch over `stream` (a harness.data.BatchStream or any iterable of (x, y)). Per batch:
        (op_weights, active_mask) = op_weights_fn(); zero_grad; CE(supernet(x, op_weights, active_mask), y);
        harness.train.sgd_step (backward, clip, step). Counts epochs=1, steps, images, forwards in the
        current ctx phase; logs train_loss, train_acc_pct at step = step_offset + steps.
    train_darts_epoch(supernet, alpha, mask, weight_stream, held_out_stream, weight_optimizer,
                      alpha_optimizer, grad_clip: float, ctx, *, epoch: int, order: int = 1,
                      log_phase: str = "supernet", step_offset: int = 0, stage=None, child=None,
                      log: bool = True, train_alpha: bool = True) -> EpochStats
        DARTS (algorithms.md §5): per weight batch, first an alpha step (Adam, bilevel.darts_alpha_step) on
        the next held-out batch (the held-out stream starts a new shuffled pass when exhausted), then an SGD
        step on the weight batch with op weights masked_softmax(alpha, mask). train_alpha=False freezes
        alpha (weights-only epochs). Also logs alpha_loss.
    build_supernet(one_shot, ctx, *, num_classes, C, N, affine, track_running_stats) -> nn.Module
        the space's supernet; the ONE seeding rule of every algorithm: initial weights fixed by the run seed
        alone (derive_seed(seed, "supernet_init")), so a seed gives every method the same initial supernet
        (same size), identical on every device.
    generator_states(ctx, purposes) -> dict[str, Tensor]; restore_generators(ctx, states) -> None  (resume)
    check_split(data, data_protocol, name) -> None  (InputError when real data was split otherwise)
    capped(stream, max_steps) -> iterable: one epoch of `stream`, its first `max_steps` batches (0 = all);
    capped_len(stream, max_steps) -> int: how many batches that epoch has (config `max_steps_per_epoch`)
Both loops take `amp` (a run's explicit opt-in: bf16 autocast of the forward passes on ctx.device; default fp32;
never DARTS' second-order step, see bilevel) and call supernet.train().
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.errors import InputError
from harness.train import autocast, derive_seed, sgd_step

from .alpha import masked_softmax
from .bilevel import darts_alpha_step

SUPERNET_INIT = "supernet_init"
"""The purpose every algorithm's initial supernet is seeded from (with the run seed)."""


@dataclass(frozen=True)
class EpochStats:
    loss: float
    acc_pct: float
    steps: int
    images: int
    alpha_loss: float | None = None


def _log(
    ctx: Any, stats: EpochStats, *, step: int, phase: str, epoch: int, stage: int | None, child: int | None
) -> None:
    scalars = {"train_loss": stats.loss, "train_acc_pct": stats.acc_pct}
    if stats.alpha_loss is not None:
        scalars["alpha_loss"] = stats.alpha_loss
    ctx.log(step, phase, stage=stage, child=child, epoch=epoch, **scalars)


def _weight_step(
    supernet: nn.Module,
    x: Tensor,
    y: Tensor,
    op_weights: Tensor,
    active_mask: Tensor | None,
    optimizer: torch.optim.Optimizer,
    params: list[Tensor],
    grad_clip: float,
    device: Any,
    amp: bool,
) -> tuple[Tensor, Tensor]:
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, enabled=amp):
        logits = supernet(x, op_weights, active_mask)
    loss = F.cross_entropy(logits.float(), y)
    sgd_step(loss, optimizer, params, grad_clip)
    return loss.detach(), (logits.detach().argmax(dim=1) == y).sum()


class _Tally:
    """Loss and accuracy of an epoch's weight steps, summed on the device (no host sync per step)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.steps = self.images = 0

    def add(self, loss: Tensor, correct: Tensor, n: int) -> None:
        self.loss_sum += loss.double() * n
        self.correct += correct
        self.steps += 1
        self.images += n

    def stats(self, alpha_loss: float | None = None) -> EpochStats:
        if self.steps == 0:
            raise ValueError("the weight stream yielded no batch")
        return EpochStats(
            float(self.loss_sum) / self.images,
            100.0 * int(self.correct) / self.images,
            self.steps,
            self.images,
            alpha_loss,
        )


def train_weights_epoch(
    supernet: nn.Module,
    op_weights_fn: Callable[[], tuple[Tensor, Tensor | None]],
    stream: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    grad_clip: float,
    ctx: Any,
    *,
    epoch: int,
    log_phase: str = "supernet",
    step_offset: int = 0,
    stage: int | None = None,
    child: int | None = None,
    log: bool = True,
    amp: bool = False,
) -> EpochStats:
    """One weight-training epoch with op weights drawn per step from `op_weights_fn` (module docstring)."""
    supernet.train()
    params = [p for p in supernet.parameters() if p.requires_grad]
    dev = next(iter(params)).device if params else torch.device("cpu")
    tally = _Tally(dev)
    for x, y in stream:
        op_weights, active_mask = op_weights_fn()
        loss, corr = _weight_step(
            supernet, x, y, op_weights, active_mask, optimizer, params, grad_clip, ctx.device, amp
        )
        tally.add(loss, corr, int(y.shape[0]))
    stats = tally.stats()
    ctx.count(epochs=1, steps=stats.steps, images=stats.images, forwards=stats.steps)
    if log:
        _log(ctx, stats, step=step_offset + stats.steps, phase=log_phase, epoch=epoch, stage=stage, child=child)
    return stats


def _cycle(stream: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless batches: a new pass (new shuffle) of `stream` whenever the previous one is exhausted."""
    while True:
        empty = True
        for batch in stream:
            empty = False
            yield batch
        if empty:
            raise ValueError("the held-out stream yielded no batch")


def train_darts_epoch(
    supernet: nn.Module,
    alpha: Tensor,
    mask: Tensor,
    weight_stream: Iterable[tuple[Tensor, Tensor]],
    held_out_stream: Iterable[tuple[Tensor, Tensor]],
    weight_optimizer: torch.optim.Optimizer,
    alpha_optimizer: torch.optim.Optimizer,
    grad_clip: float,
    ctx: Any,
    *,
    epoch: int,
    order: int = 1,
    log_phase: str = "supernet",
    step_offset: int = 0,
    stage: int | None = None,
    child: int | None = None,
    log: bool = True,
    train_alpha: bool = True,
    amp: bool = False,
) -> EpochStats:
    """One DARTS epoch: alpha step on a held-out batch, then weight step on a weight batch (see module)."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    supernet.train()
    mask = mask.to(alpha.device)
    params = [p for p in supernet.parameters() if p.requires_grad]
    held_out = _cycle(held_out_stream) if train_alpha else None
    tally = _Tally(alpha.device)
    alpha_loss_sum = torch.zeros((), dtype=torch.float64, device=alpha.device)
    held_images = 0
    for x, y in weight_stream:
        if held_out is not None:
            xv, yv = next(held_out)
            a_loss = darts_alpha_step(
                supernet,
                alpha,
                mask,
                alpha_optimizer,
                (xv, yv),
                order=order,
                train_batch=(x, y),
                weight_optimizer=weight_optimizer,
                autocast_device=ctx.device if amp else None,
            )
            alpha_loss_sum += a_loss.double()
            held_images += int(yv.shape[0])
        op_weights = masked_softmax(alpha, mask).detach()
        loss, corr = _weight_step(
            supernet, x, y, op_weights, mask, weight_optimizer, params, grad_clip, ctx.device, amp
        )
        tally.add(loss, corr, int(y.shape[0]))
    stats = tally.stats(float(alpha_loss_sum) / max(tally.steps, 1) if train_alpha else None)
    alpha_fw = (1 if order == 1 else 4) if train_alpha else 0
    ctx.count(
        epochs=1, steps=stats.steps, images=stats.images + held_images, forwards=stats.steps * (1 + alpha_fw)
    )
    if log:
        _log(ctx, stats, step=step_offset + stats.steps, phase=log_phase, epoch=epoch, stage=stage, child=child)
    return stats


def capped(stream: Iterable[tuple[Tensor, Tensor]], max_steps: int) -> Iterable[tuple[Tensor, Tensor]]:
    """One epoch of `stream` cut to its first `max_steps` batches (0 = the whole epoch); once per epoch."""
    return itertools.islice(stream, max_steps) if max_steps > 0 else stream


def capped_len(stream: Sized, max_steps: int) -> int:
    """Batches in one `capped(stream, max_steps)` epoch."""
    return min(len(stream), max_steps) if max_steps > 0 else len(stream)


# ------------------------------------------------------------------------------------ construction and resume
def build_supernet(
    one_shot: Any,
    ctx: Any,
    *,
    num_classes: int,
    C: int,
    N: int,
    affine: bool,
    track_running_stats: bool,
) -> nn.Module:
    """The space's supernet, whose initial weights depend only on the run seed: built on CPU under a forked
    global RNG seeded with derive_seed(seed, SUPERNET_INIT), then moved to ctx.device (same init on every
    device, and in every algorithm: one seeding rule, so methods compared at one seed start alike)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(int(ctx.seed), SUPERNET_INIT))
        net = one_shot.build_supernet(
            num_classes=num_classes, C=C, N=N, affine=affine, track_running_stats=track_running_stats
        )
    return net.to(ctx.device)


def generator_states(ctx: Any, purposes: Iterable[str]) -> dict[str, Tensor]:
    """Checkpointable states of the context's named torch generators (for exact resume)."""
    return {p: ctx.torch_generator(p).get_state() for p in purposes}


def restore_generators(ctx: Any, states: dict[str, Tensor]) -> None:
    for p, s in states.items():
        ctx.torch_generator(p).set_state(s.to("cpu", torch.uint8))


def check_split(data: Any, data_protocol: str, name: str) -> None:
    """InputError unless real data was split as the config's data protocol says (synthetic data has no split)."""
    from harness.api import protocol_split

    if getattr(data, "source", None) == "real":
        parts = str(data.identity).split(":")
        expected = protocol_split(data_protocol)
        if len(parts) >= 2 and parts[1] != expected:
            raise InputError(
                f"{name} data_protocol={data_protocol!r} needs data split {expected!r} but the data is split "
                f"{parts[1]!r}; set {name}.data_protocol or data.split to match"
            )
