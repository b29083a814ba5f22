"""Training utilities: schedules, seeds, deterministic steps, checkpoints, resume, devices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from harness import train
from harness.data import BatchStream, fixed_batches, synthetic_search_data
from harness.errors import InputError


def test_path_cosine_monotone_and_ends_at_lr_min() -> None:
    lrs = [train.path_cosine_lr(e, 60, 0.025, 0.001) for e in range(61)]
    assert lrs[0] == pytest.approx(0.025)
    assert lrs[-1] == pytest.approx(0.001)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert train.path_cosine_lr(70, 60, 0.025, 0.001) == pytest.approx(0.001)  # no climb past the end


def test_public_code_rises_after_t_max() -> None:
    """algorithms.md section 9 item 1: NB201 path of 60 steps with T_max 30 climbs back to 0.025."""
    lrs = [train.public_code_lr(e, 30, 0.025, 0.001) for e in range(61)]
    assert lrs[30] == pytest.approx(0.001)
    assert lrs[45] > lrs[30] and lrs[60] == pytest.approx(0.025)
    assert all(a <= b for a, b in zip(lrs[30:], lrs[31:], strict=False))
    # DARTS: 80 steps with T_max 45 ends near 0.022
    assert train.public_code_lr(80, 45, 0.025, 0.001) == pytest.approx(0.0222, abs=5e-4)


def test_set_lr_and_optimizer_factories() -> None:
    p = [nn.Parameter(torch.zeros(3))]
    sgd = train.make_sgd(p, train.SGDConfig(nesterov=True))
    assert sgd.param_groups[0]["nesterov"] and sgd.param_groups[0]["weight_decay"] == 3e-4
    train.set_lr(sgd, 0.5)
    assert sgd.param_groups[0]["lr"] == 0.5
    adam = train.make_adam(p, train.AdamConfig())
    assert adam.param_groups[0]["betas"] == (0.5, 0.999) and adam.param_groups[0]["lr"] == 3e-4


def test_sgd_step_clips_global_norm() -> None:
    w = nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([w], lr=1.0)
    loss = (w * torch.tensor([300.0, 400.0, 0.0, 0.0])).sum()  # grad norm 500
    train.sgd_step(loss, opt, [w], grad_clip=5.0)
    assert float(w.detach().norm()) == pytest.approx(5.0, rel=1e-5)


def test_derive_seed_stable_and_distinct() -> None:
    a = train.derive_seed(0, "weights")
    assert a == train.derive_seed(0, "weights")
    assert a != train.derive_seed(0, "alpha") and a != train.derive_seed(1, "weights")
    assert 0 <= a < 2**63
    # pinned: seeds must not change across processes, platforms or releases (sha256, not hash())
    assert a == 4078197144100473834 and train.derive_seed(7, "alpha") == 1424979553700035827


def test_resolve_device() -> None:
    assert train.resolve_device("cpu").type == "cpu"
    assert train.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError):
        train.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            train.resolve_device("cuda")


def test_autocast_is_opt_in_and_channels_last_a_noop_on_cpu() -> None:
    with train.autocast("cpu", enabled=False):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32
    with train.autocast("cpu", enabled=True):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.bfloat16
    m = nn.Conv2d(3, 4, 3)
    assert train.channels_last(m, "cpu") is m


def test_accuracy_pct() -> None:
    x = torch.eye(4)
    y = torch.tensor([0, 1, 2, 0])
    assert train.accuracy_pct(lambda t: t, [(x[:2], y[:2]), (x[2:], y[2:])]) == 75.0
    with pytest.raises(ValueError):
        train.accuracy_pct(lambda t: t, [])


# ----- tiny training runs ----------------------------------------------------------------------------------


def _net(classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, classes),
    )


def _setup(seed: int):
    torch.manual_seed(train.derive_seed(seed, "init"))
    data = synthetic_search_data("cifar10", n_weight=96, n_held_out=32, seed=seed, image_size=16)
    net = _net(10)
    cfg = train.SGDConfig()
    opt = train.make_sgd(net.parameters(), cfg)
    gen = train.torch_generator(seed, "batches")
    stream = BatchStream(data.weight, batch_size=32, generator=gen, augment=True)
    return data, net, cfg, opt, gen, stream


def _epochs(net, cfg, opt, stream, start: int, stop: int, total: int) -> None:
    for epoch in range(start, stop):
        train.set_lr(opt, train.path_cosine_lr(epoch, total, cfg.lr, cfg.lr_min))
        net.train()
        for x, y in stream:
            opt.zero_grad(set_to_none=True)
            train.sgd_step(F.cross_entropy(net(x), y), opt, list(net.parameters()), cfg.grad_clip)


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_same_seed_bit_identical_weights() -> None:
    _, n1, cfg, o1, _, s1 = _setup(0)
    _epochs(n1, cfg, o1, s1, 0, 2, 2)
    _, n2, _, o2, _, s2 = _setup(0)
    _epochs(n2, cfg, o2, s2, 0, 2, 2)
    a, b = _state(n1), _state(n2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    _, n3, _, o3, _, s3 = _setup(1)
    _epochs(n3, cfg, o3, s3, 0, 2, 2)
    assert not torch.equal(a["0.weight"], _state(n3)["0.weight"])


def test_checkpoint_resume_equals_uninterrupted(tmp_path: Path) -> None:
    total = 3
    _, ref, cfg, ref_opt, _, ref_stream = _setup(0)
    _epochs(ref, cfg, ref_opt, ref_stream, 0, total, total)

    data, net, cfg, opt, gen, stream = _setup(0)
    _epochs(net, cfg, opt, stream, 0, 1, total)
    ckpt = tmp_path / "artifacts" / "ckpt.pt"
    train.atomic_save(
        {"model": net.state_dict(), "optim": opt.state_dict(), "gen": gen.get_state(), "epoch": 1}, ckpt
    )
    del net, opt, gen, stream

    state = train.load_checkpoint(ckpt)
    torch.manual_seed(12345)  # a different init: everything must come from the checkpoint
    net2 = _net(10)
    net2.load_state_dict(state["model"])
    opt2 = train.make_sgd(net2.parameters(), cfg)
    opt2.load_state_dict(state["optim"])
    gen2 = torch.Generator()
    gen2.set_state(state["gen"])
    stream2 = BatchStream(data.weight, batch_size=32, generator=gen2, augment=True)
    _epochs(net2, cfg, opt2, stream2, int(state["epoch"]), total, total)

    a, b = _state(ref), _state(net2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    acc = train.accuracy_pct(net2.eval(), fixed_batches(data.held_out, 64))
    assert 0.0 <= acc <= 100.0


def test_atomic_save_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    train.atomic_save({"x": torch.ones(2), "step": 1}, path)
    train.atomic_save({"x": torch.zeros(2), "step": 2}, path)
    got = train.load_checkpoint(path)
    assert got["step"] == 2 and torch.equal(got["x"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_load_checkpoint_refuses_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"obj": _Evil()}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        train.load_checkpoint(path)
    with pytest.raises(InputError, match="not found"):
        train.load_checkpoint(tmp_path / "missing.pt")


def test_set_deterministic_seeds_global_rngs() -> None:
    import random

    import numpy as np

    train.set_deterministic(3)
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    train.set_deterministic(3)
    assert a == (random.random(), float(np.random.rand()), float(torch.rand(1)))
