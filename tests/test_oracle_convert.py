"""The converter reproduces the committed packaged file byte for byte (so the committed file is current)."""

from __future__ import annotations

import json
import zipfile

import numpy as np

from harness.oracle.convert import ORACLE_DIR, ORACLE_FILE, PROVENANCE_FILE, convert_oracle, sha256_file


def test_converter_reproduces_packaged_file(shared_nb201, tmp_path):
    out = convert_oracle(shared_nb201, tmp_path)
    assert sha256_file(out) == sha256_file(ORACLE_DIR / ORACLE_FILE)
    note = json.loads((tmp_path / PROVENANCE_FILE).read_text())
    packaged = json.loads((ORACLE_DIR / PROVENANCE_FILE).read_text())
    assert note == packaged
    assert note["inputs"]["nb201-consolidated.csv"] == sha256_file(shared_nb201 / "nb201-consolidated.csv")


def test_packaged_file_is_small_and_pickle_free():
    path = ORACLE_DIR / ORACLE_FILE
    assert path.stat().st_size < 5_000_000
    with np.load(path, allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype.kind in "fiu", name
    with zipfile.ZipFile(path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
