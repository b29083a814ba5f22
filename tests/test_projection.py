"""Projected search cost (`compare --dry-run`): each method's paper protocol counted in supernet steps, and the
dry run printing measured step times with the projection they give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import registry
from harness.cli import main
from harness.config import build_run_spec
from harness.projection import protocol_sizes
from harness.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _plan(algorithm: str) -> dict[tuple[str, str], int]:
    spec = build_run_spec(
        algorithm=algorithm, space="nb201", search_dataset="cifar10", seed=0, preset="paper", data_root="/tmp"
    )
    sizes = protocol_sizes("cifar10", spec.data.split or "train_half", None, None)
    items = registry.resolve_algorithm(algorithm).work_plan(spec.config, get_space("nb201"), *sizes)
    out: dict[tuple[str, str], int] = {}
    for item in items:
        out[(item.phase, item.kind)] = out.get((item.phase, item.kind), 0) + item.count
    return out


def test_paper_protocols_in_steps() -> None:
    # 25,000 weight images: 391 batches of 64, 521 of 48, 196 of 128
    assert _plan("darts") == {("supernet", "train"): 2 * 50 * 391}
    assert _plan("spos") == {("supernet", "train"): 250 * 391, ("selection", "forward"): 100}
    assert _plan("fewshot") == {
        ("one-shot", "train"): 600 * 521,
        ("children", "train"): 5 * 300 * 521,
        ("search", "forward"): 5 * 100 * 49,  # 100 candidates per child on 25,000 images in batches of 512
    }
    hep = _plan("hepnas")
    assert hep[("supernet", "train")] == 2 * 30 * 196
    assert hep[("SMD", "train")] == 2 * (2 + 4 + 8) * 10 * 196
    assert hep[("SMD", "forward")] == (2 + 4 + 8) * 10 * 196 + (2 * 1 + 4 * 3 + 8 * 7) * 10 * 196
    assert hep[("selection", "forward")] == (2 + 4 + 8) * 196


def test_protocol_sizes() -> None:
    assert protocol_sizes("cifar10", "nb201_official", None, None) == (25_000, 25_000)
    assert protocol_sizes("cifar100", "nb201_official", None, None) == (50_000, 5_000)
    assert protocol_sizes("cifar10", "train_test", None, None) == (50_000, 10_000)
    assert protocol_sizes("cifar10", "train_half", 2000, 1000) == (2000, 1000)


def test_dry_run_prints_projection_from_measured_steps(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["compare", "--algorithms", "spos,darts", "--dataset", "cifar10", "--preset", "smoke", "--seeds", "0"]
    out = tmp_path / "cmp"
    assert main([*argv, "--out", str(out), "--threads", "1", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "Projected search cost" in text and "CPU-hours" in text and "GPU-hours" in text
    assert "CPU: train step, batch 64, 1 op(s)/edge, C=4 N=1, fp32:" in text and " ms" in text
    assert main([*argv, "--out", str(out), "--threads", "1", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    proj = plan[0]["projection"]
    assert proj["cpu_hours"] > 0 and all(item["step_s"]["CPU"] > 0 for item in proj["items"])
    assert not out.exists()
