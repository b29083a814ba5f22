"""Run directories with truncated or damaged files (issue 11): `status` shows them as `corrupt` (never ok) and
names their folder; `report` and `check` leave them out with one stderr warning naming the folder; `check` warns
when a group's seed count differs from the baseline's; `status` prints the wall time as `wall=12.3s` / `wall=n/a`.

Each damage below is one a crash, a full disk or a bad copy produces: a file cut mid-line, a spec.json cut in
half, a header cut, bytes that are not text."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from reports_fake_runs import make_comparison, make_run

from harness import records
from harness.cli import main
from reports import load as rload


def _cut(name: str, keep: int = -7) -> Callable[[Path], None]:
    """Drop the last bytes of `name` (mid-line: a killed writer or a copy that stopped)."""

    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[:keep])

    return damage


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).write_bytes(data)

    return damage


def _spec_edit(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        doc = json.loads((run / "spec.json").read_text())
        edit(doc)
        (run / "spec.json").write_text(json.dumps(doc))

    return damage


def _replace_line(name: str, old: str, new: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        text = (run / name).read_text()
        assert old in text
        (run / name).write_text(text.replace(old, new, 1))

    return damage


DAMAGES: dict[str, Callable[[Path], None]] = {
    "spec-cut-in-half": lambda run: (run / "spec.json").write_bytes((run / "spec.json").read_bytes()[:200]),
    "spec-empty": _write("spec.json", b""),
    "spec-not-utf8": _write("spec.json", b'{"schema_version": 1, "run_id": "\xff\xfe"}'),
    "spec-a-list": _write("spec.json", b"[1, 2]"),
    "spec-no-status": _spec_edit(lambda d: d.pop("status")),
    "spec-no-spec": _spec_edit(lambda d: d.pop("spec")),
    "spec-provenance-a-list": _spec_edit(lambda d: d.update(provenance=[1])),
    "spec-nan": _write("spec.json", b'{"schema_version": 1, "run_id": "x", "status": "ok", "spec": NaN}'),
    "records-cut-mid-line": _cut("records.csv"),
    "records-empty": _write("records.csv", b""),
    "records-header-cut": _write("records.csv", b"phase,stage,chi"),
    "records-not-a-number": _replace_line("records.csv", "search_total,,,,,device_s,", "search_total,,,,,device_s,x"),
    "archs-cut-mid-line": _cut("archs.csv"),
    "archs-binary": _write("archs.csv", bytes(range(256)) * 8),
    "archs-short-row": lambda run: (run / "archs.csv").write_text(
        (run / "archs.csv").read_text() + "final,,,x\n"
    ),
    "rank-cut-mid-line": _cut("rank.csv"),
}


def _runs(root: Path) -> tuple[Path, Path]:
    """Two hepnas runs (they write records, archs and rank); returns (healthy run, run to damage)."""
    good = make_run(root, "hepnas", 0, n_rank=20)
    victim = make_run(root, "hepnas", 1, n_rank=20)
    return good, victim


# --------------------------------------------------------------------------------------------------- status
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_status_shows_a_damaged_run_as_corrupt(tmp_path: Path, damage: str, capsys) -> None:
    good, victim = _runs(tmp_path)
    DAMAGES[damage](victim)
    assert main(["status", str(tmp_path), "--json"]) == 0
    by_dir = {s["run_dir"]: s for s in json.loads(capsys.readouterr().out)}
    assert by_dir[str(victim)]["status"] == "corrupt"
    assert by_dir[str(victim)]["error"]  # the reason
    assert by_dir[str(good)]["status"] == "ok"
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"corrupt  dir={victim}" in out and f"dir={good}" in out


def test_status_of_a_live_run_ignores_its_unfinished_last_line(tmp_path: Path, capsys) -> None:
    """A run being written has a last records.csv line in progress: that is not damage."""
    run = make_run(tmp_path, "hepnas", 0, n_rank=20)
    doc = json.loads((run / "spec.json").read_text())
    doc["status"] = "running"
    (run / "spec.json").write_text(json.dumps(doc))
    (run / ".lock").write_text(f"pid={os.getpid()} host={socket.gethostname()} since=now\n")
    with open(run / "records.csv", "ab") as fh:
        fh.write(b"supernet,,,3,30,train_lo")
    assert main(["status", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "running"


def test_status_prints_wall_seconds_and_the_folder(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path, "hepnas", 0, n_rank=20, total_cost_s=12.34)
    assert main(["status", str(run)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "wall=12.3s " in line and line.endswith(f"dir={run}")
    text = (run / "records.csv").read_text()
    (run / "records.csv").write_text("".join(ln + "\n" for ln in text.splitlines() if "search_total" not in ln))
    assert main(["status", str(run)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "wall=n/a " in line and "n/as" not in line


def test_status_refuses_an_unknown_schema_version_but_lists_corrupt_runs(tmp_path: Path, capsys) -> None:
    """A newer schema is not damage: it still exits 2 (design.md section 6)."""
    make_run(tmp_path, "hepnas", 0, n_rank=20, schema_version=99)
    assert main(["status", str(tmp_path)]) == 2
    assert "schema_version" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------- readers
@pytest.mark.parametrize("damage", sorted(d for d in DAMAGES if not d.startswith("spec")))
def test_run_record_readers_raise_corrupt_run_error(tmp_path: Path, damage: str) -> None:
    _, victim = _runs(tmp_path)
    DAMAGES[damage](victim)
    with pytest.raises(records.CorruptRunError):
        records.read_records(victim)
        records.read_archs(victim)
        records.read_rank(victim)
    with pytest.raises(rload.CorruptRunError):
        rload.load_run(victim)


@pytest.mark.parametrize("damage", sorted(d for d in DAMAGES if d.startswith("spec")))
def test_spec_readers_raise_corrupt_run_error(tmp_path: Path, damage: str) -> None:
    _, victim = _runs(tmp_path)
    DAMAGES[damage](victim)
    with pytest.raises(records.CorruptRunError):
        records.read_run_spec(victim)
    with pytest.raises(rload.CorruptRunError):
        rload.read_spec(victim)


# --------------------------------------------------------------------------------------------------- report
@pytest.mark.parametrize("damage", ["spec-cut-in-half", "archs-cut-mid-line", "records-not-a-number"])
def test_report_leaves_a_corrupt_run_out_with_one_warning(tmp_path: Path, damage: str, capsys) -> None:
    root = tmp_path / "runs"
    make_comparison(root, algorithms=("darts", "hepnas"), seeds=(0, 1), n_rank=20)
    victim = sorted((root / "hepnas").iterdir())[0]
    victim_id = victim.name
    DAMAGES[damage](victim)
    out = tmp_path / "rep"
    assert main(["report", str(root), "--out", str(out), "--format", "md"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "warning" in err[0] and str(victim) in err[0]
    runs_csv = (out / "data" / "runs.csv").read_text()
    assert victim_id not in runs_csv and runs_csv.count("\n") == 1 + 3  # header + the 3 healthy runs
    assert "left out" in (out / "index.md").read_text()


def test_report_of_only_corrupt_runs_exits_2(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path, "hepnas", 0, n_rank=20)
    _cut("spec.json", 100)(run)
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no readable run" in err
    assert not (tmp_path / "rep").exists()


def test_strict_load_still_refuses_a_corrupt_run(tmp_path: Path) -> None:
    """The library default stays strict: only the commands choose to skip."""
    _, victim = _runs(tmp_path)
    _cut("archs.csv")(victim)
    with pytest.raises(rload.CorruptRunError, match="truncated"):
        rload.load(tmp_path)
    rs = rload.load(tmp_path, skip_corrupt=True)
    assert len(rs.runs) == 1 and [c.run_dir for c in rs.corrupt] == [victim]


# ---------------------------------------------------------------------------------------------------- check
@pytest.fixture()
def runs_and_baseline(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "runs"
    make_comparison(root, algorithms=("darts", "hepnas"), seeds=(0, 1, 2), n_rank=20)
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", str(root), "-o", str(baseline)]) == 0
    return root, baseline


def test_check_leaves_a_corrupt_run_out_with_a_warning(runs_and_baseline, capsys) -> None:
    root, baseline = runs_and_baseline
    capsys.readouterr()
    victim = sorted((root / "hepnas").iterdir())[0]
    _cut("rank.csv")(victim)
    code = main(["check", str(root), "--baseline", str(baseline)])
    assert code in (0, 1)  # the check ran on the healthy runs
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert any(str(victim) in ln and "corrupt" in ln for ln in warnings)
    assert "Traceback" not in err


def test_check_warns_when_the_seed_count_differs_from_the_baseline(runs_and_baseline, capsys) -> None:
    root, baseline = runs_and_baseline
    capsys.readouterr()
    fewer = root.parent / "fewer"
    make_comparison(fewer, algorithms=("darts", "hepnas"), seeds=(0, 1), n_rank=20)
    main(["check", str(fewer), "--baseline", str(baseline)])
    err = capsys.readouterr().err
    assert len(re.findall(r"warning: nb201/cifar10/(darts|hepnas)/default: 2 seed\(s\) .* 3 in the baseline", err)) == 2
    assert main(["check", str(root), "--baseline", str(baseline)]) == 0
    assert "warning" not in capsys.readouterr().err  # same seeds: no warning
