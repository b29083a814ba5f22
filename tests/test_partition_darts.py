"""Partitioning on the DARTS space (as tests/test_partition.py does on NB201): a HEP-NAS stage's children
partition their parent's region edge by edge (every choice of one active op per split edge lies in exactly one
child), split edges are normal-cell edges of the stage's node, and each child inherits the parent's full state:
weights and buffers, alpha, both optimizers' states and the scheduler position, without sharing a tensor.

A DARTS genotype keeps 2 of a node's incoming edges, so a genotype that does not use a split edge lies in every
child that differs only on that edge: it is owned by prod(#groups of the unused split edges) children, never 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms.common.alpha import full_mask, init_alpha, masked_softmax
from algorithms.common.partition import SupernetState, hierarchy_partitions, spawn_child
from harness.spaces import get_space
from harness.train import AdamConfig, SGDConfig, make_adam, make_sgd

SPACE = get_space("darts")
ONE_SHOT = SPACE.one_shot
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _trained_state() -> SupernetState:
    torch.manual_seed(0)
    net = ONE_SHOT.build_supernet(num_classes=4, C=4, N=1, affine=False, track_running_stats=True)
    mask = full_mask(ONE_SHOT, exclude_ops=("none",))
    alpha = init_alpha(torch.Generator().manual_seed(1), shape=(ONE_SHOT.num_edges, ONE_SHOT.num_ops))
    state = SupernetState(
        supernet=net,
        mask=mask,
        alpha=alpha,
        w_opt=make_sgd(net.parameters(), SGDConfig()),
        a_opt=make_adam([alpha], AdamConfig()),
        sched={"step": 2},
    )
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 4, (4,))
    for _ in range(2):
        state.a_opt.zero_grad()
        F.cross_entropy(net(x, masked_softmax(alpha, mask), mask), y).backward()
        state.a_opt.step()
        state.w_opt.step()
    return state


def test_stage_children_partition_the_parent_region_on_normal_cell_edges():
    parent = full_mask(ONE_SHOT, exclude_ops=("none",)).numpy()
    stage_edges = ONE_SHOT.hierarchies[1]  # node 1 of the normal cell: edges 2, 3, 4
    assert stage_edges == (2, 3, 4) and all(e < 14 for h in ONE_SHOT.hierarchies for e in h)
    ops = [o for o in range(ONE_SHOT.num_ops) if ONE_SHOT.ops[o] != "none"]
    groups = [(tuple(ops[:2]), tuple(ops[2:])), (tuple(ops[:3]), tuple(ops[3:])), (tuple(ops[:2]), tuple(ops[2:]))]
    parts = hierarchy_partitions(parent, stage_edges, groups)
    assert len(parts) == 8
    for p in parts:  # only the split edges changed, and only in the normal cell
        changed = np.flatnonzero((p.mask != parent).any(axis=1))
        assert set(changed) <= set(stage_edges)
    rng = np.random.default_rng(0)
    for _ in range(200):  # one active op per split edge: exactly one child
        choice = {e: int(rng.choice(np.flatnonzero(parent[e]))) for e in stage_edges}
        assert sum(all(p.mask[e, o] for e, o in choice.items()) for p in parts) == 1
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        genotype = ONE_SHOT.sample_arch(parent, gen)
        used = set(np.flatnonzero(ONE_SHOT.arch_weights(genotype)[:14].any(axis=1)))
        unused_groups = [len(g) for e, g in zip(stage_edges, groups, strict=True) if e not in used]
        owners = sum(ONE_SHOT.in_region(genotype, p.mask) for p in parts)
        assert owners == int(np.prod(unused_groups)) >= 1


def test_child_inherits_full_state_without_sharing():
    parent = _trained_state()
    part = hierarchy_partitions(parent.mask, (0, 1), [((1, 2), (3, 4, 5, 6, 7)), ((1, 2, 3), (4, 5, 6, 7))])[1]
    child = spawn_child(parent, part.mask)
    ps, cs = parent.supernet.state_dict(), child.supernet.state_dict()
    assert ps.keys() == cs.keys()
    for k in ps:
        assert torch.equal(ps[k], cs[k]) and ps[k].data_ptr() != cs[k].data_ptr(), k
    assert torch.equal(parent.alpha, child.alpha) and child.alpha is not parent.alpha
    for p_par, p_ch in zip(parent.supernet.parameters(), child.supernet.parameters(), strict=True):
        b_par = parent.w_opt.state[p_par].get("momentum_buffer")
        b_ch = child.w_opt.state[p_ch].get("momentum_buffer")
        assert (b_par is None) == (b_ch is None)
        if b_par is not None:
            assert torch.equal(b_par, b_ch) and b_par.data_ptr() != b_ch.data_ptr()
    a_par, a_ch = parent.a_opt.state[parent.alpha], child.a_opt.state[child.alpha]
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(torch.as_tensor(a_par[key]), torch.as_tensor(a_ch[key]))
    assert child.a_opt.param_groups[0]["params"][0] is child.alpha
    assert child.sched == {"step": 2} and child.sched is not parent.sched
    assert child.mask[0].tolist() == [False, True, True, False, False, False, False, False]
    assert child.mask[14:].equal(parent.mask[14:])  # the reduction cell is never split
    assert ONE_SHOT.region_size(child.mask.numpy()) < ONE_SHOT.region_size(parent.mask.numpy())
