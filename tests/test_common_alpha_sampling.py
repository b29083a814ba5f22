"""algorithms.common.alpha and .sampling: masked softmax, per-edge argmax, uniform single-path sampling."""

from __future__ import annotations

import pytest
import torch

from algorithms.common.alpha import derive, full_mask, init_alpha, masked_softmax
from algorithms.common.sampling import (
    arch_one_hot,
    one_hot_codes,
    sample_codes,
    sample_single_path,
)
from harness.spaces import get_space
from harness.spaces.nb201 import OPS, NB201Arch

ONE_SHOT = get_space("nb201").one_shot


def _region() -> torch.Tensor:
    m = full_mask(ONE_SHOT)
    m[0] = torch.tensor([False, True, False, True, False])
    m[3] = torch.tensor([True, False, False, False, False])  # only `none` on edge 3
    m[5] = torch.tensor([False, False, True, True, True])
    return m


def test_init_alpha_is_seeded_small_leaf():
    a = init_alpha(torch.Generator().manual_seed(3), shape=(6, 5))
    b = init_alpha(torch.Generator().manual_seed(3), shape=(6, 5))
    assert a.shape == (6, 5) and a.requires_grad and a.is_leaf
    assert torch.equal(a, b)
    assert a.abs().max() < 1e-2


def test_masked_softmax_zero_on_masked_ops_and_sums_to_one():
    alpha = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    mask = _region()
    p = masked_softmax(alpha, mask)
    assert torch.all(p[~mask] == 0.0)
    assert torch.all(p[mask] > 0.0)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(6))
    # differentiable; masked ops get exactly zero gradient
    (p * torch.arange(30.0).view(6, 5)).sum().backward()
    assert alpha.grad is not None
    assert torch.all(alpha.grad[~mask] == 0.0)
    assert alpha.grad[mask].abs().sum() > 0


def test_masked_softmax_matches_plain_softmax_on_full_mask():
    alpha = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(masked_softmax(alpha, full_mask(ONE_SHOT).expand(4, 6, 5)), alpha.softmax(-1))


def test_masked_softmax_rejects_empty_edge():
    mask = full_mask(ONE_SHOT)
    mask[2] = False
    with pytest.raises(ValueError):
        masked_softmax(torch.zeros(6, 5), mask)


def test_derive_is_per_edge_argmax_of_active_ops():
    alpha = torch.zeros(6, 5)
    # edge 0: best overall op is masked (nor_conv_1x1), best active is nor_conv_3x3
    alpha[0] = torch.tensor([0.0, 0.1, 5.0, 0.3, 0.2])
    alpha[1, 0] = 1.0  # `none` allowed
    alpha[2, 4] = 1.0
    alpha[3, 1] = 1.0  # masked to `none` only
    alpha[4, 2] = 1.0
    alpha[5] = torch.tensor([9.0, 0.0, 0.0, 0.0, 0.5])  # `none` masked on edge 5
    arch = derive(ONE_SHOT, alpha, _region())
    assert arch.ops == ("nor_conv_3x3", "none", "avg_pool_3x3", "none", "nor_conv_1x1", "avg_pool_3x3")


def test_derive_ties_go_to_lower_op_index():
    assert derive(ONE_SHOT, torch.zeros(6, 5), full_mask(ONE_SHOT)).ops == ("none",) * 6


def test_sampling_only_active_ops_and_uniform():
    mask = _region()
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(6, 5)
    for _ in range(600):
        w = sample_single_path(ONE_SHOT, mask, gen, reject_disconnected=False)
        assert w.shape == (6, 5) and w.dtype == torch.float32
        torch.testing.assert_close(w.sum(dim=1), torch.ones(6))
        counts += w
    assert torch.all(counts[~mask] == 0)
    # uniform over active ops: each active op near 600 / k
    for e in range(6):
        k = int(mask[e].sum())
        expected = 600 / k
        assert torch.all((counts[e][mask[e]] - expected).abs() < 0.25 * expected + 10)


def test_sampling_reject_disconnected_gives_connected_cells():
    gen = torch.Generator().manual_seed(1)
    mask = full_mask(ONE_SHOT)
    for _ in range(300):
        codes = sample_codes(ONE_SHOT, mask, gen, reject_disconnected=True)
        assert NB201Arch.from_codes(tuple(codes.tolist())).is_connected()
    cells = sample_codes(ONE_SHOT, mask, gen, per="cell", num_cells=15, reject_disconnected=True)
    assert cells.shape == (15, 6)
    assert all(NB201Arch.from_codes(tuple(c)).is_connected() for c in cells.tolist())
    # without rejection, disconnected cells do occur (1 - P(connected) is large with `none` at 1/5 per edge)
    drawn = [sample_codes(ONE_SHOT, mask, gen, reject_disconnected=False).tolist() for _ in range(300)]
    assert any(not NB201Arch.from_codes(tuple(c)).is_connected() for c in drawn)


def test_sampling_deterministic_for_a_generator():
    a = [
        sample_single_path(
            ONE_SHOT, full_mask(ONE_SHOT), torch.Generator().manual_seed(7), per="cell", num_cells=3
        )
        for _ in range(2)
    ]
    assert torch.equal(a[0], a[1])
    assert a[0].shape == (3, 6, 5)


def test_sampling_region_without_connected_cell_raises():
    mask = full_mask(ONE_SHOT)
    mask[3] = torch.tensor([True, False, False, False, False])
    mask[4] = torch.tensor([True, False, False, False, False])
    mask[5] = torch.tensor([True, False, False, False, False])  # node 3 unreachable
    assert not ONE_SHOT.region_has_connected(mask.numpy())
    with pytest.raises(ValueError):
        sample_codes(ONE_SHOT, mask, torch.Generator().manual_seed(0), reject_disconnected=True)
    sample_codes(ONE_SHOT, mask, torch.Generator().manual_seed(0), reject_disconnected=False)  # allowed


def test_one_hot_helpers_agree_with_arch_codes():
    arch = NB201Arch.from_codes((1, 2, 3, 4, 0, 1))
    w = arch_one_hot(ONE_SHOT, arch)
    assert [OPS[i] for i in w.argmax(dim=1).tolist()] == list(arch.ops)
    torch.testing.assert_close(w, one_hot_codes(torch.tensor(arch.codes), 5))
