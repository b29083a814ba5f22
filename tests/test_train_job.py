"""`nas-harness train`: training one architecture from scratch into a run directory (both spaces), its recipe
sources, resume after SIGKILL, and the "trained from scratch" column of the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import records
from harness.cli import main
from harness.config import build_run_spec
from harness.context import CHECKPOINT_MANIFEST

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(tmp_path: Path, *argv: str) -> tuple[int, Path]:
    out = tmp_path / "run"
    return main(["train", *argv, "--preset", "smoke", "--seed", "0", "--out", str(out)]), out


@pytest.mark.parametrize(
    ("space", "arch"),
    [("darts", "DARTS_V2"), ("nb201", "9930")],
)
def test_train_smoke_writes_a_run_directory(space, arch, tmp_path, capsys):
    code, out = _train(tmp_path, arch, "--space", space, "--dataset", "cifar10")
    assert code == 0, capsys.readouterr().err
    doc = records.read_spec(out)
    assert doc["status"] == "ok" and doc["spec"]["algorithm"] == "train"
    assert doc["spec"]["data"]["source"] == "synthetic"
    extras = doc["outcome"]["extras"]
    assert 0.0 <= extras["trained_test_acc_pct"] <= 100.0 and extras["epochs"] == 2
    rows = records.read_records(out)
    per_epoch = [r for r in rows if r["phase"] == "train" and r["metric"] == "test_acc_pct"]
    assert [r["epoch"] for r in per_epoch] == ["0", "1"]
    assert float(per_epoch[-1]["value"]) == extras["trained_test_acc_pct"]
    assert (out / "artifacts" / "train.pt").exists()
    final = [r for r in records.read_archs(out) if r["role"] == "final"]
    assert final and all(r["gt_acc"] != "" for r in final)  # the judge's value beside the measured one
    capsys.readouterr()
    assert main(["train", arch, "--space", space, "--dataset", "cifar10", "--preset", "smoke", "--seed", "0",
                 "--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().err


def test_train_arch_spelling_does_not_change_the_run_id():
    from harness.spaces import get_space

    text = get_space("darts").values.parse("DARTS_V2").to_str()
    ids = {
        build_run_spec(algorithm="train", space="darts", search_dataset="cifar10", seed=0, preset="smoke",
                       config={"arch": a}, data={"split": "train_test"}).run_id
        for a in (text,)
    }
    assert len(ids) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["NOPE", "--space", "darts", "--dataset", "cifar10"],
        ["DARTS_V2", "--space", "darts", "--dataset", "imagenet16-120"],
        ["DARTS_V2", "--space", "darts", "--dataset", "cifar10", "--set", "epochs=0"],
        ["DARTS_V2", "--space", "darts", "--dataset", "cifar10", "--set", "arch=x"],
        ["99999", "--space", "nb201", "--dataset", "cifar10"],
    ],
)
def test_train_bad_input_exits_2_with_one_line_and_no_folder(argv, tmp_path, capsys):
    code, out = _train(tmp_path, *argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "error" in err
    assert not out.exists()


def test_paper_recipe_of_nb201_is_the_packaged_200e_config():
    """The preset's NB201 training section carries NB201's 200E.config (AutoDL-Projects) value for value."""
    from importlib import resources

    cfg = json.loads(resources.files("harness.data").joinpath("splits", "200E.config").read_text())
    value = {k: v[1] for k, v in cfg.items()}
    spec = build_run_spec(algorithm="train", space="nb201", search_dataset="cifar10", seed=0, preset="paper",
                          config={"arch": "0"}, data={"split": "train_test"}, data_root="/nonexistent")
    c = spec.config
    assert (value["scheduler"], value["optim"], value["criterion"]) == ("cos", "SGD", "Softmax")
    assert c.epochs == int(value["epochs"]) and c.batch_size == int(value["batch_size"])
    assert c.weight_opt.lr == float(value["LR"]) and c.weight_opt.lr_min == float(value["eta_min"])
    assert c.weight_opt.weight_decay == float(value["decay"]) and c.weight_opt.momentum == float(value["momentum"])
    assert c.weight_opt.nesterov is bool(int(value["nesterov"])) and int(value["warmup"]) == 0
    assert c.label_smoothing == 0.0 and c.cutout == 0 and c.drop_path == 0.0 and c.auxiliary_weight == 0.0
    assert (c.network.C, c.network.N) == (16, 5)


def test_darts_paper_recipe_is_the_published_evaluation_protocol():
    spec = build_run_spec(algorithm="train", space="darts", search_dataset="cifar10", seed=0, preset="paper",
                          config={"arch": "DARTS_V2"}, data={"split": "train_test"}, data_root="/nonexistent")
    c = spec.config
    assert (c.epochs, c.batch_size, c.cutout, c.auxiliary_weight, c.drop_path) == (600, 96, 16, 0.4, 0.2)
    w = c.weight_opt
    assert (w.lr, w.lr_min, w.momentum, w.weight_decay, w.nesterov, w.grad_clip) == (0.025, 0.0, 0.9, 3e-4, False, 5.0)
    assert (c.network.C, c.network.N, c.network.auxiliary) == (36, 6, True)  # 20 layers = 3 * 6 + 2


_TRAIN_ARGS = ["HEP", "--space", "darts", "--dataset", "cifar10", "--preset", "smoke", "--seed", "1",
               "--set", "epochs=4", "--set", "max_steps_per_epoch=6"]


def _spawn(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "harness", "train", *_TRAIN_ARGS, "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _deterministic(run: Path) -> list[dict[str, str]]:
    return [r for r in records.read_records(run) if r["metric"] not in ("wall_s", "device_s", "peak_mem_mb")]


def test_sigkilled_train_resumes_to_identical_records(tmp_path):
    ref = _spawn(tmp_path / "ref")
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    victim = tmp_path / "victim"
    proc = _spawn(victim)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        manifest = victim / "artifacts" / CHECKPOINT_MANIFEST
        if manifest.exists() and "train" in manifest.read_text():  # the first epoch's checkpoint is complete
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if records.read_spec(victim)["status"] == "ok":
        pytest.skip("the run finished before it could be killed")
    again = _spawn(victim)
    assert again.wait(timeout=300) == 0, again.stderr.read()
    doc = records.read_spec(victim)
    assert doc["status"] == "ok" and doc["resume"]["attempt"] == 2 and doc["resume"]["last_checkpoint"] == "train"
    assert doc["outcome"]["extras"]["resumed_from_epoch"] >= 1
    assert _deterministic(victim) == _deterministic(tmp_path / "ref")
    assert (victim / records.ARCHS_FILE).read_bytes() == (tmp_path / "ref" / records.ARCHS_FILE).read_bytes()


def test_train_finals_experiment_expands_to_one_train_run_per_final(tmp_path, capsys):
    """`finals_from = "out"` trains every distinct final architecture of the completed searches in --out."""
    from harness.config import load_experiment

    out = tmp_path / "cmp"
    for seed in (0, 1):
        spec = build_run_spec(algorithm="random_search", space="nb201", search_dataset="cifar10", seed=seed,
                              preset="smoke")
        from harness.runner import execute, run_dir_for

        assert execute(spec, run_dir_for(spec, out), show_progress=False).status == "ok"
    finals = {records.read_spec(d)["outcome"]["final_arch"] for d in records.find_run_dirs(out)}
    exp = tmp_path / "tf.toml"
    exp.write_text('[experiment]\nspace = "nb201"\npreset = "smoke"\nseeds = [0]\n'
                   '[[runs]]\nalgorithm = "train"\nfinals_from = "out"\n')
    specs = load_experiment(exp, out_dir=out).runs
    assert sorted(s.config.arch for s in specs) == sorted(finals)
    assert all(s.algorithm == "train" and s.data.split == "train_test" for s in specs)
    exp.write_text(
        '[experiment]\nspace = "darts"\npreset = "smoke"\n[[runs]]\nalgorithm = "train"\nfinals_from = "out"\n'
    )
    assert main(["run", str(exp), "--out", str(out), "--dry-run"]) == 2
    assert "no completed darts search runs" in capsys.readouterr().err
    exp.write_text('[experiment]\n[[runs]]\nalgorithm = "darts"\nfinals_from = "out"\n')
    assert main(["run", str(exp), "--out", str(out), "--dry-run"]) == 2
    assert "finals_from needs algorithm" in capsys.readouterr().err
