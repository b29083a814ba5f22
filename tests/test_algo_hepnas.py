"""HEP-NAS structure on a tiny supernet and synthetic data: stage children, remaining space, selection, KD
cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithms.common.config import SupernetConfig
from algorithms.common.partition import TooManySubSupernets, spawn_child
from algorithms.hepnas import Config, HepNas
from algorithms.hepnas.search import stage_hierarchies
from algorithms.hepnas.training import KD, frozen_stats, held_out_accuracy, mixture_logits
from harness.context import make_test_context
from harness.data import synthetic_search_data
from harness.spaces import get_space
from harness.spaces.nb201 import all_archs, arch_in_region

NB201 = get_space("nb201")
ONE_SHOT = NB201.one_shot

TINY = dict(
    supernet=SupernetConfig(C=2, N=1),
    split_epochs=(1, 1, 1),
    smd_epochs=1,
    batch_size=16,
    eval_batch_size=64,
    max_steps_per_epoch=1,
    gm_batches=1,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return synthetic_search_data("cifar10", n_weight=32, n_held_out=32, seed=0, image_size=16)


def _check_outcome(out, expected_children: list[int]) -> None:  # type: ignore[no-untyped-def]
    assert [s.children for s in out.stages] == expected_children
    assert [s.index for s in out.stages] == [1, 2, 3]
    assert len(out.sub_supernets) == sum(expected_children)
    for s in out.stages:
        picked = [c for c in out.sub_supernets if c.stage == s.index and c.selected]
        assert len(picked) == 1 and picked[0].child == s.pick
        assert picked[0].remaining_space == s.remaining_space
        accs = [c.held_out_acc for c in out.sub_supernets if c.stage == s.index]
        assert accs.index(max(accs)) == s.pick  # first maximum wins
    final_mask = np.array(out.extras["final_mask"], dtype=bool)
    assert arch_in_region(out.final_arch, final_mask)


def test_gm_stages_2_4_8_and_product_of_kept_ops(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    algo = HepNas(Config(**TINY, partition="gm", smd="both"))
    ctx = make_test_context(tmp_path, data)
    out = algo.search(NB201, ctx)
    _check_outcome(out, [2, 4, 8])
    kept = np.full(6, 5)
    for s, extra in zip(out.stages, out.extras["stages"], strict=True):
        edges = extra["split"]
        for p, e in enumerate(edges):  # product order: first edge slowest, 2 groups per edge
            sizes = sorted(len(g) for g in e["groups"])
            assert sizes == [2, 3]
            group = (s.pick >> (len(edges) - 1 - p)) & 1
            kept[e["edge"]] = len(e["groups"][group])
        assert s.remaining_space == math.prod(kept.tolist())
    # remaining space = product of the kept ops per edge of the final mask
    final_mask = np.array(out.extras["final_mask"], dtype=bool)
    assert out.stages[-1].remaining_space == math.prod(int(r.sum()) for r in final_mask)
    assert all(int(r.sum()) in (2, 3) for r in final_mask)
    # records: remaining_space per stage is logged with stage=index
    text = (tmp_path / "records.csv").read_text()
    assert "remaining_space" in text
    # scorer: every arch has an owner; final-region archs are scored by "final"
    archs = list(all_archs()[:40]) + [out.final_arch]
    scores, owners = algo.score(archs, ctx)
    assert scores.shape == (len(archs),) and owners[-1] == "final"
    assert all(o == "final" or o.startswith("stage") for o in owners)
    assert np.all((scores >= 0) & (scores <= 100))


def test_exhaustive_stages_5_25_125_ends_at_one(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    algo = HepNas(Config(**TINY, partition="exhaustive", smd="none", keep_children=False))
    out = algo.search(NB201, make_test_context(tmp_path, data))
    _check_outcome(out, [5, 25, 125])
    assert [s.remaining_space for s in out.stages] == [3125, 125, 1]
    assert all(c.remaining_space == {1: 3125, 2: 125, 3: 1}[c.stage] for c in out.sub_supernets)


def test_cap_fails_before_training(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    algo = HepNas(Config(**TINY, partition="exhaustive", max_sub_supernets=100))
    with pytest.raises(TooManySubSupernets):
        algo.search(NB201, make_test_context(tmp_path, data))
    assert not (tmp_path / "records.csv").exists() or "supernet" not in (tmp_path / "records.csv").read_text()


def test_stage_order() -> None:
    assert stage_hierarchies(ONE_SHOT, "node", 3) == [(0,), (1, 2), (3, 4, 5)]
    assert stage_hierarchies(ONE_SHOT, "reversed", 3) == [(3, 4, 5), (1, 2), (0,)]
    hs = stage_hierarchies(ONE_SHOT, "random", 3, np.random.default_rng(0))
    assert sorted(hs) == [(0,), (1, 2), (3, 4, 5)]


def _state():  # type: ignore[no-untyped-def]
    from algorithms.common.alpha import full_mask, init_alpha
    from algorithms.common.partition import SupernetState
    from harness.spaces.nb201.supernet import NB201Supernet

    torch.manual_seed(0)
    net = NB201Supernet(num_classes=10, C=2, N=1)
    return SupernetState(net, full_mask(ONE_SHOT), init_alpha(torch.Generator().manual_seed(1), 1.0, shape=(6, 5)))


def test_kd_cache_gives_the_uncached_logits() -> None:
    parent = _state()
    masks = [parent.mask.clone() for _ in range(3)]
    for k, m in enumerate(masks):
        m[0] = False
        m[0, k + 1] = True
    children = [spawn_child(parent, m) for m in masks]
    x = torch.randn(8, 3, 16, 16)
    cache: dict = {}
    kd = KD("both", parent, [(1, children[1]), (2, children[2])], "train", "train", cache=cache, trained={2})
    t, sibs, n = kd.targets(0, x, None)
    assert n == 3
    t2, sibs2, n2 = kd.targets(0, x, None)
    assert n2 == 0 and torch.equal(t, t2)
    assert torch.equal(t, mixture_logits(parent, x, "train", None))
    for (_, st), z in zip(kd.siblings, sibs, strict=True):
        assert torch.equal(z, mixture_logits(st, x, "train", None))
    assert ("sibling", 2, 0, True) in cache and ("sibling", 1, 0, False) in cache


def test_selection_and_kd_forwards_leave_running_stats_untouched() -> None:
    st = _state()
    before = {k: v.clone() for k, v in st.supernet.state_dict().items()}
    x = torch.randn(8, 3, 16, 16)
    y = torch.randint(0, 10, (8,))
    held_out_accuracy(st, [(x, y)], "train", None)
    mixture_logits(st, x, "train", None)
    with frozen_stats(st.supernet, "train"):
        st.supernet(x, torch.full((6, 5), 0.2), st.mask)
    for k, v in st.supernet.state_dict().items():
        assert torch.equal(v, before[k]), k
    mixture_logits(st, x, "public", None)  # the public code's incidental behaviour does update them
    assert any(not torch.equal(v, before[k]) for k, v in st.supernet.state_dict().items())
