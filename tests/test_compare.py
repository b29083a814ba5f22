"""`nas-harness compare`: grid through the runner, skip completed runs, transfer evaluation on all three sets,
report in OUT/report; the smoke comparison of the four algorithms against the committed baseline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
SMOKE_BASELINE = REPO / "reports" / "baselines" / "smoke-cpu.json"
DEMO_ALGORITHMS = "darts,spos,fewshot,hepnas"


def test_compare_runs_grid_evaluates_all_datasets_and_skips_completed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cmp"
    argv = [
        "compare",
        "--algorithms",
        "random_search",
        "--space",
        "nb201",
        "--dataset",
        "cifar10",
        "--preset",
        "smoke",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--format",
        "md",
    ]
    assert main(argv) == 0
    assert f"report: {out / 'report' / 'index.md'}" in capsys.readouterr().out
    (spec,) = list(out.glob("random_search/*/spec.json"))
    doc = json.loads(spec.read_text())
    assert doc["status"] == "ok"
    assert doc["spec"]["eval_datasets"] == ["cifar10", "cifar100", "imagenet16-120"]
    index = (out / "report" / "index.md").read_text()
    assert "| random_search | 1 |" in index and doc["run_id"] in index
    mtime = spec.stat().st_mtime_ns
    assert main(argv) == 0  # completed run skipped, report rewritten
    assert "1 skipped" in capsys.readouterr().err
    assert spec.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algorithms", "nope", "--dataset", "cifar10"], "nope"),
        (["--algorithms", "random_search", "--dataset", "imagenet16-120"], "cifar10 or cifar100"),
        (["--algorithms", "random_search", "--dataset", "cifar10", "--seeds", "a,b"], "not an integer"),
        (["--algorithms", "", "--dataset", "cifar10"], "non-empty"),
    ],
)
def test_compare_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert main(["compare", *args, "--preset", "smoke", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_smoke_comparison_matches_committed_baseline(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """What `make demo` runs, checked against reports/baselines/smoke-cpu.json (CPU smoke is deterministic).

    The baseline was written by `nas-harness baseline` from such a run; it is never hand-edited.
    """
    assert SMOKE_BASELINE.is_file(), "reports/baselines/smoke-cpu.json is committed with the project"
    out = tmp_path / "demo"
    start = time.perf_counter()
    rc = main(
        [
            "compare",
            "--algorithms",
            DEMO_ALGORITHMS,
            "--space",
            "nb201",
            "--dataset",
            "cifar10",
            "--preset",
            "smoke",
            "--seeds",
            "0,1",
            "--out",
            str(out),
        ]
    )
    print(f"smoke comparison: {time.perf_counter() - start:.1f} s")
    assert rc == 0
    for stem in ("table1_nb201_cifar10.md", "table1_nb201_cifar10.tex", "table1_nb201_cifar10.csv"):
        assert (out / "report" / "tables" / stem).is_file()
    assert main(["check", str(out), "--baseline", str(SMOKE_BASELINE)]) == 0
    doc = json.loads(SMOKE_BASELINE.read_text())
    entry = next(e for e in doc["entries"] if e["algorithm"] == "hepnas")
    entry["accuracy_pct"]["cifar10/test"] += 1.0
    raised = tmp_path / "raised.json"
    raised.write_text(json.dumps(doc))
    assert main(["check", str(out), "--baseline", str(raised)]) == 1
