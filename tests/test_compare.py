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
SMOKE_ALGORITHMS = "darts,spos,fewshot,hepnas"


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


@pytest.mark.parametrize(
    ("space", "baseline", "accuracy_key"),
    [
        ("nb201", SMOKE_BASELINE, "cifar10/test"),
        ("darts", SMOKE_BASELINE.with_name("smoke-cpu-darts.json"), "cifar10/valid"),
    ],
)
def test_smoke_comparison_matches_committed_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture, space: str, baseline: Path, accuracy_key: str, one_torch_thread
) -> None:
    """The smoke comparison of the four methods (NB201, synthetic data), and the same comparison on the DARTS
    space (surrogate-judged), checked against the committed baselines reports/baselines/smoke-cpu.json and
    smoke-cpu-darts.json (CPU smoke is deterministic). Each baseline was written by `nas-harness baseline` from
    such a run; never hand-edited.

    One torch thread, as the baselines were made: the DARTS supernet's depthwise convolutions round differently
    with 2 threads (last-bit differences in the SMD losses that flip a HEP-NAS selection)."""
    SMOKE_BASELINE = baseline  # noqa: N806 - the committed file this parametrisation checks
    assert SMOKE_BASELINE.is_file(), f"{SMOKE_BASELINE.name} is committed with the project"
    out = tmp_path / "demo"
    start = time.perf_counter()
    rc = main(
        [
            "compare",
            "--algorithms",
            SMOKE_ALGORITHMS,
            "--space",
            space,
            "--dataset",
            "cifar10",
            "--preset",
            "smoke",
            "--seeds",
            "0,1",
            "--out",
            str(out),
            "--threads",
            "1",
            "--jobs",  # two one-thread runs at once on a process pool: the baselines' thread count, half the wall
            "2",
        ]
    )
    print(f"smoke comparison: {time.perf_counter() - start:.1f} s")
    assert rc == 0
    for stem in (f"table1_{space}_cifar10.md", f"table1_{space}_cifar10.tex", f"table1_{space}_cifar10.csv"):
        assert (out / "report" / "tables" / stem).is_file()
    assert main(["check", str(out), "--baseline", str(SMOKE_BASELINE)]) == 0
    doc = json.loads(SMOKE_BASELINE.read_text())
    entry = next(e for e in doc["entries"] if e["algorithm"] == "hepnas")
    entry["accuracy_pct"][accuracy_key] += 1.0
    raised = tmp_path / "raised.json"
    raised.write_text(json.dumps(doc))
    assert main(["check", str(out), "--baseline", str(raised)]) == 1
    if space == "darts":  # HEP-NAS keeps the published shape: 4 stages of 4, 8, 16, 32 children, normal-cell edges
        from harness import records
        from harness.commands.status import summarize

        for run in sorted((out / "hepnas").iterdir()):
            assert [st["children"] for st in summarize(run)["stages"]] == [4, 8, 16, 32]
            stages = records.read_spec(run)["outcome"]["extras"]["stages"]
            assert all(e < 14 for st in stages for e in st["edges"])
