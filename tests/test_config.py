"""Config: typed --set overrides, presets, experiments and grids, run-id stability."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from harness import registry
from harness.config import (
    apply_overrides,
    build_run_spec,
    compute_run_id,
    experiment_from_dict,
    parse_set_args,
    preset_names,
)
from harness.errors import InputError

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Inner:
    C: int = 16
    affine: bool = False


@dataclass(frozen=True)
class Cfg:
    lr: float = 0.1
    epochs: int = 50
    mode: Literal["first", "second"] = "first"
    betas: tuple[float, float] = (0.5, 0.999)
    edges: tuple[int, ...] = (0, 1, 2)
    name: str = "x"
    limit: int | None = None
    supernet: Inner = field(default_factory=Inner)


def test_text_overrides_are_typed():
    cfg = apply_overrides(
        Cfg(),
        parse_set_args(
            [
                "lr=0.5",
                "epochs=3",
                "mode=second",
                "betas=0.1,0.2",
                "edges=3,4",
                "name=y",
                "limit=none",
                "supernet.C=4",
                "supernet.affine=true",
            ]
        ),
        from_text=True,
    )
    assert cfg == Cfg(
        lr=0.5,
        epochs=3,
        mode="second",
        betas=(0.1, 0.2),
        edges=(3, 4),
        name="y",
        limit=None,
        supernet=Inner(C=4, affine=True),
    )
    assert apply_overrides(Cfg(), {"limit": "7"}, from_text=True).limit == 7


@pytest.mark.parametrize(
    "item",
    [
        "bogus=1",
        "supernet.bogus=1",
        "epochs=2.5",
        "mode=third",
        "betas=1,2,3",
        "supernet.affine=maybe",
        "supernet=3",
        "lr=__import__('os')",
    ],
)
def test_bad_overrides_raise_input_error(item):
    with pytest.raises(InputError):
        apply_overrides(Cfg(), parse_set_args([item]), from_text=True)


def test_toml_values_are_checked_too():
    cfg = apply_overrides(Cfg(), {"lr": 1, "edges": [1], "supernet": {"C": 8}}, from_text=False)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.edges == (1,) and cfg.supernet.C == 8
    with pytest.raises(InputError):
        apply_overrides(Cfg(), {"epochs": "3"}, from_text=False)  # a string is not an int in TOML
    with pytest.raises(InputError):
        apply_overrides(Cfg(), {"supernet.affine": 1}, from_text=False)


def test_presets_exist_and_resolve():
    assert {"smoke", "paper"} <= set(preset_names())
    spec = build_run_spec(
        algorithm="random_search", space="nb201", search_dataset="cifar10", seed=1, preset="smoke"
    )
    assert spec.device == "cpu" and spec.data.source == "synthetic" and spec.config.n_samples == 20
    with pytest.raises(InputError, match="data-root"):
        build_run_spec(
            algorithm="random_search", space="nb201", search_dataset="cifar10", seed=1, preset="paper"
        )
    with pytest.raises(InputError, match="allowed"):
        build_run_spec(algorithm="nope", space="nb201", search_dataset="cifar10", seed=1, preset="smoke")
    with pytest.raises(InputError, match="allowed"):
        build_run_spec(algorithm="random_search", space="nb201", search_dataset="c10", seed=1, preset="smoke")
    with pytest.raises(InputError, match="preset"):
        build_run_spec(algorithm="random_search", space="nb201", search_dataset="cifar10", seed=1, preset="x")


def test_run_id_covers_resolved_spec_device_and_data_root():
    base = dict(algorithm="random_search", space="nb201", search_dataset="cifar10", seed=0, preset="smoke")
    a = build_run_spec(**base, device="cpu")
    # a --device cuda request is never answered from a CPU run (issue 11); "cuda:1" is the same device type
    assert a.run_id != build_run_spec(**base, device="cuda").run_id
    assert build_run_spec(**base, device="cuda:1").run_id == build_run_spec(**base, device="cuda").run_id
    assert a.run_id == build_run_spec(**base, device="cpu", data_root="/tmp/a").run_id  # synthetic: no root
    real = dict(base, set_overrides={"data.source": "real"}, device="cpu")
    assert build_run_spec(**real, data_root="/tmp/a").run_id != build_run_spec(**real, data_root="/tmp/b").run_id
    assert build_run_spec(**real, data_root="/tmp/a/").run_id == build_run_spec(**real, data_root="/tmp/a").run_id
    assert a.run_id == build_run_spec(**base, device="cpu", set_overrides={"n_samples": "20"}).run_id  # default
    assert a.run_id != build_run_spec(**base, device="cpu", set_overrides={"n_samples": "21"}).run_id
    assert a.run_id != build_run_spec(**{**base, "seed": 1}, device="cpu").run_id
    assert a.run_id != build_run_spec(**base, device="cpu", set_overrides={"data.n_weight": "128"}).run_id
    assert a.run_id != build_run_spec(**base, device="cpu", set_overrides={"rank_eval.n": "10"}).run_id
    assert len(a.run_id) == 12 and int(a.run_id, 16) >= 0
    assert compute_run_id({"b": 1, "a": [1, 2]}, "x") == compute_run_id({"a": [1, 2], "b": 1}, "x")


def test_run_id_stable_across_processes():
    code = (
        "from harness.config import build_run_spec; print(build_run_spec(algorithm='random_search', "
        "space='nb201', search_dataset='cifar100', seed=3, preset='smoke', "
        "set_overrides={'n_samples': '7'}).run_id)"
    )
    ids = set()
    for hashseed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(REPO)},
        )
        ids.add(out.stdout.strip())
    here = build_run_spec(
        algorithm="random_search",
        space="nb201",
        search_dataset="cifar100",
        seed=3,
        preset="smoke",
        set_overrides={"n_samples": "7"},
    ).run_id
    assert ids == {here}


def test_unknown_set_key_exits_2(tmp_path, capsys):
    from harness.cli import main

    code = main(
        [
            "search",
            "--algorithm",
            "random_search",
            "--dataset",
            "cifar10",
            "--preset",
            "smoke",
            "--seed",
            "0",
            "--out",
            str(tmp_path / "x"),
            "--set",
            "no_such_key=1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no_such_key" in err and "allowed" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_experiment_grid_expansion():
    doc = {
        "experiment": {
            "name": "g",
            "space": "nb201",
            "search_dataset": "cifar10",
            "seeds": [0, 1],
            "preset": "smoke",
            "rank_eval": {"set": "none"},
        },
        "runs": [
            {"algorithm": "random_search", "grid": {"n_samples": [3, 4]}},
            {"algorithm": "random_search", "config": {"n_samples": 9}, "seeds": [5], "variant": "nine"},
        ],
    }
    exp = experiment_from_dict(doc)
    got = [(r.config.n_samples, r.seed, r.variant) for r in exp.runs]
    assert got == [
        (3, 0, "n_samples=3"),
        (3, 1, "n_samples=3"),
        (4, 0, "n_samples=4"),
        (4, 1, "n_samples=4"),
        (9, 5, "nine"),
    ]
    assert len({r.run_id for r in exp.runs}) == 5
    with pytest.raises(InputError, match="unknown key"):
        experiment_from_dict({**doc, "runs": [{"algorithm": "random_search", "config": {"nope": 1}}]})
    with pytest.raises(InputError, match="unknown"):
        experiment_from_dict({**doc, "experiment": {**doc["experiment"], "sedes": [1]}})


def test_registry_unknown_name_lists_allowed():
    with pytest.raises(InputError, match="darts"):
        registry.resolve_algorithm("dart")


# ------------------------------------------------------------------ shared config vocabulary (supernet algos)
SUPERNET_ALGOS = ("darts", "spos", "fewshot", "hepnas")


@pytest.mark.parametrize("name", SUPERNET_ALGOS)
def test_shared_nested_overrides_accepted_by_every_supernet_algorithm(name):
    """One `--set` vocabulary for all four (what `nas-harness compare --set ...` applies to each)."""
    from algorithms.common.config import SupernetConfig
    from harness.train import AdamConfig, SGDConfig

    base = dict(algorithm=name, space="nb201", search_dataset="cifar10", seed=0, preset="smoke")
    default = build_run_spec(**base).config
    sets = {
        "supernet.C": "8",
        "supernet.track_running_stats": "false",
        "weight_opt.lr": "0.05",
        "weight_opt.grad_clip": "3",
        "eval_batch_size": "128",
        "score_max_images": "64",
        "max_steps_per_epoch": "1",
    }
    if hasattr(default, "alpha_opt"):
        sets["alpha_opt.betas"] = "0.9,0.99"
    spec = build_run_spec(**base, set_overrides=sets)
    cfg = spec.config
    assert type(cfg.supernet) is SupernetConfig and type(cfg.weight_opt) is SGDConfig
    assert cfg.supernet.C == 8 and cfg.supernet.N == default.supernet.N
    assert not cfg.supernet.track_running_stats
    assert cfg.weight_opt.lr == 0.05 and cfg.weight_opt.grad_clip == 3.0
    assert cfg.weight_opt.weight_decay == default.weight_opt.weight_decay  # untouched siblings kept
    assert (cfg.eval_batch_size, cfg.score_max_images, cfg.max_steps_per_epoch) == (128, 64, 1)
    if hasattr(default, "alpha_opt"):
        assert type(cfg.alpha_opt) is AdamConfig and cfg.alpha_opt.betas == (0.9, 0.99)
        assert cfg.alpha_opt.lr == default.alpha_opt.lr
    assert spec.run_id != build_run_spec(**base).run_id
    assert build_run_spec(**base, set_overrides={"score_max_images": "none"}).config.score_max_images is None
    for bad in ("supernet.bogus", "weight_opt.bogus", "C", "lr", "score_batches", "score_batch_size"):
        with pytest.raises(InputError, match="unknown key"):
            build_run_spec(**base, set_overrides={bad: "1"})
    for bad in ({"supernet.C": "0"}, {"score_max_images": "0"}, {"max_steps_per_epoch": "-1"}):
        with pytest.raises(InputError):
            build_run_spec(**base, set_overrides=bad)


@pytest.mark.parametrize("name", SUPERNET_ALGOS)
def test_shared_field_names_and_defaults(name):
    cls = registry.resolve_algorithm(name)
    cfg = cls.Config()
    expected = {  # algorithms.md defaults (weight decay, nesterov, BN running stats, grad clip, data protocol)
        "darts": (5e-4, True, True, 5.0, "nb201_official"),
        "spos": (5e-4, True, True, 5.0, "nb201_official"),
        "fewshot": (1e-4, True, False, 0.0, "train_half"),  # the public few-shot code clips nothing
        "hepnas": (3e-4, False, True, 5.0, "train_half"),
    }[name]
    w, sn = cfg.weight_opt, cfg.supernet
    assert (w.lr, w.lr_min, w.momentum) == (0.025, 0.001, 0.9)
    assert (w.weight_decay, w.nesterov, sn.track_running_stats, w.grad_clip, cfg.data_protocol) == expected
    assert cfg.amp is False  # fp32 by default on every device
    assert (sn.C, sn.N, sn.affine) == (16, 5, False)
    assert (cfg.eval_batch_size, cfg.score_max_images, cfg.max_steps_per_epoch) == (512, None, 0)
    if name in ("darts", "hepnas"):
        a = cfg.alpha_opt
        assert (a.lr, a.betas, a.weight_decay) == (3e-4, (0.5, 0.999), 1e-3)
    else:
        assert not hasattr(cfg, "alpha_opt")


@pytest.mark.parametrize("name", SUPERNET_ALGOS)
def test_unknown_nested_set_key_exits_2_for_every_supernet_algorithm(tmp_path, capsys, name):
    from harness.cli import main

    argv = ["search", "--algorithm", name, "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    code = main([*argv, "--out", str(tmp_path / "x"), "--set", "supernet.C=8", "--set", "supernet.bogus=1"])
    err = capsys.readouterr().err
    assert code == 2 and "supernet.bogus" in err and "allowed" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
