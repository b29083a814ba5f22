"""SPOS / RSPS, tiny supernet, synthetic data (CPU): config rules, the published (AutoDL RANDOM-NAS) defaults, the
autodl and whole_half selections, rank scoring, amp, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import algorithms.spos.search as spos_search
from algorithms.common.scoring import held_out_score_batches, score_single_path
from algorithms.spos import Config, Spos
from algorithms.spos.config import SupernetConfig
from harness.api import Algorithm, ScoringProtocol, SupernetScorer
from harness.context import make_test_context
from harness.data import synthetic_search_data
from harness.errors import InputError
from harness.spaces import get_space
from harness.spaces.nb201 import NB201Arch

NB201 = get_space("nb201")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

EVO = dict(population=4, generations=2, num_parents=2, mutation_prob=0.5)


@pytest.fixture(scope="module")
def data():
    return synthetic_search_data("cifar10", n_weight=64, n_held_out=64, seed=0, image_size=16)


def _cfg(**kw) -> Config:
    base = dict(
        epochs=2, batch_size=32, num_candidates=8, eval_batch_size=64, supernet=SupernetConfig(C=2, N=1)
    )
    base.update(kw)
    return Config(**base)


def _run(tmp_path, data, **kw):
    ctx = make_test_context(tmp_path, data, seed=0)
    algo = Spos(_cfg(**kw))
    return algo, algo.search(NB201, ctx), ctx


def test_protocols_and_rsps_defaults():
    assert isinstance(Spos(), Algorithm) and isinstance(Spos(), SupernetScorer)
    cfg = Config()
    assert (cfg.epochs, cfg.batch_size, cfg.num_candidates, cfg.search) == (250, 64, 100, "random")
    assert cfg.weight_opt.nesterov and cfg.weight_opt.weight_decay == 5e-4
    assert (cfg.weight_opt.lr, cfg.weight_opt.lr_min) == (0.025, 0.001)
    assert (cfg.sample_per, cfg.reject_disconnected, cfg.score_bn_mode) == ("network", True, "eval")
    assert (cfg.data_protocol, cfg.selection, cfg.select_batch_size) == ("nb201_official", "autodl", 512)
    assert cfg.amp is False


def test_paper_preset_is_the_published_rsps_setting():
    """AutoDL RANDOM.config + RANDOM-NAS.py (algorithms.md §6): what `paper` resolves to on NB201."""
    from harness.config import load_preset, resolve_config

    cfg = resolve_config("spos", load_preset("paper"), space="nb201")
    w = cfg.weight_opt
    assert (cfg.epochs, cfg.batch_size) == (250, 64)
    assert (w.lr, w.lr_min, w.momentum, w.nesterov, w.weight_decay, w.grad_clip) == (
        0.025,
        0.001,
        0.9,
        True,
        5e-4,
        5.0,
    )
    assert (cfg.supernet.C, cfg.supernet.N, cfg.supernet.affine) == (16, 5, False)
    assert cfg.data_protocol == "nb201_official"
    assert (cfg.search, cfg.selection, cfg.num_candidates, cfg.select_batch_size) == ("random", "autodl", 100, 512)
    assert (cfg.score_bn_mode, cfg.amp) == ("eval", False)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("data_protocol", "public", "nb201_official, train_half"),
        ("selection", "best", "autodl, whole_half"),
        ("select_batch_size", 0, ">= 1"),
    ],
)
def test_invalid_new_fields_raise_input_error(field, value, allowed):
    with pytest.raises(InputError, match=rf"spos {field}={value!r}.*{allowed}"):
        Config(**{field: value})


def test_evolution_without_settings_raises_input_error():
    with pytest.raises(InputError, match="population"):
        Config(search="evolution")
    with pytest.raises(InputError, match="mutation_prob"):
        Config(search="evolution", population=4, generations=1, num_parents=2)
    Config(search="evolution", **EVO)  # all set: fine


def test_whole_half_candidates_and_final(tmp_path, data):
    algo, out, ctx = _run(tmp_path, data, selection="whole_half")
    archs = [a for a, _ in out.candidates]
    scores = np.array([s for _, s in out.candidates])
    assert len(archs) == 8 and len(set(archs)) == 8
    assert all(a.is_connected() for a in archs)
    assert out.final_arch == archs[int(np.argmax(scores))]
    # the candidate scores are the scorer's scores
    again, owners = algo.score(archs, ctx)
    np.testing.assert_allclose(again, scores)
    assert owners == ["supernet"] * 8


def test_evolution_runs_and_scores_distinct_archs(tmp_path, data):
    _, out, _ = _run(tmp_path, data, search="evolution", **EVO)
    archs = [a for a, _ in out.candidates]
    assert 4 < len(archs) <= 4 * 3 and len(set(archs)) == len(archs)
    assert out.final_arch == max(out.candidates, key=lambda c: c[1])[0]


@pytest.mark.parametrize("per", ["network", "cell"])
def test_two_runs_same_seed_identical(tmp_path, data, per):
    a1, o1, _ = _run(tmp_path / "a", data, sample_per=per)
    a2, o2, _ = _run(tmp_path / "b", data, sample_per=per)
    s1, s2 = a1.supernet.state_dict(), a2.supernet.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert o1.candidates == o2.candidates


def test_score_one_per_arch(tmp_path, data):
    algo, _, ctx = _run(tmp_path, data, epochs=1, num_candidates=2)
    archs = [NB201Arch.from_index(i) for i in (0, 1, 2)]
    scores, owners = algo.score(archs, ctx)
    assert scores.shape == (3,) and len(owners) == 3


def test_max_steps_per_epoch_caps_weight_batches(tmp_path, data):
    ctx = make_test_context(tmp_path, data, seed=0)
    Spos(_cfg(max_steps_per_epoch=1)).search(NB201, ctx)
    ctx.close()
    (sup,) = [p for p in ctx.meter.phases() if p.phase == "supernet"]
    assert (sup.epochs, sup.steps) == (2, 2)  # 64 images / batch 32 = 2 steps per epoch uncapped


# ------------------------------------------------------------------------------------- selection="autodl"
def _spy_scoring(monkeypatch):
    """Record every (archs, batches) the search's own scoring sees, then score for real."""
    calls = []

    def spy(one_shot, supernet, archs, batches, **kw):
        batches = list(batches)
        calls.append((list(archs), batches, kw))
        return score_single_path(one_shot, supernet, archs, batches, **kw)

    monkeypatch.setattr(spos_search, "score_single_path", spy)
    return calls


def _rows(x: torch.Tensor, held: torch.Tensor) -> list[int]:
    """The held-out index of each image in batch x (exact match: images are not augmented)."""
    flat = held.reshape(len(held), -1)
    out = []
    for img in x.reshape(len(x), -1):
        (hit,) = torch.nonzero((flat == img).all(dim=1)).flatten().tolist()
        out.append(hit)
    return out


@pytest.mark.parametrize(("select_batch_size", "sizes"), [(16, [16] * 8), (48, [48, 16] * 4), (512, [64] * 8)])
def test_autodl_scores_each_candidate_on_one_random_held_out_batch(
    tmp_path, data, monkeypatch, select_batch_size, sizes
):
    calls = _spy_scoring(monkeypatch)
    _, out, _ = _run(tmp_path, data, select_batch_size=select_batch_size, max_steps_per_epoch=1)
    held = data.held_out.images
    assert len(calls) == 8 == len(out.candidates)
    rows = []
    for (archs, batches, kw), (cand, _) in zip(calls, out.candidates, strict=True):
        assert archs == [cand] and len(batches) == 1  # one arch, one batch
        (x, y), *_ = batches
        assert kw["bn_mode"] == "eval" and kw["autocast_device"] is None
        r = _rows(x, held)
        assert len(set(r)) == len(r)  # without replacement within the batch
        assert torch.equal(y, data.held_out.labels[r])
        rows.append(r)
    # min(select_batch_size, held-out size) images each, as consecutive batches of shuffled passes (the last batch
    # of a pass is short, as the public DataLoader's); a pass covers the held-out half exactly once
    assert [len(r) for r in rows] == sizes
    assert all(rows[i] != rows[i + 1] for i in range(len(rows) - 1))  # a different random batch per candidate
    n, k = 64, -(-64 // select_batch_size)
    for p in range(0, 8, k):
        assert sorted(i for r in rows[p : p + k] for i in r) == list(range(n))
    assert rows[:k] != rows[k : 2 * k]  # each pass is a new shuffle
    if select_batch_size >= n:
        assert rows[0] != list(range(n))  # the whole half, in random order


def test_autodl_draws_with_replacement_and_without_rejection(tmp_path, data, monkeypatch):
    seen = []
    real = spos_search.sample_arch

    def spy(*args, **kw):
        seen.append(kw.get("reject_disconnected"))
        return real(*args, **kw)

    monkeypatch.setattr(spos_search, "sample_arch", spy)
    _, out, _ = _run(tmp_path, data, epochs=1, max_steps_per_epoch=1, num_candidates=400, select_batch_size=4)
    assert seen == [False] * 400
    archs = [a for a, _ in out.candidates]
    assert len(archs) == 400 and out.extras["num_distinct"] == len(set(archs))
    assert len(set(archs)) < 400  # uniform draws with replacement: duplicates (P ~ 0.99 at 400 of 15,625)
    assert any(not a.is_connected() for a in archs)  # 341/15,625 disconnected: ~9 expected in 400
    best = int(np.argmax([s for _, s in out.candidates]))
    assert out.final_arch == archs[best] and out.extras["selection"] == "autodl"


def test_autodl_reproducible_for_a_seed(tmp_path, data):
    _, o1, _ = _run(tmp_path / "a", data, select_batch_size=16)
    _, o2, _ = _run(tmp_path / "b", data, select_batch_size=16)
    assert o1.candidates == o2.candidates and o1.final_arch == o2.final_arch
    ctx = make_test_context(tmp_path / "c", data, seed=1)
    o3 = Spos(_cfg(select_batch_size=16)).search(NB201, ctx)
    assert [a for a, _ in o3.candidates] != [a for a, _ in o1.candidates]


def test_whole_half_scores_distinct_archs_on_the_same_whole_half_batches(tmp_path, data, monkeypatch):
    calls = _spy_scoring(monkeypatch)
    algo, out, ctx = _run(tmp_path, data, selection="whole_half", eval_batch_size=24)
    expected = held_out_score_batches(data, 24, None)  # 24 + 24 + 16: every held-out image, in order
    ((archs, batches, kw),) = calls  # all candidates in one call, on the same fixed batches
    assert archs == [a for a, _ in out.candidates] and len(set(archs)) == 8
    assert all(a.is_connected() for a in archs)  # reject_disconnected=True
    assert len(batches) == len(expected) == 3
    assert all(torch.equal(x, ex) and torch.equal(y, ey) for (x, y), (ex, ey) in zip(batches, expected, strict=True))
    assert kw["bn_mode"] == "eval" and kw["autocast_device"] is None
    ref = score_single_path(NB201.one_shot, algo.supernet, archs, expected, bn_mode="eval")
    np.testing.assert_array_equal(ref, [s for _, s in out.candidates])
    assert "selection" in out.extras and out.extras["selection"] == "whole_half"


# ------------------------------------------------------------------------------------- rank scoring, amp, data
def test_score_uses_the_rank_protocol_and_search_does_not(tmp_path, data, monkeypatch):
    calls = []
    real = spos_search.score_for_rank

    def spy(*args, **kw):
        calls.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(spos_search, "score_for_rank", spy)
    ctx = make_test_context(tmp_path, data, seed=0)
    ctx.scoring = ScoringProtocol(bn="recalibrate", calib_images=32, calib_batch_size=16)
    algo = Spos(_cfg(epochs=1, num_candidates=2, score_max_images=32))
    algo.search(NB201, ctx)
    assert calls == []  # the search's own selection is native, never the rank protocol
    archs = [NB201Arch.from_index(i) for i in (0, 7, 100)]
    before = {k: v.clone() for k, v in algo.supernet.state_dict().items()}
    recal, _ = algo.score(archs, ctx)
    assert calls == [dict(native_bn_mode="eval", batch_size=64, max_images=32, autocast_device=None)]
    assert all(torch.equal(before[k], v) for k, v in algo.supernet.state_dict().items())
    ctx.scoring = None
    native, _ = algo.score(archs, ctx)
    ref = score_single_path(NB201.one_shot, algo.supernet, archs, held_out_score_batches(data, 64, 32))
    np.testing.assert_array_equal(native, ref)
    assert recal.shape == native.shape == (3,)


@pytest.mark.parametrize("amp", [False, True])
def test_amp_autocasts_training_and_scoring_only_when_on(tmp_path, data, monkeypatch, amp):
    seen: list[tuple[bool, torch.dtype]] = []
    real = spos_search.build_supernet

    def build(*args, **kw):
        net = real(*args, **kw)
        # on the head: scoring runs the stem once per batch and enters the supernet after it
        # (forward_after_stem), so the supernet module's own forward hook does not see scoring forwards
        net.head.register_forward_hook(lambda m, _i, out: seen.append((m.training, out.dtype)))
        return net

    monkeypatch.setattr(spos_search, "build_supernet", build)
    algo, out, ctx = _run(tmp_path, data, amp=amp, epochs=1, max_steps_per_epoch=1, num_candidates=2)
    algo.score([NB201Arch.from_index(5)], ctx)
    want = torch.bfloat16 if amp else torch.float32
    train = [d for t, d in seen if t]
    scoring = [d for t, d in seen if not t]
    assert train == [want]  # one capped training step
    assert len(scoring) == 3 and set(scoring) == {want}  # 2 candidates + 1 rank score
    assert out.extras["amp"] is amp


def test_real_data_split_otherwise_is_refused(tmp_path, data):
    real = dataclasses.replace(data, source="real", identity="cifar10:train_half:abc")  # as load_search_data
    ctx = make_test_context(tmp_path, real, seed=0)
    with pytest.raises(InputError, match="nb201_official.*train_half"):
        Spos(_cfg()).search(NB201, ctx)
    ctx = make_test_context(tmp_path / "b", real, seed=0)
    out = Spos(_cfg(data_protocol="train_half", epochs=1, num_candidates=2)).search(NB201, ctx)
    assert out.extras["data_protocol"] == "train_half"
