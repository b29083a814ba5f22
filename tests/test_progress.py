"""Issue 11: progress a person can see: a tqdm bar on a terminal, one log line per item (elapsed, estimate of the
rest) otherwise, silence in unit-test contexts; `run`/`compare` print one such line per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.context import LocalRunContext, progress_line
from harness.data import synthetic_search_data


def test_progress_line_estimates_the_rest() -> None:
    assert progress_line("train", 3, 12, 6.0) == "train: 3/12 done, 6s elapsed, ~18s left"
    assert progress_line("scan", 5, None, 2.4) == "scan: 5 done, 2s elapsed"


@pytest.mark.parametrize(("show", "lines"), [(None, 3), (False, 0)])
def test_log_lines_when_stderr_is_not_a_terminal(tmp_path: Path, capsys, show, lines) -> None:  # type: ignore[no-untyped-def]
    data = synthetic_search_data("cifar10", n_weight=4, n_held_out=4, seed=0, image_size=16)
    ctx = LocalRunContext(seed=0, device="cpu", run_dir=tmp_path, data=data, show_progress=show)
    assert list(ctx.progress(range(3), desc="epochs")) == [0, 1, 2]
    ctx.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == lines and all(line.startswith("epochs: ") and "left" in line for line in err)


def test_compare_prints_one_line_per_run_with_an_estimate(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from harness.cli import main

    argv = ["compare", "--algorithms", "random_search", "--dataset", "cifar10", "--preset", "smoke"]
    assert main([*argv, "--seeds", "0,1", "--out", str(tmp_path / "c"), "--format", "md"]) == 0
    err = capsys.readouterr().err
    assert "runs: 1/2 done" in err and "runs: 2/2 done" in err and "left" in err


def test_threads_default_to_the_usable_cores_are_recorded_and_set_for_the_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: one process per core set; --threads N is part of the spec (CPU kernels round differently with
    other thread counts), defaults to the cores this process may use, and is what the run computes with."""
    import json
    import os

    import torch

    from harness.cli import main
    from harness.config import build_run_spec, default_threads

    base = dict(algorithm="random_search", space="nb201", search_dataset="cifar10", seed=0, preset="smoke")
    assert build_run_spec(**base).threads == default_threads() == max(1, len(os.sched_getaffinity(0)))
    assert default_threads(jobs=64) == 1
    assert build_run_spec(**base, threads=1).run_id != build_run_spec(**base, threads=3).run_id
    argv = ["search", "--algorithm", "random_search", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    with pytest.raises(SystemExit) as usage:  # an argparse usage error: one line, exit 2
        main([*argv, "--out", str(tmp_path / "bad"), "--threads", "0"])
    assert usage.value.code == 2
    assert "--threads" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    before = torch.get_num_threads()
    assert main([*argv, "--out", str(tmp_path / "ok"), "--threads", "3"]) == 0
    assert json.loads((tmp_path / "ok" / "spec.json").read_text())["spec"]["threads"] == 3
    assert torch.get_num_threads() == before  # restored after the run
