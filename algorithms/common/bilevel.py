"""DARTS bilevel alpha gradient: first order and the second-order (unrolled) finite-difference approximation.

Why separate from the training loop: the second-order formula is easy to get subtly wrong (which LR, which
momentum, the sign of the implicit term), so it is a small pure function of two loss closures that a test
checks against an exact autograd hypergradient on a toy problem.

Formula (algorithms.md §5, quark0/darts architect.py), xi = the current weight LR:
    w'  = w - xi * (momentum * buf + grad_w L_train(w, a) + weight_decay * w)          (virtual SGD step)
    g   = grad_a L_val(w', a) - xi * [grad_a L_train(w+, a) - grad_a L_train(w-, a)] / (2 eps)
    w+- = w +- eps * grad_w' L_val(w', a),   eps = eps_scale / ||grad_w' L_val(w', a)||,   eps_scale = 0.01
With xi = 0 the second-order gradient reduces to the first-order one, grad_a L_val(w, a).

Public API:
    first_order_alpha_grad(val_loss: Callable[[], Tensor], alpha: Tensor) -> Tensor
    unrolled_alpha_grad(train_loss: Callable[[], Tensor], val_loss: Callable[[], Tensor], alpha: Tensor,
                        params: Sequence[Tensor], *, xi: float, weight_decay: float, momentum: float = 0.0,
                        momentum_buffers: Sequence[Tensor | None] | None = None,
                        eps_scale: float = 0.01) -> Tensor
        The closures evaluate the loss at the CURRENT values of `params` (changed in place, then restored).
    apply_alpha_grad(alpha: Tensor, alpha_optimizer: torch.optim.Optimizer, grad: Tensor) -> None
    darts_alpha_step(supernet, alpha, mask, alpha_optimizer, val_batch, *, order: int = 1, train_batch=None,
                     weight_optimizer=None, autocast_device=None, regularizer=None, mask_checked=False)
                     -> Tensor (detached held-out loss)
        One Adam step on alpha for forward(x, masked_softmax(alpha, mask), mask); forwards per call: 1 (order
        1), 4 (order 2). Second order reads xi (current LR), momentum, weight_decay and momentum buffers from
        `weight_optimizer`; its virtual forwards leave BN running statistics as they were (buffers restored),
        while the first-order held-out forward updates them like any train-mode forward (as the public code).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .alpha import masked_softmax
from .buffers import restored_buffers


def first_order_alpha_grad(val_loss: Callable[[], Tensor], alpha: Tensor) -> Tensor:
    """grad_alpha L_val at the current weights (weight .grad fields are not touched)."""
    (g,) = torch.autograd.grad(val_loss(), [alpha])
    return g


def _grads(loss: Tensor, inputs: Sequence[Tensor]) -> list[Tensor]:
    gs = torch.autograd.grad(loss, list(inputs), allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, inputs, strict=True)]


def unrolled_alpha_grad(
    train_loss: Callable[[], Tensor],
    val_loss: Callable[[], Tensor],
    alpha: Tensor,
    params: Sequence[Tensor],
    *,
    xi: float,
    weight_decay: float,
    momentum: float = 0.0,
    momentum_buffers: Sequence[Tensor | None] | None = None,
    eps_scale: float = 0.01,
) -> Tensor:
    """Second-order DARTS alpha gradient (module docstring). `params` are restored before returning."""
    params = list(params)
    if momentum_buffers is None:
        momentum_buffers = [None] * len(params)
    theta = [p.detach().clone() for p in params]
    try:
        # 1. virtual step w' = w - xi * (momentum * buf + dL_train/dw + wd * w)
        g_train = _grads(train_loss(), params)
        with torch.no_grad():
            for p, th, g, buf in zip(params, theta, g_train, momentum_buffers, strict=True):
                d = g + weight_decay * th
                if buf is not None and momentum != 0.0:
                    d = d + momentum * buf
                p.copy_(th - xi * d)
        # 2. gradients of L_val at (w', alpha)
        gv = _grads(val_loss(), [alpha, *params])
        d_alpha, v = gv[0], gv[1:]
        norm = torch.sqrt(sum((t.double() ** 2).sum() for t in v))
        if float(norm) == 0.0 or xi == 0.0:
            return d_alpha
        eps = eps_scale / float(norm)
        # 3. central finite difference of grad_alpha L_train around w along v
        with torch.no_grad():
            for p, th, vi in zip(params, theta, v, strict=True):
                p.copy_(th + eps * vi)
        (g_plus,) = _grads(train_loss(), [alpha])
        with torch.no_grad():
            for p, th, vi in zip(params, theta, v, strict=True):
                p.copy_(th - eps * vi)
        (g_minus,) = _grads(train_loss(), [alpha])
        return d_alpha - xi * (g_plus - g_minus) / (2.0 * eps)
    finally:
        with torch.no_grad():
            for p, th in zip(params, theta, strict=True):
                p.copy_(th)


def apply_alpha_grad(alpha: Tensor, alpha_optimizer: torch.optim.Optimizer, grad: Tensor) -> None:
    alpha_optimizer.zero_grad(set_to_none=True)
    alpha.grad = grad.detach().to(alpha.dtype)
    alpha_optimizer.step()


def _autocast(device: torch.device | str | None) -> contextlib.AbstractContextManager[None]:
    if device is None:
        return contextlib.nullcontext()
    from harness.train import autocast

    return autocast(device, enabled=True)


def darts_alpha_step(
    supernet: nn.Module,
    alpha: Tensor,
    mask: Tensor,
    alpha_optimizer: torch.optim.Optimizer,
    val_batch: tuple[Tensor, Tensor],
    *,
    order: int = 1,
    train_batch: tuple[Tensor, Tensor] | None = None,
    weight_optimizer: torch.optim.Optimizer | None = None,
    autocast_device: torch.device | str | None = None,
    regularizer: Callable[[Tensor], Tensor] | None = None,
    mask_checked: bool = False,
) -> Tensor:
    """One alpha step (Adam) on the held-out batch; returns the detached held-out loss (first order: at w;
    second order: at the virtual weights w'). `regularizer(masked_softmax(alpha))` is added to the first-order
    loss (HEP-NAS alpha-sharpening); the returned loss is the CE part. `mask_checked`: the caller has validated
    `mask` (alpha.check_mask), so masked_softmax skips its per-call check (a host sync on GPU)."""
    xv, yv = val_batch
    # amp (autocast_device) applies to the first-order step only: the second-order virtual step and the
    # finite-difference Hessian product move the weights by xi * grad and eps * v, below bf16's resolution of
    # the weights, so they always run in fp32 (a CPU check: cosine 0.15 between bf16 and fp32 Hessian terms).
    amp_device = autocast_device if order == 1 else None

    def loss_on(x: Tensor, y: Tensor) -> Callable[[], Tensor]:
        def f() -> Tensor:
            with _autocast(amp_device):
                logits = supernet(x, masked_softmax(alpha, mask, checked=mask_checked), mask)
            return F.cross_entropy(logits.float(), y)

        return f

    if order == 1:
        loss = loss_on(xv, yv)()
        total = loss if regularizer is None else loss + regularizer(masked_softmax(alpha, mask, checked=mask_checked))
        (g,) = torch.autograd.grad(total, [alpha])
    elif order == 2:
        if regularizer is not None:
            raise ValueError("a regularizer is supported with the first-order alpha step only")
        if train_batch is None or weight_optimizer is None:
            raise ValueError("second-order alpha step needs train_batch and weight_optimizer")
        group = weight_optimizer.param_groups[0]
        params = [p for p in supernet.parameters() if p.requires_grad]
        bufs = [weight_optimizer.state.get(p, {}).get("momentum_buffer") for p in params]
        seen: list[Tensor] = []
        val_f = loss_on(xv, yv)

        def val_loss() -> Tensor:
            seen.append(val_f())
            return seen[-1]

        with restored_buffers(supernet):
            g = unrolled_alpha_grad(
                loss_on(*train_batch),
                val_loss,
                alpha,
                params,
                xi=float(group["lr"]),
                weight_decay=float(group.get("weight_decay", 0.0)),
                momentum=float(group.get("momentum", 0.0)),
                momentum_buffers=bufs,
            )
        loss = seen[0]  # held-out loss at the virtual weights w'
    else:
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    apply_alpha_grad(alpha, alpha_optimizer, g)
    return loss.detach()
