"""SPOS / RSPS, tiny supernet, synthetic data (CPU): config rules, candidates, scoring, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.spos import Config, Spos
from algorithms.spos.config import SupernetConfig
from harness.api import Algorithm, SupernetScorer
from harness.context import make_test_context
from harness.data import synthetic_search_data
from harness.errors import InputError
from harness.spaces import get_space
from harness.spaces.nb201 import NB201Arch

NB201 = get_space("nb201")

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


def test_evolution_without_settings_raises_input_error():
    with pytest.raises(InputError, match="population"):
        Config(search="evolution")
    with pytest.raises(InputError, match="mutation_prob"):
        Config(search="evolution", population=4, generations=1, num_parents=2)
    Config(search="evolution", **EVO)  # all set: fine


def test_random_search_candidates_and_final(tmp_path, data):
    algo, out, ctx = _run(tmp_path, data)
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
