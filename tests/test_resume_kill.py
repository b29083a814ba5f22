"""Issue 11: a smoke search killed with SIGKILL at seeded random moments (5 kills in a row, each restart
resuming the previous one) ends with records, archs and rank tables identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness import records

REPO = Path(__file__).resolve().parents[1]


def _command(algorithm: str, out: Path) -> list[str]:
    argv = ["search", "--algorithm", algorithm, "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    return [sys.executable, "-m", "harness", *argv, "--out", str(out)]


def _env() -> dict[str, str]:  # one thread: the run and its resumes must use the same kernels
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _deterministic(run_dir: Path) -> list[tuple[str, ...]]:
    rows = records.read_records(run_dir)
    return [tuple(r.values()) for r in rows if r["metric"] not in records.NONDETERMINISTIC_COST_METRICS]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _attempt(run_dir: Path) -> int:
    try:
        return int(records.read_spec(run_dir)["resume"]["attempt"])
    except Exception:  # not written yet, or caught mid-replace
        return 0


@pytest.mark.parametrize("algorithm", ["fewshot", "hepnas"])
def test_sigkilled_search_resumes_to_an_identical_run(tmp_path: Path, algorithm: str) -> None:
    """Kill points: seeded record counts spread over the whole run (so kills land inside every phase, between
    and right after checkpoints); each restart resumes from the last checkpoint and is killed again later."""
    ref = subprocess.run(_command(algorithm, tmp_path / "ref"), env=_env(), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    total = _lines(tmp_path / "ref" / records.RECORDS_FILE)
    victim = tmp_path / "victim"
    targets = sorted(np.random.default_rng(11).integers(2, total - 1, size=5).tolist())
    for attempt, target in enumerate(targets, start=1):
        proc = subprocess.Popen(_command(algorithm, victim), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while proc.poll() is None and not (_attempt(victim) == attempt and _lines(victim / "records.csv") >= target):
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    from harness.commands.status import summarize

    where = summarize(victim)["resumes_from"]  # `status` says where a re-run starts
    assert summarize(victim)["status"] == "incomplete" and where.startswith(f"checkpoint '{algorithm}', after ")
    final = subprocess.run(_command(algorithm, victim), env=_env(), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert f"from {where}" in final.stderr  # the re-run says that it resumes, and from where
    doc = records.read_spec(victim)
    assert doc["status"] == "ok" and doc["resume"]["attempt"] == 6 and doc["resume"]["last_checkpoint"] == algorithm
    assert _deterministic(victim) == _deterministic(tmp_path / "ref")
    for name in (records.ARCHS_FILE, records.RANK_FILE):
        assert (victim / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
