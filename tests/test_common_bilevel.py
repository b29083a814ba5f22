"""algorithms.common.bilevel: second-order DARTS alpha gradient vs an exact autograd hypergradient."""

from __future__ import annotations

import torch

from algorithms.common.bilevel import first_order_alpha_grad, unrolled_alpha_grad

torch_f64 = torch.float64


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(5, 4, generator=g, dtype=torch_f64)
    B = torch.randn(5, 3, generator=g, dtype=torch_f64)
    t_train = torch.randn(5, generator=g, dtype=torch_f64)
    t_val = torch.randn(5, generator=g, dtype=torch_f64)
    w = torch.randn(4, generator=g, dtype=torch_f64, requires_grad=True)
    alpha = torch.randn(3, generator=g, dtype=torch_f64, requires_grad=True)
    buf = torch.randn(4, generator=g, dtype=torch_f64)

    def loss(w_, a_, target):  # smooth, non-quadratic, couples w and alpha
        h = torch.tanh(A @ w_) * (B @ torch.softmax(a_, 0)) + 0.3 * (A @ w_) * a_.sum()
        return ((h - target) ** 2).mean()

    return w, alpha, buf, loss, t_train, t_val


def _exact(w, alpha, buf, loss, t_train, t_val, *, xi, wd, momentum):
    """d/d alpha L_val(w'(alpha), alpha), w' = w - xi (momentum buf + grad_w L_train + wd w), by autograd."""
    (gw,) = torch.autograd.grad(loss(w, alpha, t_train), [w], create_graph=True)
    w_prime = w - xi * (momentum * buf + gw + wd * w)
    (ga,) = torch.autograd.grad(loss(w_prime, alpha, t_val), [alpha])
    return ga


def _fd(w, alpha, buf, loss, t_train, t_val, *, xi, wd, momentum):
    return unrolled_alpha_grad(
        lambda: loss(w, alpha, t_train),
        lambda: loss(w, alpha, t_val),
        alpha,
        [w],
        xi=xi,
        weight_decay=wd,
        momentum=momentum,
        momentum_buffers=[buf],
    )


def test_second_order_matches_exact_hypergradient():
    for seed in range(3):
        w, alpha, buf, loss, tt, tv = _problem(seed)
        w0 = w.detach().clone()
        exact = _exact(w, alpha, buf, loss, tt, tv, xi=0.05, wd=5e-4, momentum=0.9)
        approx = _fd(w, alpha, buf, loss, tt, tv, xi=0.05, wd=5e-4, momentum=0.9)
        torch.testing.assert_close(approx, exact, rtol=1e-5, atol=1e-7)
        assert torch.equal(w.detach(), w0), "params must be restored"


def test_second_order_differs_from_first_order_when_xi_positive():
    w, alpha, buf, loss, tt, tv = _problem(1)
    first = first_order_alpha_grad(lambda: loss(w, alpha, tv), alpha)
    second = _fd(w, alpha, buf, loss, tt, tv, xi=0.05, wd=0.0, momentum=0.0)
    assert (first - second).abs().max() > 1e-6


def test_second_order_reduces_to_first_order_when_xi_zero():
    w, alpha, buf, loss, tt, tv = _problem(2)
    first = first_order_alpha_grad(lambda: loss(w, alpha, tv), alpha)
    second = _fd(w, alpha, buf, loss, tt, tv, xi=0.0, wd=5e-4, momentum=0.9)
    torch.testing.assert_close(second, first)
