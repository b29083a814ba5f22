"""Every file nas-harness writes is written atomically (issue 11): a write that fails half-way (an exception
while the bytes go out, a full disk, Ctrl-C) leaves the previous file byte-identical and no temp file behind.

Covered: the helpers (reports.atomic, re-exported by harness.records), report tables / data CSVs / index.md /
manifest / figures, baseline files (`baseline -o`, which also never replaces a file that is not a baseline), the
oracle converter's packaged files. A source scan keeps direct writes out of the modules that write reports."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from reports_fake_runs import make_comparison  # noqa: E402

from harness import records  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.oracle import convert  # noqa: E402
from reports import atomic, figures, regression  # noqa: E402
from reports import build as rbuild  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _temps(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name]


class Boom(RuntimeError):
    pass


# -------------------------------------------------------------------------------------------------- helpers
@pytest.mark.parametrize("writer", ["text", "bytes", "path", "records_text", "records_json"])
def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path, monkeypatch, writer: str) -> None:
    target = tmp_path / "out.json"
    target.write_text('{"old": true}\n')
    os.chmod(target, 0o640)

    if writer == "path":
        with pytest.raises(Boom), atomic.atomic_path(target) as tmp:
            tmp.write_text('{"new": ')
            raise Boom("writer failed mid-way")
    else:
        real_fsync = os.fsync

        def failing_fsync(fd: int) -> None:  # the bytes went out, the flush to disk fails
            real_fsync(fd)
            raise Boom("fsync failed")

        monkeypatch.setattr(os, "fsync", failing_fsync)
        call = {
            "text": lambda: atomic.atomic_write_text(target, '{"new": true}\n'),
            "bytes": lambda: atomic.atomic_write_bytes(target, b'{"new": true}\n'),
            "records_text": lambda: records.atomic_write_text(target, '{"new": true}\n'),
            "records_json": lambda: records.atomic_write_json(target, {"new": True}),
        }[writer]
        with pytest.raises(Boom):
            call()
        monkeypatch.undo()
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    atomic.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert (os.stat(target).st_mode & 0o777) == 0o640  # a replaced file keeps its permissions


def test_interrupt_while_writing_keeps_the_previous_file(tmp_path: Path) -> None:
    """Ctrl-C (KeyboardInterrupt, not an Exception) is cleaned up too."""
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(target) as tmp:
        tmp.write_text("ne")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and _temps(tmp_path) == []


def test_harness_records_reuses_the_one_implementation() -> None:
    assert records.atomic_write_text is atomic.atomic_write_text
    assert records.atomic_path is atomic.atomic_path


def test_unwritable_folder_error_names_the_target(tmp_path: Path, monkeypatch) -> None:
    """What a read-only folder gives a non-root user, simulated (root ignores chmod): the error names the
    file the user asked for, not a temp name, so the CLI's one line is meaningful."""
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.json.123.tmp.json"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as info:
        atomic.atomic_write_text(tmp_path / "x.json", "{}")
    assert info.value.filename == str(tmp_path / "x.json")


def test_atomic_path_refuses_a_folder(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError), atomic.atomic_path(tmp_path / "d"):
        pass
    assert _temps(tmp_path) == []


# --------------------------------------------------------------------------------------------------- report
@pytest.fixture()
def report(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    root = tmp_path / "runs"
    make_comparison(root, algorithms=("darts", "hepnas"), seeds=(0, 1), n_rank=20)
    out = tmp_path / "rep"
    assert main(["report", str(root), "--out", str(out), "--format", "md,csv"]) == 0
    return root, out, _tree(out)


def _same_report(a: dict[str, bytes], b: dict[str, bytes]) -> bool:
    """Equal file sets and bytes; SVGs (random ids and a date inside) only need to be whole."""
    if set(a) != set(b):
        return False
    return all(a[k] == b[k] or (k.endswith(".svg") and _whole_svg(a[k]) and _whole_svg(b[k])) for k in a)


def _whole_svg(data: bytes) -> bool:
    return data.startswith(b"<?xml") and data.endswith(b"</svg>\n")


@pytest.mark.parametrize("where", ["table", "data_csv", "figure", "index"])
def test_report_failing_mid_way_keeps_every_file_whole(report, monkeypatch, where: str) -> None:
    """The failing file keeps its previous bytes; every other file is its previous or its complete new
    version; nothing is missing; no temp file is left; the folder stays ours, so the next report goes through."""
    root, out, before = report
    real_write = atomic.atomic_write_text
    failed: list[str] = []

    def failing_write(path, text):  # the first file of the kind fails after half of it is written
        kind = {"table": "tables" in Path(path).parts, "data_csv": "data" in Path(path).parts}
        if kind.get(where) or (where == "index" and Path(path).name == "index.md"):
            failed.append(str(Path(path).relative_to(out)))
            with atomic.atomic_path(path) as tmp:
                tmp.write_text(text[: len(text) // 2])
                raise Boom(f"failed writing {path}")
        real_write(path, text)

    def failing_savefig(self, fname, *args, **kwargs):
        failed.append("figure")
        Path(fname).write_bytes(b"half a picture")
        raise Boom("renderer failed")

    monkeypatch.setattr(rbuild, "atomic_write_text", failing_write)
    if where == "figure":
        monkeypatch.setattr(plt.Figure, "savefig", failing_savefig)
    with pytest.raises(Boom):
        rbuild.write_report(root, out, ("md", "csv"))
    monkeypatch.undo()
    after = _tree(out)
    fresh = out.parent / "fresh"
    rbuild.write_report(root, fresh, ("md", "csv"))
    new = _tree(fresh)
    assert set(after) == set(before) and _temps(out) == []
    for name, data in after.items():
        whole = data == before[name] or data == new[name] or (name.endswith(".svg") and _whole_svg(data))
        assert whole, f"{name} is neither its previous nor its new version"
    if where != "figure":
        assert after[failed[0]] == before[failed[0]]
    assert main(["report", str(root), "--out", str(out), "--format", "md,csv"]) == 0
    assert _same_report(_tree(out), before)


def test_report_writes_go_through_the_atomic_helpers(report) -> None:
    """A temp file of the right name appears next to each target and is renamed: the final folder holds exactly
    the manifest's files and no temp file."""
    _, out, before = report
    listed = set(json.loads(before[rbuild.MANIFEST_FILE])["files"])
    assert listed | {rbuild.MANIFEST_FILE} == set(before)
    assert _temps(out) == []


def test_figure_save_failure_keeps_the_previous_png(tmp_path: Path, monkeypatch) -> None:
    fig = plt.figure()
    plt.plot([0, 1], [0, 1])
    assert figures._save(fig, tmp_path, "f") == ("f.png", "f.svg")
    before = _tree(tmp_path)

    def failing_savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise Boom("renderer failed")

    monkeypatch.setattr(plt.Figure, "savefig", failing_savefig)
    fig2 = plt.figure()
    with pytest.raises(Boom):
        figures._save(fig2, tmp_path, "f")
    assert _tree(tmp_path) == before and _temps(tmp_path) == []
    assert not plt.fignum_exists(fig2.number)  # closed even on failure


# ------------------------------------------------------------------------------------------------- baseline
def test_baseline_write_failure_keeps_the_previous_baseline(report, tmp_path: Path, monkeypatch) -> None:
    root, _, _ = report
    path = tmp_path / "b.json"
    assert main(["baseline", str(root), "-o", str(path)]) == 0
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise Boom("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(Boom):
        regression.write_baseline({"format": "nas-harness-baseline", "x": 1}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["b.json"]


def test_baseline_replaces_only_a_baseline(report, tmp_path: Path, capsys) -> None:
    root, _, _ = report
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "data"}\n')
    assert main(["baseline", str(root), "-o", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a nas-harness baseline" in err
    assert mine.read_text() == '{"my": "data"}\n'
    ours = tmp_path / "b.json"
    assert main(["baseline", str(root), "-o", str(ours)]) == 0
    assert main(["baseline", str(root), "-o", str(ours), "--tolerance", "acc_pct=0.5"]) == 0  # replaced
    assert json.loads(ours.read_text())["tolerances"]["acc_pct"] == 0.5


# --------------------------------------------------------------------------------------------------- oracle
def test_converter_writes_atomically(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "t.npz"
    convert.write_npz_deterministic({"a": np.arange(3)}, out)
    before = out.read_bytes()

    def failing_replace(src, dst):
        raise Boom("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(Boom):
        convert.write_npz_deterministic({"a": np.arange(5)}, out)
    monkeypatch.undo()
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["t.npz"]
    convert.write_npz_deterministic({"a": np.arange(3)}, out)
    assert out.read_bytes() == before  # deterministic bytes, as before


# ---------------------------------------------------------------------------------------------- source scan
#: modules that write user-visible files; each must write only through reports.atomic / harness.records
WRITERS = (
    "reports/build.py",
    "reports/figures.py",
    "reports/tables.py",
    "reports/regression.py",
    "reports/aggregate.py",
    "reports/load.py",
    "harness/oracle/convert.py",
    "harness/commands/baseline.py",
    "harness/commands/report.py",
    "harness/commands/check.py",
    "harness/commands/correlate.py",
    "harness/commands/status.py",
)
DIRECT_WRITE = re.compile(r"\.write_(text|bytes)\(|open\([^)]*['\"][wax]b?['\"]|\.savefig\((?!tmp)|\.to_csv\((?!index)")


@pytest.mark.parametrize("module", WRITERS)
def test_no_direct_writes_in_file_writing_modules(module: str) -> None:
    text = (REPO / module).read_text(encoding="utf-8")
    assert DIRECT_WRITE.findall(text) == [], f"{module} writes a file directly; use reports.atomic"
