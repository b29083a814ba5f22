"""Interface contract for every registered algorithm: smoke preset, synthetic data, via the real runner.

An algorithm whose package is not importable yet is skipped with the reason (all must exist at release).
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from harness import records, registry
from harness.config import build_run_spec
from harness.spaces.nb201 import NUM_ARCHS, NB201Arch

NAMES = sorted(registry.ALGORITHMS)


def _load(name: str) -> type:
    importlib.import_module(registry.ALGORITHMS[name].partition(":")[0])  # an import error fails the test
    return registry.resolve_algorithm(name)


@pytest.mark.parametrize("name", NAMES)
def test_class_contract(name):
    cls = _load(name)
    assert cls.name == name
    assert isinstance(cls.uses_oracle, bool)
    assert dataclasses.is_dataclass(cls.Config)
    cfg = cls.Config()  # defaults live in the Config (paper settings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, dataclasses.fields(cfg)[0].name, None)
    hash(cfg)  # frozen + hashable values (tuples, not lists)


@pytest.mark.parametrize("name", NAMES)
def test_smoke_run_contract(name, tmp_path):
    cls = _load(name)
    spec = build_run_spec(
        algorithm=name,
        space="nb201",
        search_dataset="cifar10",
        seed=0,
        preset="smoke",
        rank_eval={"set": "sample", "n": 20, "seed": 0},
    )
    from harness.runner import execute

    res = execute(spec, tmp_path / name, show_progress=False)
    doc = records.read_spec(res.run_dir)
    assert res.status == "ok", (
        f"{doc['error']['type']}: {doc['error']['message']}\n{doc['error']['traceback']}"
    )
    archs = records.read_archs(res.run_dir)
    final = [r for r in archs if r["role"] == "final"]
    assert final and 0 <= int(final[0]["index"]) < NUM_ARCHS
    NB201Arch.from_str(final[0]["arch"])
    assert all(r["gt_acc"] != "" for r in final)
    for pick in (r for r in archs if r["role"] == "stage_pick"):
        kids = {r["child"] for r in archs if r["role"] == "child" and r["stage"] == pick["stage"]}
        assert pick["child"] in kids, "a stage's pick must be one of its children"
    cost = {
        r["metric"]: float(r["value"])
        for r in records.read_records(res.run_dir)
        if r["phase"] == "search_total"
    }
    assert cost["wall_s"] > 0
    if not cls.uses_oracle:
        assert cost["epochs"] > 0 and cost["images"] > 0, "weight-sharing searches must count their work"
    if hasattr(cls, "score"):
        rank = records.read_rank(res.run_dir)
        n_all = {int(r["n"]) for r in rank if r["owner"] == "all" and r["arch_set"] == "all"}
        assert n_all == {20}, "score() must return one score per architecture"
