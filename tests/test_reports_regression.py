"""`nas-harness baseline` / `check` / `report` on fake runs: exit 0 on a run set's own baseline, 1 when the
baseline is raised above what was achieved, 2 for a missing / malformed baseline or bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reports_fake_runs import make_comparison, make_run

from harness.cli import main
from reports import regression
from reports.load import load


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_comparison(tmp_path_factory.mktemp("runs"), seeds=(0, 1), n_rank=50)


@pytest.fixture(scope="module")
def baseline(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bl") / "baseline.json"
    assert main(["baseline", str(runs), "-o", str(path)]) == 0
    return path


def _edit(src: Path, dst: Path, fn) -> Path:
    doc = json.loads(src.read_text())
    fn(doc)
    dst.write_text(json.dumps(doc))
    return dst


def test_baseline_holds_measured_means(runs: Path, baseline: Path) -> None:
    doc = json.loads(baseline.read_text())
    assert doc["format"] == "nas-harness-baseline" and doc["version"] == 1
    assert {e["algorithm"] for e in doc["entries"]} == {"darts", "spos", "fewshot", "hepnas"}
    rs = load(runs)
    darts = next(e for e in doc["entries"] if e["algorithm"] == "darts")
    finals = rs.archs[
        (rs.archs["role"] == "final")
        & (rs.archs["eval_dataset"] == "cifar10")
        & (rs.archs["split"] == "test")
    ].merge(rs.runs[["run_id", "algorithm"]], on="run_id")
    assert darts["accuracy_pct"]["cifar10/test"] == pytest.approx(
        finals[finals["algorithm"] == "darts"]["gt_acc"].mean()
    )
    assert darts["kendall_tau"] is None  # darts wrote no rank.csv: n/a, not 0
    assert sorted(doc["source"]["runs"]) == sorted(rs.runs["run_id"])


def test_check_passes_against_own_baseline(runs: Path, baseline: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", str(runs), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "0 worse than tolerance" in out


def test_check_fails_when_accuracy_baseline_is_raised(
    runs: Path, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    def raise_hepnas(doc: dict) -> None:
        entry = next(e for e in doc["entries"] if e["algorithm"] == "hepnas")
        entry["accuracy_pct"]["cifar100/test"] += 0.5

    raised = _edit(baseline, tmp_path / "raised.json", raise_hepnas)
    assert main(["check", str(runs), "--baseline", str(raised)]) == 1
    captured = capsys.readouterr()
    fail_lines = [line for line in captured.out.splitlines() if line.startswith("FAIL")]
    assert len(fail_lines) == 1 and "hepnas" in fail_lines[0] and "cifar100/test" in fail_lines[0]
    assert "(Δ -0.50)" in fail_lines[0]
    assert "check failed" in captured.err
    # a tolerance wide enough accepts it again
    assert main(["check", str(runs), "--baseline", str(raised), "--tolerance", "acc_pct=0.6"]) == 0


def test_check_fails_on_tau_and_cost(runs: Path, baseline: Path, tmp_path: Path) -> None:
    def raise_tau(doc: dict) -> None:
        next(e for e in doc["entries"] if e["algorithm"] == "spos")["kendall_tau"] += 0.1

    assert main(["check", str(runs), "--baseline", str(_edit(baseline, tmp_path / "t.json", raise_tau))]) == 1

    def lower_ceiling(doc: dict) -> None:
        entry = next(e for e in doc["entries"] if e["algorithm"] == "darts")
        entry["cost_ceiling_s"] = entry["search_cost_s"] / 2

    assert (
        main(["check", str(runs), "--baseline", str(_edit(baseline, tmp_path / "c.json", lower_ceiling))])
        == 1
    )


def test_check_fails_when_an_algorithm_is_missing(baseline: Path, tmp_path: Path) -> None:
    partial = make_comparison(
        tmp_path / "partial", algorithms=("darts", "spos", "fewshot"), seeds=(0, 1), n_rank=50
    )
    assert main(["check", str(partial), "--baseline", str(baseline)]) == 1


@pytest.mark.parametrize("content", ["{", "[]", '{"format": "other"}', '{"format": "nas-harness-baseline"}'])
def test_bad_baseline_file_exits_2(
    runs: Path, tmp_path: Path, content: str, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["check", str(runs), "--baseline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_malformed_entry_and_missing_file_exit_2(runs: Path, baseline: Path, tmp_path: Path) -> None:
    def corrupt(doc: dict) -> None:
        doc["entries"][0]["accuracy_pct"]["cifar10/test"] = "high"

    assert main(["check", str(runs), "--baseline", str(_edit(baseline, tmp_path / "m.json", corrupt))]) == 2
    assert main(["check", str(runs), "--baseline", str(tmp_path / "missing.json")]) == 2
    assert main(["check", str(runs), "--baseline", str(baseline), "--tolerance", "speed=1"]) == 2


def test_check_json_output(runs: Path, baseline: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", str(runs), "--baseline", str(baseline), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True and len(doc["comparisons"]) > 0


def test_report_command_and_bad_inputs(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(runs), "--out", str(tmp_path / "rep"), "--format", "md"]) == 0
    assert (tmp_path / "rep" / "index.md").is_file()
    assert str(tmp_path / "rep" / "index.md") in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    assert main(["report", str(runs), "--format", "docx"]) == 2
    make_run(tmp_path / "v99", "spos", 0, n_rank=10, schema_version=99)
    assert main(["report", str(tmp_path / "v99")]) == 2
    assert "schema_version 99" in capsys.readouterr().err


def test_parse_tolerances() -> None:
    assert regression.parse_tolerances("0.5") == {"acc_pct": 0.5}
    assert regression.parse_tolerances("tau=0.1, cost_factor=3") == {"tau": 0.1, "cost_factor": 3.0}
    with pytest.raises(ValueError, match="non-negative"):
        regression.parse_tolerances("acc_pct=-1")
