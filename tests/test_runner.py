"""Runner: run directories, skip / lock / failure capture, oracle guard, stage summary, SIGKILL resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import records, registry
from harness.api import OracleAccessRefused
from harness.config import build_run_spec
from harness.errors import InputError
from harness.runner import execute, run_status
from harness.spaces import get_space

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
FAKE = "test_runner_fakes:FakeStaged"
LEAKY = "test_runner_fakes:Leaky"


def _spec(algorithm: str, **kw):
    kw.setdefault("rank_eval", {"set": "sample", "n": 40, "seed": 0})
    return build_run_spec(
        algorithm=algorithm,
        space="nb201",
        search_dataset="cifar10",
        seed=kw.pop("seed", 0),
        preset="smoke",
        **kw,
    )


@pytest.fixture
def fake():
    with registry.registered("fake", FAKE), registry.registered("leaky", LEAKY):
        yield


def _deterministic_records(run_dir: Path) -> list[tuple[str, ...]]:
    rows = records.read_records(run_dir)
    return [tuple(r.values()) for r in rows if r["metric"] not in records.NONDETERMINISTIC_COST_METRICS]


def test_random_search_uses_oracle_and_charges_simulated_time(tmp_path):
    res = execute(_spec("random_search", set_overrides={"n_samples": "5"}), tmp_path / "rs")
    assert res.status == "ok" and not res.skipped
    doc = records.read_spec(res.run_dir)
    assert doc["status"] == "ok" and doc["schema_version"] == records.SCHEMA_VERSION
    assert doc["spec"]["config"]["n_samples"] == 5
    judge = get_space("nb201").judge
    assert doc["provenance"]["judge"] == {
        "name": judge.name,
        "kind": "benchmark",
        "label": judge.label,
        "sha256": judge.sha256,
    }
    assert doc["provenance"]["oracle_sha256"] == judge.sha256 and len(judge.sha256) == 64
    archs = records.read_archs(res.run_dir)
    final = [r for r in archs if r["role"] == "final"]
    assert {(r["eval_dataset"], r["split"]) for r in final} == {
        (d, s) for d in ("cifar10", "cifar100", "imagenet16-120") for s in ("valid", "test")
    }
    assert all(r["gt_acc"] != "" and int(r["n_seeds"]) >= 1 for r in final)
    cands = [
        r
        for r in archs
        if r["role"] == "candidate" and r["eval_dataset"] == "cifar10" and r["split"] == "valid"
    ]
    assert len(cands) == 5
    best = max(cands, key=lambda r: float(r["gt_acc"]))
    assert best["arch"] == final[0]["arch"]  # picked by valid accuracy
    sim = {
        r["metric"]: float(r["value"])
        for r in records.read_records(res.run_dir)
        if r["phase"] == "simulated_train"
    }
    assert sim["device_s"] > 0 and sim["epochs"] == 5 * 200
    # no rank eval for an oracle-driven algorithm
    assert not (res.run_dir / records.RANK_FILE).exists()


def test_completed_run_is_skipped_and_other_spec_refused(tmp_path):
    spec = _spec("random_search", set_overrides={"n_samples": "3"})
    first = execute(spec, tmp_path / "r")
    before = (tmp_path / "r" / "spec.json").read_text()
    again = execute(spec, tmp_path / "r")
    assert again.skipped and again.run_id == first.run_id
    assert (tmp_path / "r" / "spec.json").read_text() == before
    with pytest.raises(InputError, match="already holds run"):
        execute(_spec("random_search", set_overrides={"n_samples": "4"}), tmp_path / "r")


def test_leaking_algorithm_is_refused(tmp_path, fake):
    res = execute(_spec("leaky"), tmp_path / "leak")
    assert res.status == "failed"
    doc = records.read_spec(res.run_dir)
    assert doc["status"] == "failed"
    assert doc["error"]["type"] == OracleAccessRefused.__name__
    assert "uses_oracle" in doc["error"]["message"] and doc["error"]["traceback"]
    assert run_status(res.run_dir) == "failed"


def test_failure_is_recorded_not_lost(tmp_path, fake, monkeypatch):
    from test_runner_fakes import FakeStaged

    def boom(self, space, ctx):
        raise RuntimeError("deliberate failure")

    monkeypatch.setattr(FakeStaged, "search", boom)
    res = execute(_spec("fake"), tmp_path / "f")
    doc = records.read_spec(res.run_dir)
    assert res.status == doc["status"] == "failed"
    assert doc["error"]["message"] == "deliberate failure" and "RuntimeError" in doc["error"]["traceback"]
    assert doc["finished_at"] and not (res.run_dir / records.LOCK_FILE).exists()


def test_live_lock_refused_stale_lock_taken_over(tmp_path, fake):
    import socket

    run_dir = tmp_path / "locked"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(f"pid={os.getpid()} host={socket.gethostname()}\n")
    with pytest.raises(InputError, match="locked"):
        execute(_spec("fake"), run_dir)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / ".lock").write_text(f"pid={dead.pid} host={socket.gethostname()}\n")
    assert execute(_spec("fake"), run_dir).status == "ok"
    assert not (run_dir / ".lock").exists()


def test_scorer_gets_rank_eval_and_status_derives_stages(tmp_path, fake, capsys):
    res = execute(_spec("fake"), tmp_path / "fk")
    assert res.status == "ok"
    rank = records.read_rank(res.run_dir)
    owners = {r["owner"] for r in rank}
    assert owners == {"all", "stage2/child0", "stage2/child1"}
    assert {(r["eval_dataset"], r["split"]) for r in rank} == {("cifar10", "test"), ("cifar10", "valid")}
    taus = [
        r for r in rank if r["owner"] == "all" and r["metric"] == "kendall_tau" and r["arch_set"] == "all"
    ]
    assert len(taus) == 2 and all(int(r["n"]) == 40 for r in taus)
    doc = records.read_spec(res.run_dir)
    assert len(doc["provenance"]["rank_eval_sha256"]) == 64
    re_rows = [r for r in records.read_archs(res.run_dir) if r["role"] == "rank_eval"]
    assert len(re_rows) == 40 * 2

    from harness.cli import main

    assert main(["status", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1
    s = out[0]
    assert set(s) >= {
        "run_id",
        "algorithm",
        "seed",
        "status",
        "final_arch",
        "final_ground_truth",
        "cost",
        "stages",
    }
    assert s["status"] == "ok" and s["algorithm"] == "fake"
    assert [(st["children"], st["pick"], st["remaining_space"]) for st in s["stages"]] == [
        (2, 1, 99),
        (2, 1, 49),
    ]
    assert s["cost"]["epochs"] == 6 and s["cost"]["wall_s"] > 0
    assert s["final_ground_truth"]["cifar10"]["test"] is not None


def test_same_spec_twice_gives_identical_records(tmp_path, fake):
    a = execute(_spec("fake"), tmp_path / "a")
    b = execute(_spec("fake"), tmp_path / "b")
    assert a.run_id == b.run_id
    assert _deterministic_records(a.run_dir) == _deterministic_records(b.run_dir)
    for name in (records.ARCHS_FILE, records.RANK_FILE):
        assert (a.run_dir / name).read_bytes() == (b.run_dir / name).read_bytes()


_KILL_SCRIPT = """
import sys
from pathlib import Path
from harness import registry
from harness.config import build_run_spec
from harness.runner import execute
registry.ALGORITHMS["fake"] = "test_runner_fakes:FakeStaged"
spec = build_run_spec(algorithm="fake", space="nb201", search_dataset="cifar10", seed=0, preset="smoke",
                      set_overrides={"steps": "8"}, rank_eval={"set": "sample", "n": 40, "seed": 0})
print(execute(spec, Path(sys.argv[1])).status)
"""


def _spawn(run_dir: Path, sleep_s: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(REPO)]), "FAKE_SLEEP_S": sleep_s}
    return subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(run_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkilled_run_shows_incomplete_and_resumes_to_identical_records(tmp_path):
    ref = _spawn(tmp_path / "ref", "0")
    out, err = ref.communicate(timeout=120)
    assert ref.returncode == 0 and out.strip() == "ok", err

    victim_dir = tmp_path / "victim"
    victim = _spawn(victim_dir, "0.4")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # wait until a few steps are logged, then kill -9 mid-run
        rec = victim_dir / records.RECORDS_FILE
        if rec.exists() and rec.read_text().count("train_loss") >= 3:
            break
        time.sleep(0.05)
    else:
        victim.kill()
        pytest.fail("the victim run never got going")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert records.read_spec(victim_dir)["status"] == "running"
    assert (victim_dir / records.LOCK_FILE).exists()  # stale lock left behind
    assert run_status(victim_dir) == "incomplete"
    env_status = subprocess.run(
        [sys.executable, "-m", "harness", "status", str(victim_dir), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert json.loads(env_status.stdout)[0]["status"] == "incomplete"

    again = _spawn(victim_dir, "0")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and out.strip() == "ok", err
    doc = records.read_spec(victim_dir)
    assert (
        doc["status"] == "ok" and doc["resume"]["attempt"] == 2 and doc["resume"]["last_checkpoint"] == "fake"
    )
    assert _deterministic_records(victim_dir) == _deterministic_records(tmp_path / "ref")
    for name in (records.ARCHS_FILE, records.RANK_FILE):
        assert (victim_dir / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


def test_run_command_expands_experiment_and_skips_completed(tmp_path, capsys):
    from harness.cli import main

    exp = tmp_path / "exp.toml"
    exp.write_text(
        '[experiment]\nname = "t"\nsearch_dataset = "cifar10"\nseeds = [0, 1]\npreset = "smoke"\n'
        '[[runs]]\nalgorithm = "random_search"\nconfig = { n_samples = 3 }\n'
    )
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 0
    dirs = sorted((tmp_path / "out" / "random_search").iterdir())
    assert len(dirs) == 2 and all(run_status(d) == "ok" for d in dirs)
    assert {d.name for d in dirs} == {records.read_spec(d)["run_id"] for d in dirs}
    capsys.readouterr()
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 0
    assert "2 skipped" in capsys.readouterr().err
    exp.write_text('[experiment]\nname = "t"\n[[runs]]\nalgorithm = "nope"\n')
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 2


def test_packaged_experiment_files_parse(tmp_path):
    """Every packaged experiment expands; train-finals.toml against a folder holding one completed DARTS search."""
    from harness.config import PRESETS_DIR, load_experiment, preset_names

    out = tmp_path / "cmp" / "darts" / "abc"
    out.mkdir(parents=True)
    (out / records.SPEC_FILE).write_text(
        json.dumps(
            {
                "schema_version": records.SCHEMA_VERSION,
                "run_id": "abc",
                "status": "ok",
                "spec": {"algorithm": "darts", "space": "darts"},
                "outcome": {"final_arch": "DARTS_V2"},
            }
        )
    )
    for path in sorted(PRESETS_DIR.glob("*.toml")):
        if path.stem in preset_names():
            continue
        exp = load_experiment(path, out_dir=tmp_path / "cmp", data_root="/nonexistent")
        assert exp.runs
