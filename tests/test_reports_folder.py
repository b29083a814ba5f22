"""`report --out DIR` never deletes or overwrites a user's files (issue: a user's data/ folder was wiped): it
writes only into a new or empty folder, a folder it wrote before (marked by its manifest, where it replaces only
the files it listed), or a report folder of an earlier version; anything else is refused with exit 2 before any
write."""

from __future__ import annotations

import json
from pathlib import Path

from reports_fake_runs import make_comparison

from harness.cli import main
from reports.build import MANIFEST_FILE


def _runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_comparison(root, algorithms=("darts", "hepnas"), seeds=(0, 1), n_rank=20)
    return root


def test_user_folder_is_refused_and_left_untouched(tmp_path, capsys):
    root = _runs(tmp_path)
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "data" / "results.csv").write_text("precious\n")
    assert main(["report", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not written by nas-harness report" in err
    assert (out / "data" / "results.csv").read_text() == "precious\n"
    assert sorted(p.name for p in out.rglob("*")) == ["data", "results.csv"]


def test_owned_folder_is_rewritten_and_foreign_files_in_it_are_kept(tmp_path, capsys):
    root = _runs(tmp_path)
    out = tmp_path / "rep"
    assert main(["report", str(root), "--out", str(out)]) == 0
    listed = json.loads((out / MANIFEST_FILE).read_text())["files"]
    assert "index.md" in listed and all((out / f).is_file() for f in listed)
    (out / "tables" / "my-notes.txt").write_text("keep me\n")
    stale = out / "tables" / "table1_old.md"
    stale.write_text("old")
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    manifest["files"].append("tables/table1_old.md")
    (out / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert main(["report", str(root), "--out", str(out)]) == 0
    assert (out / "tables" / "my-notes.txt").read_text() == "keep me\n"  # not ours: kept
    assert not stale.exists()  # ours and no longer produced: removed


def test_report_folder_of_an_earlier_version_is_taken_over(tmp_path):
    root = _runs(tmp_path)
    out = tmp_path / "old"
    assert main(["report", str(root), "--out", str(out)]) == 0
    (out / MANIFEST_FILE).unlink()  # as written before manifests existed
    assert main(["report", str(root), "--out", str(out)]) == 0
    assert (out / MANIFEST_FILE).is_file()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    root = _runs(tmp_path)
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["report", str(root), "--out", str(target)]) == 2
    assert target.read_text() == "x"


def test_search_out_refuses_a_folder_of_user_files_and_an_empty_name(tmp_path, capsys):
    """`search --out DIR` never overwrites a user's files (e.g. their own records.csv) and never writes into the
    current folder through `--out ''`: exit 2, one line, nothing written."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "records.csv").write_text("precious\n")
    argv = ["search", "--algorithm", "random_search", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
    assert main([*argv, "--out", str(mine)]) == 2
    assert "not a nas-harness run" in capsys.readouterr().err
    assert (mine / "records.csv").read_text() == "precious\n" and len(list(mine.iterdir())) == 1
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", ""])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must name a folder" in err
