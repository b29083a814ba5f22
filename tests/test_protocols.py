"""Issue 10: each method's own data protocol, targets that follow the search data set, one stated scoring
protocol, fp32 by default, the published values of the resolved `paper` configs (DARTS, few-shot NAS; SPOS and
HEP-NAS have theirs in their own test modules), and `--dry-run --json`."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.config import build_run_spec, load_preset, resolve_config
from harness.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]
JPEG_COPY = REPO.parent / "shared" / "data" / "cifar10-jpeg"


def _spec(algorithm: str, **kw):  # type: ignore[no-untyped-def]
    base = dict(algorithm=algorithm, space="nb201", search_dataset="cifar10", seed=0, preset="smoke", device="cpu")
    return build_run_spec(**{**base, **kw})


# ------------------------------------------------------------------------------------------- data protocol
@pytest.mark.parametrize(
    ("algorithm", "split"),
    [("darts", "nb201_official"), ("spos", "nb201_official"), ("hepnas", "train_half"), ("fewshot", "train_half")],
)
def test_each_method_declares_its_split(algorithm: str, split: str) -> None:
    spec = _spec(algorithm, set_overrides={"data.source": "real"}, data_root="/tmp/x")
    assert spec.data.split == split
    # the smoke preset's 256 + 256 images cut real data too: a class-balanced subset, named in the identity
    assert spec.spec_dict()["data"]["identity"] == f"real:cifar10:{split}:n=256+256:seed=0"


def test_explicit_split_sets_the_protocol_or_is_refused() -> None:
    real = {"data.source": "real"}
    darts = _spec("darts", set_overrides={**real, "data.split": "train_half"}, data_root="/tmp/x")
    assert darts.config.data_protocol == "train_half" and darts.data.split == "train_half"
    public = _spec("fewshot", set_overrides={**real, "data_protocol": "public"}, data_root="/tmp/x")
    assert public.data.split == "train_test"  # weights on the training set, candidates on the test set
    via_split = _spec("fewshot", set_overrides={**real, "data.split": "train_test"}, data_root="/tmp/x")
    assert via_split.config.data_protocol == "public"
    with pytest.raises(InputError, match="not a data protocol of darts"):
        _spec("darts", set_overrides={**real, "data.split": "train_test"}, data_root="/tmp/x")
    with pytest.raises(InputError, match="data_protocol"):
        _spec("fewshot", set_overrides={"data_protocol": "nb201_official"})


def test_paper_preset_forces_no_split_on_every_method() -> None:
    doc = load_preset("paper")
    assert "split" not in doc["data"] and "targets" not in doc["rank_eval"]
    splits = {
        a: _spec(a, preset="paper", data_root="/tmp/x").data.split for a in ("darts", "spos", "hepnas", "fewshot")
    }
    assert splits == {
        "darts": "nb201_official",
        "spos": "nb201_official",
        "hepnas": "train_half",
        "fewshot": "train_half",
    }
    darts_space = {a: _spec(a, preset="paper", space="darts", data_root="/tmp/x").data.split for a in ("darts", "spos")}
    assert darts_space == {"darts": "train_half", "spos": "train_half"}  # quark0/darts train_portion 0.5


def _write_batches(folder: Path, n: int, value: int) -> None:
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        fill = 255 - value if name == "test_batch" else value
        with open(folder / name, "wb") as fh:
            pickle.dump({b"labels": [i % 10 for i in range(n)], b"data": np.full((n, 3072), fill, np.uint8)}, fh)


def test_official_split_refuses_files_that_are_not_the_original_archive(tmp_path: Path) -> None:
    from harness.data import load_search_data

    _write_batches(tmp_path / "cifar-10-batches-py", 8, 3)
    with pytest.raises(InputError, match="needs the original cifar10 files.*data_protocol=train_half"):
        load_search_data("cifar10", root=tmp_path, split="nb201_official", download=False)
    assert len(load_search_data("cifar10", root=tmp_path, split="train_half", download=False).weight) == 20


@pytest.fixture(scope="session")
def jpeg_cifar10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared real CIFAR-10 JPEG copy in the standard batch format (to_batches.py, ~20 s)."""
    if not (JPEG_COPY / "to_batches.py").is_file():
        pytest.skip(f"shared CIFAR-10 JPEG copy not found at {JPEG_COPY}")
    root = tmp_path_factory.mktemp("cifar10-jpeg")
    subprocess.run([sys.executable, str(JPEG_COPY / "to_batches.py"), str(root)], check=True, capture_output=True)
    return root


def test_official_split_on_the_jpeg_copy_exits_2_before_any_run_folder(jpeg_cifar10: Path, tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    from harness.cli import main

    out = tmp_path / "runs"
    argv = ["search", "--algorithm", "darts", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    code = main([*argv, "--out", str(out), "--set", "data.source=real", "--data-root", str(jpeg_cifar10)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "needs the original cifar10 files" in err[0]
    assert not out.exists()  # a run that fails an input check leaves no folder behind


def test_fewshot_public_protocol_scores_on_the_test_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights on the whole training set, candidates scored on the test images (how the released score files
    were made): the scored images are exactly the test set."""
    import algorithms.fewshot.search as fs
    from algorithms.common.config import SupernetConfig
    from algorithms.fewshot import Config, FewShot
    from harness.context import make_test_context
    from harness.data import load_search_data
    from harness.spaces import get_space

    _write_batches(tmp_path / "data" / "cifar-10-batches-py", 8, 40)  # train pixels 40, test pixels 215
    data = load_search_data("cifar10", root=tmp_path / "data", split="train_test", download=False)
    assert len(data.weight) == 40 and len(data.held_out) == 8
    seen: list[torch.Tensor] = []
    real_score = fs.score_single_path

    def spy(one_shot, net, archs, batches, **kw):  # type: ignore[no-untyped-def]
        seen.extend(x for x, _ in batches)
        return real_score(one_shot, net, archs, batches, **kw)

    monkeypatch.setattr(fs, "score_single_path", spy)
    cfg = Config(
        supernet=SupernetConfig(C=2, N=1, track_running_stats=False),
        oneshot_epochs=1,
        child_epochs=0,
        batch_size=8,
        eval_batch_size=8,
        max_steps_per_epoch=1,
        candidates_per_child=2,
        data_protocol="public",
    )
    FewShot(cfg).search(get_space("nb201"), make_test_context(tmp_path / "run", data))
    assert seen and all(torch.equal(x, data.held_out.images) for x in seen)
    test_pixel = data.held_out.images[0, 0, 0, 0]
    assert all(float(x[0, 0, 0, 0]) == float(test_pixel) for x in seen)
    assert float(data.weight.images[0, 0, 0, 0]) != float(test_pixel)


# ------------------------------------------------------------------------------------------------ targets
def test_rank_targets_follow_the_search_dataset() -> None:
    assert _spec("spos", search_dataset="cifar100").rank_eval.targets == ("cifar100:test", "cifar100:valid")
    assert _spec("spos").rank_eval.targets == ("cifar10:test", "cifar10:valid")
    paper = _spec("hepnas", preset="paper", search_dataset="cifar100", data_root="/tmp/x")
    assert paper.rank_eval.targets[0] == "cifar100:test"
    explicit = _spec("spos", search_dataset="cifar100", rank_eval={"targets": ["cifar10:valid"]})
    assert explicit.rank_eval.targets == ("cifar10:valid",)


# ------------------------------------------------------------------------------------- scoring protocol
def test_rank_scoring_protocol_is_recorded_and_validated() -> None:
    spec = _spec("darts")
    assert spec.spec_dict()["rank_eval"]["bn"] == "recalibrate"
    assert spec.rank_eval.scoring().calib_images == 256  # smoke: the whole synthetic weight half
    assert _spec("darts", set_overrides={"rank_eval.bn": "native"}).run_id != spec.run_id
    for bad in (
        {"rank_eval.bn": "eval"},
        {"rank_eval.calib_images": "0"},
        {"rank_eval.n": "0"},
        {"rank_eval.n": "15626"},
    ):
        with pytest.raises(InputError, match="rank_eval"):
            _spec("darts", set_overrides=bad)


# ------------------------------------------------------------------------------------ published configs
def test_darts_paper_config_is_the_published_autodl_schedule() -> None:
    cfg = resolve_config("darts", load_preset("paper"), space="nb201")
    w, a, sn = cfg.weight_opt, cfg.alpha_opt, cfg.supernet
    assert (cfg.epochs, cfg.batch_size, cfg.order) == (50, 64, 1)
    assert (w.lr, w.lr_min, w.momentum, w.nesterov, w.weight_decay, w.grad_clip) == (0.025, 0.001, 0.9, True, 5e-4, 5.0)
    assert (a.lr, a.betas, a.weight_decay) == (3e-4, (0.5, 0.999), 1e-3)
    assert (sn.C, sn.N, sn.affine) == (16, 5, False)
    assert (cfg.data_protocol, cfg.amp, cfg.score_bn_mode) == ("nb201_official", False, "eval")
    space = resolve_config("darts", load_preset("paper"), space="darts")
    sw = space.weight_opt
    assert (space.epochs, space.batch_size, space.supernet.N, space.data_protocol) == (50, 64, 2, "train_half")
    assert (sw.nesterov, sw.weight_decay, sw.grad_clip) == (False, 3e-4, 5.0)


def test_fewshot_paper_config_is_the_published_schedule() -> None:
    cfg = resolve_config("fewshot", load_preset("paper"), space="nb201")
    w, sn = cfg.weight_opt, cfg.supernet
    assert (cfg.oneshot_epochs, cfg.child_epochs, cfg.batch_size, cfg.split_edge) == (600, 300, 48, 0)
    assert (w.lr, w.lr_min, w.momentum, w.nesterov, w.weight_decay) == (0.025, 0.001, 0.9, True, 1e-4)
    assert w.grad_clip == 0.0  # the public code clips nothing
    assert (sn.C, sn.N, sn.affine, sn.track_running_stats) == (16, 5, False, False)
    assert (cfg.sample_per, cfg.reject_disconnected, cfg.score_bn_mode) == ("cell", False, "eval")
    assert (cfg.data_protocol, cfg.amp) == ("train_half", False)


# ---------------------------------------------------------------------------------------------- dry run
def test_dry_run_json_prints_every_resolved_spec_and_writes_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from harness.cli import main

    out = tmp_path / "cmp"
    argv = ["compare", "--algorithms", "darts,hepnas", "--dataset", "cifar100", "--preset", "paper", "--seeds", "0,1"]
    argv += ["--out", str(out), "--data-root", str(tmp_path), "--dry-run", "--json", "--no-projection"]
    code = main(argv)
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and not out.exists() and len(plan) == 4
    darts, hep = plan[0], plan[2]
    assert darts["data"]["protocol"] == "nb201_official" and hep["data"]["protocol"] == "train_half"
    assert darts["precision"] == "fp32" and darts["device"] == "cuda"
    assert hep["rank_eval"]["bn"] == "recalibrate" and hep["rank_eval"]["targets"][0] == "cifar100:test"
    assert hep["judge"]["kind"] == "benchmark" and hep["config"]["lr_schedule"] == "public_code"
    assert darts["differs_from_defaults"] == {}  # the paper preset IS the Config defaults
    amp = main([*argv, "--set", "amp=true"])
    assert amp == 0 and json.loads(capsys.readouterr().out)[0]["precision"].startswith("bf16")


# -------------------------------------------------------------------------------- validation first
@pytest.mark.parametrize(
    "bad",
    [
        "weight_opt.lr=-1",
        "weight_opt.lr=nan",
        "weight_opt.lr=inf",
        "alpha_opt.betas=0.5,1.5",
        "data.n_weight=0",
        "rank_eval.n=0",
        "rank_eval.n=20000",
    ],
)
def test_bad_values_exit_2_before_a_run_folder_exists(tmp_path: Path, capsys, bad: str) -> None:  # type: ignore[no-untyped-def]
    from harness.cli import main

    out = tmp_path / "run"
    argv = ["search", "--algorithm", "darts", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    code = main([*argv, "--out", str(out), "--set", bad])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and bad.split("=")[0].split(".")[-1] in err[0]
    assert not out.exists()


def test_a_folder_holding_only_a_failed_input_check_does_not_block(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from harness.cli import main
    from harness.records import atomic_write_json

    out = tmp_path / "run"
    out.mkdir()
    atomic_write_json(  # what an earlier version left after refusing a run's input
        out / "spec.json",
        {
            "schema_version": 1,
            "run_id": "000000000000",
            "status": "failed",
            "error": {"type": "InputError", "message": "x"},
            "spec": {},
        },
    )
    (out / "artifacts").mkdir()
    argv = ["search", "--algorithm", "random_search", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "spec.json").read_text())["status"] == "ok"
