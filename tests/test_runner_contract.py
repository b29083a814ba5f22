"""Interface contract for every registered algorithm x every space it supports (its `requires` capabilities
are a subset of the space's): smoke preset, synthetic data, via the real runner. An algorithm is refused (exit 2,
before any run folder) in a space lacking a capability it requires.
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from harness import records, registry
from harness.config import build_run_spec
from harness.spaces import get_space
from harness.spaces.base import CAPABILITIES, CapabilityMissing

NAMES = sorted(registry.ALGORITHMS)


def _pairs(supported: bool) -> list:
    out = []
    for name in NAMES:
        requires = set(registry.resolve_algorithm(name).requires)
        for space in sorted(registry.SPACES):
            if (requires <= get_space(space).capabilities) == supported:
                marks = () if space == registry.DEFAULT_SPACE else (pytest.mark.slow,)
                out.append(pytest.param(name, space, marks=marks if supported else (), id=f"{name}-{space}"))
    return out


# The DARTS-space pairs are marked slow: their smoke schedules are sized by the DARTS-space search issue; one
# DARTS-space run stays in the default suite (test_darts_space_smoke_search).


def _load(name: str) -> type:
    importlib.import_module(registry.ALGORITHMS[name].partition(":")[0])  # an import error fails the test
    return registry.resolve_algorithm(name)


@pytest.mark.parametrize("name", NAMES)
def test_class_contract(name):
    cls = _load(name)
    assert cls.name == name
    assert isinstance(cls.uses_oracle, bool)
    assert set(cls.requires) <= set(CAPABILITIES)
    assert dataclasses.is_dataclass(cls.Config)
    cfg = cls.Config()  # defaults live in the Config (paper settings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, dataclasses.fields(cfg)[0].name, None)
    hash(cfg)  # frozen + hashable values (tuples, not lists)


@pytest.mark.parametrize(("name", "space"), _pairs(supported=False))
def test_unsupported_space_is_refused_before_any_run(name, space, tmp_path):
    with pytest.raises(CapabilityMissing, match=f"algorithm '{name}' needs a search space with"):
        build_run_spec(algorithm=name, space=space, search_dataset="cifar10", seed=0, preset="smoke")


def test_darts_space_smoke_search(tmp_path):
    """One DARTS-space search through the runner: DARTS on the DARTS space, one step per epoch."""
    from harness.runner import execute

    spec = build_run_spec(
        algorithm="darts",
        space="darts",
        search_dataset="cifar10",
        seed=0,
        preset="smoke",
        set_overrides={"max_steps_per_epoch": "1", "epochs": "1"},
    )
    res = execute(spec, tmp_path / "run", show_progress=False)
    doc = records.read_spec(res.run_dir)
    assert res.status == "ok", doc["error"]
    assert doc["provenance"]["judge"]["kind"] == "surrogate"
    final = [r for r in records.read_archs(res.run_dir) if r["role"] == "final"]
    space = get_space("darts")
    assert space.values.is_valid(space.values.parse(final[0]["arch"]))
    assert [(r["eval_dataset"], r["split"]) for r in final] == [("cifar10", "valid")]
    assert 80.0 < float(final[0]["gt_acc"]) < 100.0 and final[0]["index"] == ""


@pytest.mark.parametrize(("name", "space"), _pairs(supported=True))
def test_smoke_run_contract(name, space, tmp_path):
    cls = _load(name)
    spec = build_run_spec(
        algorithm=name,
        space=space,
        search_dataset="cifar10",
        seed=0,
        preset="smoke",
        rank_eval={"set": "sample", "n": 20, "seed": 0},
    )
    space_obj = get_space(space)
    from harness.runner import execute

    res = execute(spec, tmp_path / name, show_progress=False)
    doc = records.read_spec(res.run_dir)
    assert res.status == "ok", f"{doc['error']['type']}: {doc['error']['message']}\n{doc['error']['traceback']}"
    archs = records.read_archs(res.run_dir)
    final = [r for r in archs if r["role"] == "final"]
    assert final and space_obj.values.is_valid(space_obj.values.parse(final[0]["arch"]))
    if space_obj.enumeration is not None:
        assert 0 <= int(final[0]["index"]) < space_obj.enumeration.num_archs
    assert all(r["gt_acc"] != "" for r in final)
    for pick in (r for r in archs if r["role"] == "stage_pick"):
        kids = {r["child"] for r in archs if r["role"] == "child" and r["stage"] == pick["stage"]}
        assert pick["child"] in kids, "a stage's pick must be one of its children"
    cost = {r["metric"]: float(r["value"]) for r in records.read_records(res.run_dir) if r["phase"] == "search_total"}
    assert cost["wall_s"] > 0
    if not cls.uses_oracle:
        assert cost["epochs"] > 0 and cost["images"] > 0, "weight-sharing searches must count their work"
    if hasattr(cls, "score") and space_obj.enumeration is not None:
        rank = records.read_rank(res.run_dir)
        n_all = {int(r["n"]) for r in rank if r["owner"] == "all" and r["arch_set"] == "all"}
        assert n_all == {20}, "score() must return one score per architecture"


def test_a_checkpoint_carries_its_own_records_position(tmp_path):
    """Issue 11: the records position and cost counters live inside the checkpoint file itself, so a kill
    between writing the checkpoint and the manifest can never pair a new state with an old position."""
    import json

    import torch

    from harness.context import make_test_context
    from harness.data import synthetic_search_data

    data = synthetic_search_data("cifar10", n_weight=4, n_held_out=4, seed=0, image_size=16)
    ctx = make_test_context(tmp_path, data)
    ctx.log(0, "x", loss=1.0)
    ctx.save_checkpoint("c", {"a": torch.ones(1)})
    ctx.log(1, "x", loss=2.0)
    ctx.close()
    saved = torch.load(tmp_path / "artifacts" / "c.pt", weights_only=True)
    manifest = json.loads((tmp_path / "artifacts" / "checkpoints.json").read_text())
    assert saved["entry"]["records_bytes"] == manifest["c"]["records_bytes"]
    (tmp_path / "artifacts" / "checkpoints.json").write_text("{}")  # as if killed before the manifest write
    from harness.context import LocalRunContext

    again = LocalRunContext(seed=0, device="cpu", run_dir=tmp_path, data=data, resume=True, show_progress=False)
    assert torch.equal(again.load_checkpoint("c")["a"], torch.ones(1))
    again.close()
    rows = (tmp_path / "records.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[-1] == "1.0"  # truncated back to the checkpoint's position


def test_packed_checkpoints_round_trip_every_kind_of_value():
    import torch

    from harness.context import pack_tensors, unpack_tensors

    alpha = torch.randn(3, 2).requires_grad_(True)
    state = {
        "w": torch.arange(6.0).view(2, 3),
        "n": torch.tensor(7),
        "mask": torch.tensor([[True, False]]),
        "gen": torch.Generator().manual_seed(1).get_state(),
        "opt": {"param_groups": [{"betas": (0.5, 0.999), "lr": 0.1}], "state": {0: {"m": torch.ones(4)}}},
        "alpha": alpha,
        "pos": {"stage": 2, "names": ["a", "b"]},
    }
    back = unpack_tensors(pack_tensors(state))
    assert torch.equal(back["w"], state["w"]) and back["n"].shape == () and back["n"].dtype == torch.int64
    assert back["mask"].dtype == torch.bool and torch.equal(back["gen"], state["gen"])
    assert back["opt"]["param_groups"][0]["betas"] == (0.5, 0.999) and torch.equal(
        back["opt"]["state"][0]["m"], torch.ones(4)
    )
    assert back["alpha"].requires_grad and torch.equal(back["alpha"].detach(), alpha.detach())
    assert back["pos"] == state["pos"]
    packed = pack_tensors(state)
    assert len(packed["flat"]) == 4  # one buffer per dtype: float32, int64, bool, uint8
