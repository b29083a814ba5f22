"""Issue 11: the same runs on every executor (this process, a process pool, Ray tasks on a local CPU cluster)
give byte-identical archs.csv / rank.csv; a task that fails is reported as a failed run; a re-run skips what
is complete."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.cli import main

HAS_RAY = importlib.util.find_spec("ray") is not None


def _compare(out: Path, *extra: str, algorithms: str = "spos,random_search") -> int:
    argv = ["compare", "--algorithms", algorithms, "--dataset", "cifar10", "--preset", "smoke", "--seeds", "0"]
    return main([*argv, "--out", str(out), "--threads", "1", "--format", "md", *extra])


def _tables(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for name in ("archs.csv", "rank.csv") for p in root.glob(f"*/*/{name}")
    }


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("seq") / "cmp"
    assert _compare(out) == 0
    tables = _tables(out)
    assert len(tables) == 3  # spos: archs + rank; random_search: archs
    return tables


def test_process_pool_gives_identical_tables(tmp_path: Path, sequential: dict[str, bytes], capsys) -> None:  # type: ignore[no-untyped-def]
    assert _compare(tmp_path / "cmp", "--jobs", "2") == 0
    assert _tables(tmp_path / "cmp") == sequential
    assert "runs: 2/2 done" in capsys.readouterr().err
    assert _compare(tmp_path / "cmp", "--jobs", "2") == 0  # re-run: everything complete, skipped
    assert "2 skipped" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_RAY, reason="Ray not installed (pip install -e '.[ray]')")
def test_ray_tasks_on_a_local_cluster_give_identical_tables(tmp_path: Path, sequential: dict[str, bytes]) -> None:
    assert _compare(tmp_path / "cmp", "--executor", "ray", "--jobs", "2") == 0
    assert _tables(tmp_path / "cmp") == sequential


def crash_on_spos(spec, run_dir):  # type: ignore[no-untyped-def]
    """A worker task (importable by spawned workers) that dies on the spos run and runs the others."""
    from harness.executor import _execute

    if spec.algorithm == "spos":
        raise RuntimeError("worker lost")
    return _execute(spec, run_dir)


def test_a_failing_task_is_a_failed_run_not_a_lost_one(tmp_path: Path) -> None:
    from harness.config import build_run_spec
    from harness.executor import run_parallel

    specs = [
        build_run_spec(algorithm=a, space="nb201", search_dataset="cifar10", seed=0, preset="smoke", threads=1)
        for a in ("spos", "random_search")
    ]
    spos, rs = run_parallel(specs, tmp_path, executor="local", jobs=2, task=crash_on_spos)
    assert spos.status == "failed" and "worker lost" in spos.error["message"]
    assert rs.status == "ok"


def test_input_errors_of_runs_exit_2_as_without_a_pool(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = _compare(
        tmp_path / "cmp", "--jobs", "2", "--set", "data.source=real", "--data-root", str(tmp_path / "none"),
        algorithms="random_search,fewshot",
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "cifar10 not found" in err[-1]
    assert not (tmp_path / "cmp" / "fewshot").exists()  # runs that failed their input checks leave nothing


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        kids |= {int(p) for p in task.read_text().split()}
    return kids


@pytest.mark.skipif(
    not any(Path("/proc/self/task").glob("*/children")), reason="reads process children from /proc (Linux)"
)
def test_pool_workers_stop_when_the_comparison_is_killed(tmp_path: Path) -> None:
    """A comparison killed with SIGKILL (no shutdown runs) must not leave its pool workers training on: they
    would keep writing into the output folder beside a restarted comparison."""
    import os
    import signal
    import subprocess
    import sys
    import time

    argv = ["compare", "--algorithms", "hepnas,spos", "--dataset", "cifar10", "--preset", "smoke", "--seeds", "0"]
    cmd = [sys.executable, "-m", "harness", *argv, "--out", str(tmp_path / "cmp"), "--threads", "1", "--jobs", "2"]
    parent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:
            workers = {p for p in _children(parent.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()}
            time.sleep(0.2)
        assert len(workers) == 2, "the pool workers did not start"
        time.sleep(2.0)  # the workers are past their start-up and into a run
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
            time.sleep(0.2)
        alive = [p for p in workers if Path(f"/proc/{p}/status").exists() and "zombie" not in
                 Path(f"/proc/{p}/status").read_text()]
        assert not alive, f"pool workers {alive} outlived the killed comparison"
    finally:
        if parent.poll() is None:
            parent.kill()
