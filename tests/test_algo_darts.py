"""DARTS on NB201, tiny supernet, synthetic data (CPU): derivation, determinism, exact resume, scoring."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from algorithms.common.alpha import derive, full_mask
from algorithms.darts import Config, Darts
from algorithms.darts import search as darts_search
from algorithms.darts.config import SupernetConfig
from harness.api import Algorithm, SupernetScorer
from harness.context import LocalRunContext, make_test_context
from harness.data import synthetic_search_data
from harness.errors import InputError
from harness.spaces import get_space
from harness.spaces.base import check_requirements
from harness.spaces.nb201 import NB201Arch

NB201 = get_space("nb201")


@pytest.fixture(scope="module")
def data():
    return synthetic_search_data("cifar10", n_weight=64, n_held_out=64, seed=0, image_size=16)


def _cfg(**kw) -> Config:
    base = dict(epochs=2, batch_size=32, eval_batch_size=64, supernet=SupernetConfig(C=2, N=1))
    base.update(kw)
    return Config(**base)


def _run(tmp_path, data, **kw):
    ctx = make_test_context(tmp_path, data, seed=0)
    algo = Darts(_cfg(**kw))
    out = algo.search(NB201, ctx)
    ctx.close()
    return algo, out, ctx


def test_protocols_and_defaults():
    assert isinstance(Darts(), Algorithm) and isinstance(Darts(), SupernetScorer)
    cfg = Config()
    assert (cfg.epochs, cfg.batch_size, cfg.order) == (50, 64, 1)
    assert cfg.weight_opt.nesterov and cfg.weight_opt.weight_decay == 5e-4 and cfg.weight_opt.grad_clip == 5.0
    assert (cfg.alpha_opt.lr, cfg.alpha_opt.betas, cfg.alpha_opt.weight_decay) == (3e-4, (0.5, 0.999), 1e-3)
    assert (cfg.supernet.C, cfg.supernet.N, cfg.supernet.affine) == (16, 5, False)
    with pytest.raises(InputError):
        Config(order=3)


@pytest.mark.parametrize("order", [1, 2])
def test_final_arch_is_per_edge_argmax_of_alpha(tmp_path, data, order):
    algo, out, ctx = _run(tmp_path, data, order=order)
    alpha = torch.tensor(out.extras["alpha_final"])
    assert out.final_arch == derive(NB201.one_shot, alpha, full_mask(NB201.one_shot))
    assert out.final_arch.codes == tuple(alpha.argmax(dim=1).tolist())
    saved = ctx.load_checkpoint("darts_alphas")
    assert saved is not None and saved["alphas"].shape == (2, 6, 5)
    torch.testing.assert_close(saved["alphas"][-1], alpha)
    assert not torch.equal(saved["alphas"][0], saved["alphas"][1]), "alpha must move between epochs"
    text = (tmp_path / "records.csv").read_text()
    assert "alpha.e0.none" in text and "train_loss" in text and "alpha_loss" in text


def test_two_runs_same_seed_identical(tmp_path, data):
    a1, o1, _ = _run(tmp_path / "a", data)
    a2, o2, _ = _run(tmp_path / "b", data)
    assert torch.equal(a1.alpha, a2.alpha)
    s1, s2 = a1.supernet.state_dict(), a2.supernet.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert (tmp_path / "a" / "records.csv").read_text() == (tmp_path / "b" / "records.csv").read_text()


def test_killed_run_resumes_to_identical_results(tmp_path, data, monkeypatch):
    full, out_full, _ = _run(tmp_path / "full", data)

    real = darts_search.train_darts_epoch

    def dies_in_epoch_1(*args, **kwargs):
        if kwargs["epoch"] == 1:
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(darts_search, "train_darts_epoch", dies_in_epoch_1)
    ctx = make_test_context(tmp_path / "killed", data, seed=0)
    with pytest.raises(KeyboardInterrupt):
        Darts(_cfg()).search(NB201, ctx)
    ctx.close()
    monkeypatch.setattr(darts_search, "train_darts_epoch", real)

    ctx2 = LocalRunContext(
        seed=0, device="cpu", run_dir=tmp_path / "killed", data=data, resume=True, show_progress=False
    )
    resumed = Darts(_cfg())
    out = resumed.search(NB201, ctx2)
    ctx2.close()
    assert out.extras["resumed_from_epoch"] == 1
    assert torch.equal(resumed.alpha, full.alpha)
    s1, s2 = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert out.final_arch == out_full.final_arch
    assert (tmp_path / "killed" / "records.csv").read_text() == (
        tmp_path / "full" / "records.csv"
    ).read_text()


def test_score_one_per_arch(tmp_path, data):
    algo, _, ctx = _run(tmp_path, data, epochs=1)
    archs = [NB201Arch.from_index(i) for i in (0, 9930, 6111, 15624)]
    scores, owners = algo.score(archs, ctx)
    assert scores.shape == (4,) and owners == ["supernet"] * 4
    assert ((scores >= 0) & (scores <= 100)).all()


def test_score_before_search_raises(data, tmp_path):
    with pytest.raises(RuntimeError):
        Darts(_cfg()).score([NB201Arch.from_index(0)], make_test_context(tmp_path, data))


def test_rejects_space_without_one_shot_adapter():
    assert "one_shot" in Darts.requires
    check_requirements(NB201, Darts.requires, "darts")  # NB201 has everything DARTS needs
    bare = dataclasses.replace(NB201, name="bare", one_shot=None)
    with pytest.raises(InputError, match="one_shot"):
        check_requirements(bare, Darts.requires, "darts")


def test_max_steps_per_epoch_caps_weight_batches(tmp_path, data):
    _, _, ctx = _run(tmp_path, data, max_steps_per_epoch=1)  # 64 images / batch 32 = 2 steps uncapped
    (sup,) = [p for p in ctx.meter.phases() if p.phase == "supernet"]
    assert (sup.epochs, sup.steps) == (2, 2)
