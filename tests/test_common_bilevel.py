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


def test_second_order_step_stays_fp32_under_amp():
    """amp (bf16 autocast) never reaches DARTS' virtual step and finite-difference Hessian product: the
    second-order alpha gradient with amp on equals the fp32 one, while the first-order one does change."""
    from algorithms.common.alpha import full_mask, init_alpha
    from algorithms.common.bilevel import darts_alpha_step
    from harness.data import synthetic_search_data
    from harness.spaces import get_space
    from harness.spaces.nb201.supernet import NB201Supernet
    from harness.train import AdamConfig, SGDConfig, make_adam, make_sgd

    one_shot = get_space("nb201").one_shot
    data = synthetic_search_data("cifar10", n_weight=16, n_held_out=16, seed=0, image_size=16)
    batch = (data.weight.images, data.weight.labels)
    val = (data.held_out.images, data.held_out.labels)

    def grad(order: int, amp: bool) -> torch.Tensor:
        torch.manual_seed(0)
        net = NB201Supernet(num_classes=10, C=4, N=1)
        alpha = init_alpha(torch.Generator().manual_seed(0), shape=(6, 5))
        w_opt = make_sgd(net.parameters(), SGDConfig())
        a_opt = make_adam([alpha], AdamConfig(lr=1.0, betas=(0.0, 0.0), weight_decay=0.0))
        before = alpha.detach().clone()
        kw = dict(order=order, train_batch=batch, weight_optimizer=w_opt, autocast_device="cpu" if amp else None)
        darts_alpha_step(net, alpha, full_mask(one_shot), a_opt, val, **kw)
        return before - alpha.detach()  # Adam with betas 0: the step is lr * g / (|g| + eps), the sign pattern

    assert torch.equal(grad(2, amp=True), grad(2, amp=False))
    assert not torch.equal(grad(1, amp=True), grad(1, amp=False))
