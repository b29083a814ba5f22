"""HEP-NAS structure on a tiny supernet and synthetic data: stage children, remaining space, selection, KD
cache; the published defaults (paper preset), the public-code LR schedule, selection batches, per-child SMD
batches, rank scoring, config validation, and exact resume from the "hepnas" checkpoint (issue 11)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from algorithms.common.alpha import full_mask
from algorithms.common.config import SupernetConfig
from algorithms.common.partition import TooManySubSupernets, spawn_child
from algorithms.common.sampling import arch_one_hot, sample_arch
from algorithms.hepnas import Config, HepNas
from algorithms.hepnas import search as search_mod
from algorithms.hepnas.resume import CKPT, Position, Run
from algorithms.hepnas.search import PER_CHILD_CHECKPOINT_MAX, child_purposes, stage_hierarchies
from algorithms.hepnas.training import KD, frozen_stats, held_out_accuracy, mixture_logits, train_epoch
from harness.api import ScoringProtocol
from harness.config import load_preset, resolve_config
from harness.context import LocalRunContext, make_test_context
from harness.data import fixed_batches, synthetic_search_data
from harness.errors import InputError
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
    # ctx.scoring None (native) gives exactly the numbers of the previous per-owner native scoring
    assert ctx.scoring is None
    np.testing.assert_array_equal(scores, _previous_native_scores(algo, archs, ctx))
    # the run's rank-scoring protocol is applied per owner: recalibrated BN, same owners, stats untouched
    before = {k: v.clone() for k, v in algo._final.supernet.state_dict().items()}
    ctx.scoring = ScoringProtocol(bn="recalibrate", calib_images=32, calib_batch_size=16)
    rescored, owners2 = algo.score(archs, ctx)
    assert owners2 == owners and np.all((rescored >= 0) & (rescored <= 100))
    for k, v in algo._final.supernet.state_dict().items():
        assert torch.equal(v, before[k]), k


def _previous_native_scores(algo: HepNas, archs, ctx) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The native scoring as HepNas.score computed it before score_for_rank: per owner, BN as select_bn_mode
    (frozen_stats), one-hot path, fixed held-out batches of eval_batch_size."""
    cfg = algo.config
    batches = fixed_batches(ctx.data.held_out, cfg.eval_batch_size)
    total = sum(int(y.shape[0]) for _, y in batches)
    out = np.empty(len(archs))
    with torch.no_grad():
        for k, a in enumerate(archs):
            _, st = algo.owner_of(a)
            with frozen_stats(st.supernet, cfg.select_bn_mode):
                w = arch_one_hot(ONE_SHOT, a, st.mask.device)
                correct = sum(int((st.supernet(x, w, w.bool()).argmax(1) == y).sum()) for x, y in batches)
            out[k] = 100.0 * correct / total
    return out


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


# ------------------------------------------------------------------------- published defaults (paper preset)
def test_paper_config_is_the_published_code() -> None:
    cfg = resolve_config("hepnas", load_preset("paper"), space="nb201")
    assert cfg == Config()  # the NB201 paper values ARE the Config defaults
    assert (cfg.split_epochs, cfg.smd_epochs, cfg.batch_size, cfg.final_epochs) == ((10, 20, 30), 10, 128, 0)
    w = cfg.weight_opt
    assert (w.lr, w.momentum, w.weight_decay, w.grad_clip, w.lr_min, w.nesterov) == (
        0.025,
        0.9,
        3e-4,
        5.0,
        0.001,
        False,
    )
    assert (cfg.lr_schedule, cfg.public_t_max) == ("public_code", 0)
    a = cfg.alpha_opt
    assert (a.lr, tuple(a.betas), a.weight_decay) == (3e-4, (0.5, 0.999), 1e-3)
    assert (cfg.partition, cfg.gm_batches, cfg.gm_probe, cfg.smd) == ("gm", 100, "one_hot", "both")
    assert (cfg.select_bn_mode, cfg.select_batch_size, cfg.selection_batch_size, cfg.select_augment) == (
        "train",
        0,
        128,
        True,
    )
    assert (cfg.shared_round_batches, cfg.data_protocol, cfg.amp) == (False, "train_half", False)
    assert cfg.path_positions == 60

    darts = resolve_config("hepnas", load_preset("paper"), space="darts")
    assert (darts.split_epochs, darts.smd_epochs, darts.final_epochs) == ((15, 25, 35, 45), 5, 15)
    assert (darts.alpha_warmup_epochs, darts.alpha_sharpen, darts.select_bn_mode) == (10, True, "eval")
    assert (darts.lr_schedule, darts.selection_batch_size, darts.select_augment) == ("public_code", 128, True)
    assert (darts.shared_round_batches, darts.amp, darts.path_positions) == (False, False, 80)


def _torch_cosine_lrs(steps: int, t_max: int, lr: float = 0.025, eta_min: float = 0.001) -> list[float]:
    """The LR before each of `steps` steps of torch's CosineAnnealingLR (the public code's scheduler)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_public_code_lr_is_torch_cosine_annealing_along_the_path(tmp_path: Path, data, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """NB201 paper schedule (splits 10,20,30, 10 SMD epochs): the LR the SGD optimizer holds at each of the 60
    path positions equals CosineAnnealingLR(SGD(lr=0.025), T_max=30, eta_min=0.001) stepped 60 times (periodic:
    it climbs back after position 30); children inherit the position."""
    ref = _torch_cosine_lrs(60, 30)
    assert ref[30] == pytest.approx(0.001, abs=1e-12) and ref[59] > 0.0249  # periodic past T_max
    cfg = Config(**{**TINY, "split_epochs": (10, 20, 30), "smd_epochs": 10}, smd="none", keep_children=False)
    algo = HepNas(cfg)
    assert [algo._lr(p) for p in range(60)] == pytest.approx(ref, abs=1e-12, rel=0)
    used: dict[int, set[float]] = {}
    real = train_epoch

    def spy(state, *args, **kwargs):  # type: ignore[no-untyped-def]
        position = state.sched["step"]
        out = real(state, *args, **kwargs)
        used.setdefault(position, set()).add(state.w_opt.param_groups[0]["lr"])
        return out

    monkeypatch.setattr(search_mod, "train_epoch", spy)
    algo.search(NB201, make_test_context(tmp_path, data))
    assert sorted(used) == list(range(60))  # 30 supernet + 3 x 10 SMD positions on the selected path
    for position, lrs in used.items():
        for lr in lrs:  # every child at one position uses the same LR
            assert abs(lr - ref[position]) <= 1e-12, (position, lr, ref[position])
    assert algo._final is not None and algo._final.sched["step"] == 60


def test_path_cosine_variant_is_monotone_over_the_path() -> None:
    algo = HepNas(Config(lr_schedule="path_cosine"))
    lrs = [algo._lr(p) for p in range(61)]
    assert lrs[0] == pytest.approx(0.025) and lrs[60] == pytest.approx(0.001)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


# ------------------------------------------------------------------------------------------ selection batches
class _Stop(Exception):
    pass


def _spy_selection(monkeypatch, stop_after: int):  # type: ignore[no-untyped-def]
    """Record each selection measurement's batches and the crop/flip calls made while drawing them; stop the
    search after `stop_after` measurements."""
    import harness.data.stream as stream_mod
    from harness.data.augment import random_crop_flip

    calls: list[dict] = []
    state = {"selecting": False, "augment": 0}
    real_aug = random_crop_flip
    real_acc = held_out_accuracy

    def aug(*args, **kwargs):  # type: ignore[no-untyped-def]
        if state["selecting"]:
            state["augment"] += 1
        return real_aug(*args, **kwargs)

    def acc(st, batches, bn_mode, amp_device):  # type: ignore[no-untyped-def]
        state["selecting"], state["augment"] = True, 0
        batches = list(batches)
        state["selecting"] = False
        calls.append({"batches": batches, "augment_calls": state["augment"], "bn_mode": bn_mode})
        out = real_acc(st, batches, bn_mode, amp_device)
        if len(calls) >= stop_after:
            raise _Stop
        return out

    monkeypatch.setattr(stream_mod, "random_crop_flip", aug)
    monkeypatch.setattr(search_mod, "held_out_accuracy", acc)
    return calls


@pytest.fixture(scope="module")
def data40():  # type: ignore[no-untyped-def]
    return synthetic_search_data("cifar10", n_weight=32, n_held_out=40, seed=0, image_size=16)


def test_selection_uses_training_batches_with_augmentation(tmp_path: Path, data40, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Default (the code's infer(eval=False)): the whole held-out half in batches of batch_size (16 here, the
    last one short), crop + flip, BN batch statistics, each child its own shuffled, seeded pass."""
    calls = _spy_selection(monkeypatch, stop_after=2)  # stage 1 has 2 children
    cfg = Config(**TINY)
    assert (cfg.select_batch_size, cfg.selection_batch_size, cfg.select_augment) == (0, 16, True)
    with pytest.raises(_Stop):
        HepNas(cfg).search(NB201, make_test_context(tmp_path / "a", data40))
    held = data40.held_out
    for c in calls:
        assert [int(y.shape[0]) for _, y in c["batches"]] == [16, 16, 8]  # the whole half, batches of 16
        assert c["augment_calls"] == 3 and c["bn_mode"] == "train"
        labels = torch.cat([y for _, y in c["batches"]])
        assert torch.equal(labels.sort().values, held.labels.sort().values)
    first, second = (torch.cat([x for x, _ in c["batches"]]) for c in calls)
    assert not torch.equal(first, second)  # each child draws its own batches
    # seeded (per stage and child): a rerun draws the same selection batches
    again = _spy_selection(monkeypatch, stop_after=2)
    with pytest.raises(_Stop):
        HepNas(cfg).search(NB201, make_test_context(tmp_path / "b", data40))
    for c, d in zip(calls, again, strict=True):
        for (x1, y1), (x2, y2) in zip(c["batches"], d["batches"], strict=True):
            assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert child_purposes(1, 0)[2] == "stage1/child0/select"


def test_previous_selection_variant_fixed_shared_batches(tmp_path: Path, data40, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """select_batch_size=512, select_augment=false: the old fixed, in-order, un-augmented batches, the same for
    every child."""
    calls = _spy_selection(monkeypatch, stop_after=2)
    cfg = Config(**TINY, select_batch_size=512, select_augment=False)
    with pytest.raises(_Stop):
        HepNas(cfg).search(NB201, make_test_context(tmp_path, data40))
    expected = fixed_batches(data40.held_out, 512)
    for c in calls:
        assert c["augment_calls"] == 0 and len(c["batches"]) == len(expected) == 1
        for (x1, y1), (x2, y2) in zip(c["batches"], expected, strict=True):
            assert torch.equal(x1, x2) and torch.equal(y1, y2)


# --------------------------------------------------------------------------------------------- SMD batches
@pytest.mark.parametrize("shared", [False, True])
def test_smd_children_weight_batches(tmp_path: Path, data, monkeypatch, shared: bool) -> None:  # type: ignore[no-untyped-def]
    """shared_round_batches=False (default, public code): the children of a round train on different
    weight-half batches, reproducibly (seeded per stage and child); True: they replay the same batches."""

    def run(folder: str) -> list[torch.Tensor]:
        seen: list[torch.Tensor] = []
        real = train_epoch

        def spy(state, weight_batches, held_batches, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs.get("kd") is None:
                return real(state, weight_batches, held_batches, **kwargs)
            batches = list(weight_batches)
            seen.append(torch.cat([x for x, _ in batches]))
            if len(seen) == 2:  # both stage-1 children have run their round-0 epoch
                raise _Stop
            return real(state, batches, held_batches, **kwargs)

        monkeypatch.setattr(search_mod, "train_epoch", spy)
        with pytest.raises(_Stop):
            HepNas(Config(**TINY, shared_round_batches=shared)).search(
                NB201, make_test_context(tmp_path / folder, data)
            )
        return seen

    first = run("a")
    assert torch.equal(first[0], first[1]) == shared
    second = run("b")
    assert all(torch.equal(x, y) for x, y in zip(first, second, strict=True))


def test_search_is_reproducible_with_per_child_streams(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    cfg = Config(**TINY, keep_children=False)
    outs = [HepNas(cfg).search(NB201, make_test_context(tmp_path / k, data)) for k in ("a", "b")]
    assert outs[0].final_arch == outs[1].final_arch
    assert [c.held_out_acc for c in outs[0].sub_supernets] == [c.held_out_acc for c in outs[1].sub_supernets]
    assert outs[0].extras["final_held_out_acc_pct"] == outs[1].extras["final_held_out_acc_pct"]
    ex = outs[0].extras
    assert (ex["lr_schedule"], ex["select_batch_size"], ex["select_augment"]) == ("public_code", 16, True)
    assert (ex["shared_round_batches"], ex["data_protocol"], ex["amp"]) == (False, "train_half", False)


# ------------------------------------------------------------------------------------- data, amp, validation
def test_data_protocol_guard(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    real = dataclasses.replace(data, source="real", identity="cifar10:nb201_official:x")
    with pytest.raises(InputError, match="nb201_official"):
        HepNas(Config(**TINY)).search(NB201, make_test_context(tmp_path, real))
    assert not (tmp_path / "records.csv").exists() or "supernet" not in (tmp_path / "records.csv").read_text()


def test_amp_is_an_explicit_opt_in(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    ctx = make_test_context(tmp_path, data)
    assert Config().amp is False and HepNas(Config())._amp_device(ctx) is None
    assert HepNas(Config(amp=True))._amp_device(ctx) == torch.device("cpu")  # opt-in on every device


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data_protocol": "public"}, "hepnas.data_protocol='public'; allowed: train_half, nb201_official"),
        ({"select_batch_size": -1}, "hepnas.select_batch_size must be >= 0, got -1"),
        ({"select_augment": "yes"}, "hepnas.select_augment='yes'; allowed: true, false"),
        ({"shared_round_batches": 1}, "hepnas.shared_round_batches=1; allowed: true, false"),
        ({"amp": None}, "hepnas.amp=None; allowed: true, false"),
        ({"lr_schedule": "cosine"}, "hepnas.lr_schedule='cosine'; allowed: public_code, path_cosine"),
        ({"public_t_max": -1}, "hepnas.public_t_max must be >= 0, got -1"),
    ],
)
def test_config_validation_names_field_value_and_allowed(overrides: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        Config(**overrides)
    assert message in str(err.value)


def test_set_overrides_of_new_fields() -> None:
    preset = load_preset("paper")
    cfg = resolve_config(
        "hepnas",
        preset,
        space="nb201",
        set_overrides={
            "select_batch_size": "512",
            "select_augment": "false",
            "shared_round_batches": "true",
            "lr_schedule": "path_cosine",
            "data_protocol": "nb201_official",
            "amp": "true",
        },
    )
    assert (cfg.selection_batch_size, cfg.select_augment, cfg.shared_round_batches) == (512, False, True)
    assert (cfg.lr_schedule, cfg.data_protocol, cfg.amp) == ("path_cosine", "nb201_official", True)
    with pytest.raises(InputError, match="data_protocol"):
        resolve_config("hepnas", preset, space="nb201", set_overrides={"data_protocol": "test"})


# ------------------------------------------------------------------------------------------- resume (issue 11)
# Killed attempts: a function of search.py raises on its n-th call within the attempt; the next attempt opens the
# same folder with resume=True (as the runner does) and continues from the last "hepnas" checkpoint.
# train_epoch calls of RESUME on NB201 (children 2, 4, 8; 2 SMD rounds; 2 final epochs): 1 stage-1 supernet
# epoch, 2-5 stage-1 SMD (round 0: 2-3, round 1: 4-5), 6 stage-2 supernet, 7-14 stage-2 SMD (round 1 child 2 = 13),
# 15 stage-3 supernet, 16-31 stage-3 SMD, 32-33 final epochs. held_out_accuracy: 1-2 stage 1, 3-6 stage 2, ...
RESUME = {**TINY, "split_epochs": (1, 2, 3), "smd_epochs": 2, "final_epochs": 2}
DARTS = get_space("darts")
# one DARTS-space stage (node 0: 2 edges, 4 children) over 4 ops, the smoke preset's DARTS settings: the
# shared-round logit cache makes the SMD checkpoints per round
DARTS_RESUME = dict(
    supernet=SupernetConfig(C=2, N=1),
    split_epochs=(1,),
    smd_epochs=2,
    final_epochs=1,
    batch_size=8,
    eval_batch_size=16,
    max_steps_per_epoch=1,
    gm_batches=1,
    gm_probe="alpha",
    alpha_warmup_epochs=1,
    alpha_sharpen=True,
    exclude_ops=("none", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_5x5"),
    select_bn_mode="eval",
    shared_round_batches=True,
)
RESUME_CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "nb201": (NB201, RESUME),
    # every child's SMD epoch replays the round's batches (round_start checkpointed) and updates the teacher's
    # and siblings' running statistics (kd_bn_mode="public")
    "nb201-public-bn-replay": (NB201, {**RESUME, "kd_bn_mode": "public", "shared_round_batches": True}),
    # 5 then 25 children: the second stage checkpoints per SMD round and after the whole selection
    "nb201-exhaustive": (NB201, {**TINY, "split_epochs": (1, 1), "smd_epochs": 2, "partition": "exhaustive",
                                 "smd": "none"}),  # fmt: skip
    "darts": (DARTS, DARTS_RESUME),
}


class _Killed(Exception):
    pass


def _attempt(case: str, run_dir: Path, data: Any, *, resume: bool, kill: tuple[str, int] | None = None) -> Any:
    """One search attempt; with kill=(name, n), search.<name> raises _Killed on its n-th call (returns None)."""
    space, overrides = RESUME_CASES[case]
    ctx = LocalRunContext(seed=0, device="cpu", run_dir=run_dir, data=data, resume=resume, show_progress=False)
    algo = HepNas(Config(**overrides))
    with pytest.MonkeyPatch.context() as mp:
        if kill is not None:
            name, n = kill
            real, calls = getattr(search_mod, name), itertools.count(1)

            def dying(*args: Any, **kwargs: Any) -> Any:
                if next(calls) == n:
                    raise _Killed(f"{name} call {n}")
                return real(*args, **kwargs)

            mp.setattr(search_mod, name, dying)
            with pytest.raises(_Killed):
                algo.search(space, ctx)
            ctx.close()
            return None
        out = algo.search(space, ctx)
    counters = {p.phase: (p.epochs, p.steps, p.images, p.forwards) for p in ctx.meter.phases()}
    archs = _scored_archs(space, overrides, out.final_arch)
    scores, owners = algo.score(archs, ctx)
    ctx.close()
    return {
        "ctx": ctx,
        "out": out,
        "counters": counters,
        "records": (run_dir / "records.csv").read_text(),
        "scores": (scores.tolist(), owners),
    }


def _scored_archs(space: Any, overrides: dict[str, Any], final_arch: Any) -> list[Any]:
    """The final arch and 12 archs drawn over the searched region (owners in every stage)."""
    one_shot = space.one_shot
    mask = full_mask(one_shot, exclude_ops=tuple(overrides.get("exclude_ops", ("none",))))
    gen = torch.Generator().manual_seed(0)
    return [final_arch] + [sample_arch(one_shot, mask, gen, reject_disconnected=False) for _ in range(12)]


def _deterministic_outcome(out: Any) -> tuple[Any, ...]:
    """The outcome without wall-clock costs."""

    def no_wall(cost: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in cost.items() if k != "wall_s"}

    stages = [(dataclasses.replace(s, cost=no_wall(s.cost))) for s in out.stages]
    subs = [(dataclasses.replace(s, cost=no_wall(s.cost))) for s in out.sub_supernets]
    return out.final_arch, stages, subs, out.candidates, out.extras


@pytest.fixture(scope="module")
def darts_data():  # type: ignore[no-untyped-def]
    return synthetic_search_data("cifar10", n_weight=16, n_held_out=16, seed=0, image_size=16)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data, darts_data) -> Callable[[str], Any]:  # type: ignore[no-untyped-def]
    """The uninterrupted run of a resume case (computed once per module)."""
    cache: dict[str, Any] = {}

    def get(case: str) -> Any:
        if case not in cache:
            folder = tmp_path_factory.mktemp(f"uninterrupted-{case}")
            cache[case] = _attempt(case, folder, darts_data if case == "darts" else data, resume=False)
        return cache[case]

    return get


@pytest.mark.parametrize(
    ("case", "kills"),
    [
        pytest.param("nb201", [("train_epoch", 13)], id="nb201-smd-round1-child2"),
        pytest.param("nb201", [("train_epoch", 6)], id="nb201-right-after-stage1-selection"),
        pytest.param("nb201", [("held_out_accuracy", 5)], id="nb201-in-stage2-selection"),
        pytest.param("nb201", [("train_epoch", 33)], id="nb201-last-final-epoch"),
        # five kills in a row, each attempt resuming the previous one: stage-1 SMD round 0 child 1; stage-2 GM
        # split (second edge); stage-2 selection of child 1; stage-3 SMD round 0 child 7; stage-3 round 1 child 0
        pytest.param(
            "nb201",
            [("train_epoch", 3), ("gm_split_edge", 2), ("held_out_accuracy", 2), ("train_epoch", 9)]
            + [("train_epoch", 2)],
            id="nb201-five-kills",
        ),
        pytest.param("nb201-public-bn-replay", [("train_epoch", 13)], id="nb201-public-bn-replay-round1-child2"),
        # exhaustive: stage-1 supernet epoch, SMD 2 x 5 (calls 2-11), stage 2 (no supernet epoch) 2 x 25 (12-61)
        pytest.param("nb201-exhaustive", [("train_epoch", 42)], id="nb201-exhaustive-stage2-round1-child5"),
        # DARTS: 1 supernet epoch, SMD rounds of 4 children (calls 2-5, 6-9; checkpoints per round), 1 final epoch
        pytest.param("darts", [("train_epoch", 8)], id="darts-smd-round1-child2"),
    ],
)
def test_killed_run_resumes_to_identical_results(  # type: ignore[no-untyped-def]
    tmp_path: Path, data, darts_data, uninterrupted, case: str, kills: list[tuple[str, int]]
) -> None:
    """Killed at the given points and resumed: the same outcome (final arch, stage and sub-supernet outcomes,
    candidates, extras), byte-identical records.csv, the same work counters per cost phase and the same rank
    scores and owners (the kept children restored) as the uninterrupted run."""
    run_data = darts_data if case == "darts" else data
    for attempt, kill in enumerate(kills):
        _attempt(case, tmp_path, run_data, resume=attempt > 0, kill=kill)
    got = _attempt(case, tmp_path, run_data, resume=True)
    ref = uninterrupted(case)
    assert got["ctx"].resumed_from == CKPT
    assert _deterministic_outcome(got["out"]) == _deterministic_outcome(ref["out"])
    assert got["records"] == ref["records"]
    assert got["counters"] == ref["counters"]
    assert got["scores"] == ref["scores"]


def test_checkpoint_schedule_and_contents(tmp_path: Path, data, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Checkpoints after every supernet epoch, GM split, SMD child epoch (stages of <= 8 children), selection
    measurement but the last, stage close and final epoch; the last one loads with weights_only=True and holds
    the final S with its optimizers, every stage's children (the winner as the reference "S")."""
    positions: list[tuple[Any, ...]] = []
    real_save = Run.save

    def spy(run: Run, ctx: Any, generators: list[str]) -> None:
        p = run.pos
        positions.append((p.stage, p.phase, p.epoch, p.round, p.child))
        real_save(run, ctx, generators)

    monkeypatch.setattr(Run, "save", spy)
    assert PER_CHILD_CHECKPOINT_MAX == 8
    algo = HepNas(Config(**RESUME))
    out = algo.search(NB201, make_test_context(tmp_path, data))
    stage1 = [
        (1, "supernet", 1, 0, 0),
        (1, "spawn", 0, 0, 0),
        (1, "smd", 0, 0, 1),
        (1, "smd", 0, 1, 0),
        (1, "smd", 0, 1, 1),
        (1, "smd", 0, 2, 0),
        (1, "select", 0, 0, 1),
        (2, "supernet", 1, 0, 0),  # the stage's close: S <- winner, next stage's supernet epochs
    ]
    assert positions[: len(stage1)] == stage1
    assert [p[1] for p in positions].count("smd") == 2 * (2 + 4 + 8)
    assert [p[1] for p in positions].count("select") == 1 + 3 + 7
    assert positions[-3:] == [(4, "final", 3, 0, 0), (4, "final", 4, 0, 0), (4, "final", 5, 0, 0)]
    from harness.context import unpack_tensors

    state = unpack_tensors(torch.load(tmp_path / "artifacts" / f"{CKPT}.pt", weights_only=True)["state"])
    assert Position(**state["pos"]) == Position(4, "final", epoch=5)
    assert "w_opt" in state["S"] and "a_opt" in state["S"] and state["children"] == []
    assert [len(k) for k in state["kept"]] == [2, 4, 8]
    for stage, kept in zip(out.stages, state["kept"], strict=True):
        assert [k == "S" for k in kept] == [i == stage.pick and stage.index == 3 for i in range(len(kept))]
        assert all("w_opt" not in k for k in kept if k != "S")  # kept children are only scored


def test_checkpoints_per_round_beyond_eight_children_or_with_a_logit_cache(  # type: ignore[no-untyped-def]
    tmp_path: Path, data, monkeypatch
) -> None:
    positions: list[tuple[int, str, int, int]] = []
    real_save = Run.save

    def spy(run: Run, ctx: Any, generators: list[str]) -> None:
        positions.append((run.pos.stage, run.pos.phase, run.pos.round, run.pos.child))
        real_save(run, ctx, generators)

    monkeypatch.setattr(Run, "save", spy)
    cfg = Config(**{**TINY, "split_epochs": (1, 1), "smd_epochs": 2, "partition": "exhaustive", "smd": "none"})
    HepNas(cfg).search(NB201, make_test_context(tmp_path / "exhaustive", data))
    smd = [p for p in positions if p[1] == "smd"]
    assert [p for p in smd if p[0] == 1] == [(1, "smd", r + (c == 5), c % 5) for r in (0, 1) for c in range(1, 6)]
    assert [p for p in smd if p[0] == 2] == [(2, "smd", 1, 0), (2, "smd", 2, 0)]  # 25 children: rounds only
    assert [p for p in positions if p[1] == "select"] == [(1, "select", 0, c) for c in range(1, 5)]
    positions.clear()
    HepNas(Config(**TINY, shared_round_batches=True)).search(NB201, make_test_context(tmp_path / "cache", data))
    assert [p for p in positions if p[1] == "smd"] == [(1, "smd", 1, 0), (2, "smd", 1, 0), (3, "smd", 1, 0)]
