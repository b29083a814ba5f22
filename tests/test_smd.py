"""SMD loss (algorithms.md §2.3): equals CE when teacher/siblings equal the student; no gradient to them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from algorithms.hepnas.smd import SMD_MODES, smd_loss


def _logits(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(6, 10, generator=g)


@pytest.mark.parametrize("mode", SMD_MODES)
def test_smd_equals_ce_when_all_equal_student(mode: str) -> None:
    z = _logits(0)
    y = torch.arange(6) % 10
    loss = smd_loss(z, y, z.clone(), [z.clone(), z.clone()], mode)
    assert float(loss) == pytest.approx(float(F.cross_entropy(z, y)), abs=1e-6)


def test_smd_terms_exact() -> None:
    z, zt, z1, z2 = _logits(0), _logits(1), _logits(2), _logits(3)
    y = torch.arange(6) % 10
    ce = F.cross_entropy(z, y)

    def kl(p_logits: torch.Tensor) -> torch.Tensor:  # batchmean KL(softmax(p) || softmax(z)), written out
        p = F.softmax(p_logits, 1)
        return (p * (F.log_softmax(p_logits, 1) - F.log_softmax(z, 1))).sum(1).mean()

    assert float(smd_loss(z, y, zt, [z1, z2], "none")) == pytest.approx(float(ce), abs=1e-6)
    assert float(smd_loss(z, y, zt, [z1, z2], "teacher")) == pytest.approx(float(ce + kl(zt)), abs=1e-5)
    assert float(smd_loss(z, y, zt, [z1, z2], "mutual")) == pytest.approx(
        float(ce + (kl(z1) + kl(z2)) / 2), abs=1e-5
    )
    assert float(smd_loss(z, y, zt, [z1, z2], "both")) == pytest.approx(
        float(ce + kl(zt) + (kl(z1) + kl(z2)) / 2), abs=1e-5
    )


def test_no_gradient_reaches_teacher_or_siblings() -> None:
    z = _logits(0).requires_grad_(True)
    zt = _logits(1).requires_grad_(True)
    zs = [_logits(2).requires_grad_(True), _logits(3).requires_grad_(True)]
    y = torch.arange(6) % 10
    smd_loss(z, y, zt, zs, "both").backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0
    assert zt.grad is None
    assert all(s.grad is None for s in zs)


def test_teacher_required_and_bad_mode() -> None:
    z = _logits(0)
    y = torch.zeros(6, dtype=torch.long)
    with pytest.raises(ValueError):
        smd_loss(z, y, None, [], "teacher")
    with pytest.raises(ValueError):
        smd_loss(z, y, z, [], "kd")
