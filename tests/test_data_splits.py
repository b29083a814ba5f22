"""Packaged official NB201 splits: counts, disjoint halves, converter reproduces package, search splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import splits
from harness.data.search import split_indices
from harness.errors import InputError


@pytest.mark.parametrize(
    ("dataset", "parts", "count", "size"),
    [
        ("cifar10", ("train", "valid"), 25_000, 50_000),
        ("cifar100", ("xvalid", "xtest"), 5_000, 10_000),
        ("imagenet16-120", ("xvalid", "xtest"), 3_000, 6_000),
    ],
)
def test_official_counts_and_partition(dataset: str, parts: tuple[str, str], count: int, size: int) -> None:
    a, b = (splits.official_split(dataset, p) for p in parts)
    assert a.size == count and b.size == count
    # the two halves partition the indexed set exactly
    assert np.array_equal(np.sort(np.concatenate([a, b])), np.arange(size))


def test_converter_reproduces_package(shared_nb201: Path, tmp_path: Path) -> None:
    hashes = splits.convert(shared_nb201 / "splits", tmp_path)
    assert set(hashes) == set(splits.SOURCES)
    with np.load(tmp_path / "nb201_splits.npz", allow_pickle=False) as fresh:
        packaged = splits._packaged()
        assert sorted(fresh.files) == sorted(packaged)
        for k in fresh.files:
            assert fresh[k].dtype == np.int32 and np.array_equal(fresh[k], packaged[k])
    note = (tmp_path / "PROVENANCE.md").read_text()
    assert "D-X-Y/AutoDL-Projects" in note and "MIT" in note
    assert all(h in note for h in hashes.values())
    assert note == splits.PROVENANCE_FILE.read_text()  # the packaged note names the same inputs


def test_converter_cli(shared_nb201: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert splits.main(["--source", str(shared_nb201 / "splits"), "--dest", str(tmp_path)]) == 0
    assert "cifar-split.txt  sha256=" in capsys.readouterr().out
    assert splits.main(["--source", str(tmp_path / "nowhere"), "--dest", str(tmp_path)]) == 2


def test_parse_refuses_non_int_entries() -> None:
    assert splits.parse_split_text('{"a": ["int", ["3", "1"]]}')["a"].tolist() == [3, 1]
    with pytest.raises(InputError):
        splits.parse_split_text('{"a": ["str", ["x"]]}')
    with pytest.raises(InputError):
        splits.parse_split_text("{'a': 1}")


def test_unknown_official_split() -> None:
    with pytest.raises(InputError, match="no official split"):
        splits.official_split("cifar10", "xtest")


def test_splits_hash_is_content_based() -> None:
    assert splits.splits_sha256() == splits.splits_sha256() and len(splits.splits_sha256()) == 64


def test_search_split_indices() -> None:
    wp, w, hp, h = split_indices("cifar10", "train_half", 50_000)
    assert (wp, hp) == ("train", "train") and w.tolist() == list(range(25_000)) and h[0] == 25_000
    assert h.size == 25_000
    wp, w, hp, h = split_indices("imagenet16-120", "train_half", 151_700)
    assert w.size == h.size == 75_850
    wp, w, hp, h = split_indices("cifar10", "nb201_official", 50_000)
    assert (wp, hp) == ("train", "train") and w.size == h.size == 25_000
    assert np.array_equal(w, splits.official_split("cifar10", "train"))
    wp, w, hp, h = split_indices("cifar100", "nb201_official", 50_000)
    assert (wp, hp) == ("train", "test") and w.size == 50_000
    assert np.array_equal(h, splits.official_split("cifar100", "xvalid"))
    with pytest.raises(InputError):
        split_indices("cifar10", "bogus", 10)
