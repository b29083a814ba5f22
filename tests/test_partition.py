"""Partitioning: child masks/order/region sizes, and exact state inheritance (weights, alpha, optimizer,
schedule)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms.common.alpha import full_mask, init_alpha, masked_softmax
from algorithms.common.partition import (
    SupernetState,
    TooManySubSupernets,
    check_cap,
    edge_partitions,
    hierarchy_partitions,
    planned_children,
    singleton_groups,
    spawn_child,
)
from harness.spaces import get_space

ONE_SHOT = get_space("nb201").one_shot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_edge_partitions_one_child_per_op() -> None:
    parts = edge_partitions(np.ones((6, 5), bool), 0)
    assert len(parts) == 5
    assert [p.groups for p in parts] == [((0, (o,)),) for o in range(5)]
    assert all(p.remaining_space(ONE_SHOT) == 3125 for p in parts)
    assert parts[3].describe(ONE_SHOT) == "e0={nor_conv_3x3}"


def test_hierarchy_product_order_and_masks() -> None:
    parent = np.ones((6, 5), bool)
    groups = [((1, 3), (0, 2, 4)), ((0, 1), (2, 3, 4))]
    parts = hierarchy_partitions(parent, [1, 2], groups)
    assert len(parts) == 4
    # first edge varies slowest, group 0 before group 1
    assert [p.groups for p in parts] == [
        ((1, (1, 3)), (2, (0, 1))),
        ((1, (1, 3)), (2, (2, 3, 4))),
        ((1, (0, 2, 4)), (2, (0, 1))),
        ((1, (0, 2, 4)), (2, (2, 3, 4))),
    ]
    assert [p.remaining_space(ONE_SHOT) for p in parts] == [5**4 * 2 * 2, 5**4 * 2 * 3, 5**4 * 3 * 2, 5**4 * 3 * 3]
    assert parts[0].mask[1].tolist() == [False, True, False, True, False]
    assert parts[0].mask[0].all() and parts[0].mask[5].all()
    assert parts[1].describe(ONE_SHOT) == "e1={skip_connect,nor_conv_3x3} e2={nor_conv_1x1,nor_conv_3x3,avg_pool_3x3}"


def test_child_mask_is_and_with_parent_and_regions_partition_parent() -> None:
    parent = np.ones((6, 5), bool)
    parent[0] = [False, True, True, False, False]
    parts = hierarchy_partitions(parent, [3, 4, 5], [singleton_groups(parent, e) for e in (3, 4, 5)])
    assert len(parts) == 125
    assert all(not p.mask[0, 0] and not p.mask[0, 3] for p in parts)
    archs = ONE_SHOT.region_archs(parent)
    owners = [sum(ONE_SHOT.in_region(a, p.mask) for p in parts) for a in archs[:300]]
    assert set(owners) == {1}


def test_invalid_group_rejected_and_cap() -> None:
    parent = np.ones((6, 5), bool)
    parent[1, 4] = False
    with pytest.raises(ValueError):
        hierarchy_partitions(parent, [1], [((4,), (0, 1))])
    assert planned_children(np.ones((6, 5), bool), (3, 4, 5), "gm") == 8
    assert planned_children(np.ones((6, 5), bool), (3, 4, 5), "exhaustive") == 125
    check_cap(128, 128)
    with pytest.raises(TooManySubSupernets):
        check_cap(129, 128)


def _trained_state() -> SupernetState:
    from harness.spaces.nb201.supernet import NB201Supernet
    from harness.train import AdamConfig, SGDConfig, make_adam, make_sgd

    torch.manual_seed(0)
    net = NB201Supernet(num_classes=4, C=4, N=1)
    alpha = init_alpha(torch.Generator().manual_seed(0), shape=(6, 5))
    mask = full_mask(ONE_SHOT)
    st = SupernetState(
        net,
        mask,
        alpha,
        make_sgd(net.parameters(), SGDConfig()),
        make_adam([alpha], AdamConfig()),
        {"step": 3},
    )
    x = torch.randn(8, 3, 16, 16)
    y = torch.randint(0, 4, (8,))
    for _ in range(2):  # create momentum buffers and Adam moments
        st.w_opt.zero_grad()
        st.a_opt.zero_grad()
        F.cross_entropy(net(x, masked_softmax(alpha, mask), mask), y).backward()
        st.w_opt.step()
        st.a_opt.step()
    return st


def test_child_inherits_exact_state_without_sharing() -> None:
    parent = _trained_state()
    part = edge_partitions(parent.mask, 0)[2]
    child = spawn_child(parent, part.mask)
    # weights and buffers equal, not shared
    ps, cs = parent.supernet.state_dict(), child.supernet.state_dict()
    assert ps.keys() == cs.keys()
    for k in ps:
        assert torch.equal(ps[k], cs[k]), k
        assert ps[k].data_ptr() != cs[k].data_ptr(), k
    assert torch.equal(parent.alpha, child.alpha) and child.alpha is not parent.alpha
    assert child.alpha.requires_grad and child.alpha.is_leaf
    # optimizer state: same values, over the child's own parameters, no shared buffers
    for p_par, p_ch in zip(parent.supernet.parameters(), child.supernet.parameters(), strict=True):
        b_par = parent.w_opt.state[p_par]["momentum_buffer"]
        b_ch = child.w_opt.state[p_ch]["momentum_buffer"]
        assert torch.equal(b_par, b_ch) and b_par.data_ptr() != b_ch.data_ptr()
    assert parent.w_opt.param_groups[0]["lr"] == child.w_opt.param_groups[0]["lr"]
    assert all(
        any(p is q for q in child.supernet.parameters()) for p in child.w_opt.param_groups[0]["params"]
    )
    a_par, a_ch = parent.a_opt.state[parent.alpha], child.a_opt.state[child.alpha]
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(torch.as_tensor(a_par[key]), torch.as_tensor(a_ch[key]))
    assert child.a_opt.param_groups[0]["params"][0] is child.alpha
    assert child.sched == {"step": 3} and child.sched is not parent.sched
    assert child.mask[0].tolist() == [False, False, True, False, False]
    # training the child leaves the parent untouched
    before = {k: v.clone() for k, v in ps.items()}
    x = torch.randn(8, 3, 16, 16)
    y = torch.randint(0, 4, (8,))
    child.w_opt.zero_grad()
    F.cross_entropy(child.supernet(x, masked_softmax(child.alpha, child.mask), child.mask), y).backward()
    child.w_opt.step()
    for k, v in parent.supernet.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_transfer_without_optimizers() -> None:
    parent = _trained_state()
    child = spawn_child(parent, edge_partitions(parent.mask, 0)[1].mask, inherit_optimizers=False)
    assert child.w_opt is None and child.a_opt is None and child.sched == {}


def test_child_never_computes_masked_op() -> None:
    """Masked conv slots of a child get exactly zero gradient and its forward never activates them."""
    from harness.spaces.nb201.supernet import EDGE_SLOTS

    parent = _trained_state()
    parts = hierarchy_partitions(parent.mask, [1, 2], [((0, 1), (2, 3, 4)), ((2,), (0, 1, 3, 4))])
    child = spawn_child(parent, parts[0].mask)  # e1 = {none, skip}, e2 = {nor_conv_1x1}
    w = masked_softmax(child.alpha, child.mask)
    assert not bool((child.supernet.active_ops(w, child.mask) & ~child.mask).any())
    child.supernet.zero_grad()
    x = torch.randn(8, 3, 16, 16)
    y = torch.randint(0, 4, (8,))
    F.cross_entropy(child.supernet(x, w, child.mask), y).backward()
    for i in range(child.supernet.num_cells):
        cell = child.supernet.cell(i)
        g1 = cell.conv1x1.grad
        g3 = cell.conv3x3.grad
        # e1 keeps no conv: both conv slots of e1 unused; e2 keeps only the 1x1 conv
        for g in (g1, g3):
            assert g is None or float(g[EDGE_SLOTS[1]].abs().sum()) == 0.0
        assert g3 is None or float(g3[EDGE_SLOTS[2]].abs().sum()) == 0.0
        assert g1 is not None and float(g1[EDGE_SLOTS[2]].abs().sum()) > 0.0
