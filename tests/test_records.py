"""Run-record schema: round trip, atomic writes, schema-version refusal, value formatting."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from harness import records
from harness.errors import InputError


def test_csv_round_trip_and_na(tmp_path):
    rows = [
        {
            "phase": "supernet",
            "stage": None,
            "child": 2,
            "epoch": 0,
            "step": 5,
            "metric": "train_loss",
            "value": 0.1 + 0.2,
        },
        ("stage", 1, None, None, None, "remaining_space", 625),
        ("stage", 1, 0, None, None, "selected", True),
        ("x", None, None, None, None, "kendall_tau", float("nan")),
        ("x", None, None, None, None, "np", np.float32(1.5)),
    ]
    with records.CsvAppender(tmp_path / "records.csv", records.RECORDS_COLUMNS) as app:
        app.append(rows)
    back = records.read_records(tmp_path)
    assert [r["value"] for r in back] == [repr(0.1 + 0.2), "625", "1", "", "1.5"]
    assert float(back[0]["value"]) == 0.1 + 0.2  # floats round-trip exactly
    assert back[0]["stage"] == "" and back[0]["child"] == "2"
    assert list(back[0]) == list(records.RECORDS_COLUMNS)


def test_appender_truncate_keeps_header(tmp_path):
    app = records.CsvAppender(tmp_path / "r.csv", records.RECORDS_COLUMNS)
    app.append([("a", None, None, None, 0, "m", 1)])
    mark = app.tell()
    app.append([("a", None, None, None, 1, "m", 2)])
    app.truncate(mark)
    app.append([("a", None, None, None, 2, "m", 3)])
    app.truncate(0)
    app.close()
    assert (tmp_path / "r.csv").read_text() == ",".join(records.RECORDS_COLUMNS) + "\n"


def test_write_csv_columns_checked(tmp_path):
    records.write_csv(
        tmp_path / "archs.csv", records.ARCHS_COLUMNS, [{"role": "final", "arch": "x", "index": 3}]
    )
    back = records.read_archs(tmp_path)
    assert back[0]["role"] == "final" and back[0]["index"] == "3" and back[0]["gt_acc"] == ""
    with pytest.raises(ValueError):
        records.write_csv(tmp_path / "bad.csv", records.ARCHS_COLUMNS, [{"nope": 1}])
    (tmp_path / "rank.csv").write_text("owner,metric\nall,x\n")
    with pytest.raises(InputError, match="columns"):
        records.read_rank(tmp_path)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "spec.json"
    records.atomic_write_json(path, {"schema_version": 1, "a": 1})
    assert json.loads(path.read_text()) == {"schema_version": 1, "a": 1}

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        records.atomic_write_json(path, {"schema_version": 1, "a": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"schema_version": 1, "a": 1}  # old content intact
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # temp file cleaned up
    with pytest.raises(ValueError):
        records.atomic_write_json(path, {"x": math.nan})  # NaN is never written to JSON


def test_schema_version_round_trip_and_refusal(tmp_path):
    doc = {"schema_version": records.SCHEMA_VERSION, "run_id": "abc", "status": "ok"}
    records.atomic_write_json(tmp_path / "spec.json", doc)
    assert records.read_spec(tmp_path) == doc
    for bad in (records.SCHEMA_VERSION + 1, None, "1", True):
        records.atomic_write_json(tmp_path / "spec.json", {**doc, "schema_version": bad})
        with pytest.raises(InputError, match="schema_version"):
            records.read_spec(tmp_path)
    (tmp_path / "spec.json").write_text("{not json")
    with pytest.raises(InputError):
        records.read_spec(tmp_path)


def test_status_refuses_unknown_schema_with_exit_2(tmp_path, capsys):
    from harness.cli import main

    records.atomic_write_json(tmp_path / "spec.json", {"schema_version": 99, "run_id": "x"})
    assert main(["status", str(tmp_path)]) == 2
    assert "schema_version" in capsys.readouterr().err


def test_find_run_dirs(tmp_path):
    for name in ("a/1", "b/2"):
        records.atomic_write_json(tmp_path / name / "spec.json", {"schema_version": 1})
    assert records.find_run_dirs(tmp_path) == [tmp_path / "a/1", tmp_path / "b/2"]
    assert records.find_run_dirs(tmp_path / "a/1") == [tmp_path / "a/1"]


def test_reports_reader_columns_equal_writer_columns():
    """reports/ may not import harness, so it keeps its own copy of the schema: keep them equal."""
    from reports import load

    assert load.RECORDS_COLUMNS == records.RECORDS_COLUMNS
    assert load.ARCHS_COLUMNS == records.ARCHS_COLUMNS
    assert load.RANK_COLUMNS == records.RANK_COLUMNS
    assert tuple(load.SUPPORTED_SCHEMA_VERSIONS) == records.SUPPORTED_SCHEMA_VERSIONS
    assert set(load.COST_METRICS) == set(records.COST_METRICS)
