"""Official-file adapter on the NATS-Bench fixture archive and on a tiny NB201-style .pth built from it."""

from __future__ import annotations

import bz2
import pickle
import shutil

import numpy as np
import pytest

from harness.errors import InputError
from harness.oracle.base import OracleMiss
from harness.oracle.official import OfficialOracle, load_benchmark
from harness.oracle.table import load_oracle

FIXTURE_ARCHS = [0, 11, 284]
QUESTIONS = [
    ("cifar10", "valid"),
    ("cifar10", "test"),
    ("cifar100", "valid"),
    ("cifar100", "test"),
    ("cifar100", "valtest"),
    ("imagenet16-120", "valid"),
    ("imagenet16-120", "test"),
    ("imagenet16-120", "valtest"),
]


@pytest.fixture(scope="module")
def archive(shared_nb201):
    return OfficialOracle.open(shared_nb201 / "nats-fixture")


@pytest.fixture(scope="module")
def pth_file(shared_nb201, tmp_path_factory):
    """The dict layout of the official NAS-Bench-201 .pth: meta_archs, arch2infos {i: {less, full}}, ..."""
    torch = pytest.importorskip("torch")
    fixture = shared_nb201 / "nats-fixture"
    meta = pickle.load(bz2.open(fixture / "meta.pickle.pbz2"))
    infos = {}
    for i in FIXTURE_ARCHS:
        record = pickle.load(bz2.open(fixture / f"{i:06d}.pickle.pbz2"))
        infos[i] = {"less": record["12"], "full": record["200"]}
    data = {"meta_archs": meta["meta_archs"], "arch2infos": infos, "evaluated_indexes": set(FIXTURE_ARCHS)}
    path = tmp_path_factory.mktemp("pth") / "NAS-Bench-201-tiny.pth"
    torch.save(data, path)
    return path


@pytest.mark.parametrize(("dataset", "split"), QUESTIONS)
def test_archive_means_equal_embedded_table(archive, dataset, split):
    table = load_oracle()
    got = archive.accuracy(FIXTURE_ARCHS, dataset=dataset, split=split, epochs=200, seed="mean")
    want = table.accuracy(FIXTURE_ARCHS, dataset=dataset, split=split, epochs=200, seed="mean")
    np.testing.assert_allclose(got.values, want.values, atol=1e-6)
    np.testing.assert_array_equal(got.n_seeds, want.n_seeds)


def test_archive_pinned_index_0(archive):
    r = archive.accuracy([0], dataset="cifar10", split="test", epochs=200, seed="mean")
    assert r.values[0] == pytest.approx(85.8633, abs=5e-5)
    seeds = [
        archive.accuracy([0], dataset="cifar10", split="valid", epochs=200, seed=s).values[0]
        for s in (777, 888, 999)
    ]
    assert seeds == pytest.approx([82.092, 81.616, 82.240], abs=5e-5)
    # the official file does have per-seed CIFAR-10 test (the embedded table does not)
    assert archive.accuracy([0], dataset="cifar10", split="test", epochs=200, seed=777).values[0] == 85.62


def test_archive_12_epochs_and_costs(archive):
    table = load_oracle()
    for dataset, split in [
        ("cifar10", "valid"),
        ("cifar10", "test"),
        ("cifar100", "test"),
        ("imagenet16-120", "valid"),
    ]:
        got = archive.accuracy(FIXTURE_ARCHS, dataset=dataset, split=split, epochs=12, seed="mean")
        want = table.accuracy(FIXTURE_ARCHS, dataset=dataset, split=split, epochs=12, seed="mean")
        np.testing.assert_allclose(got.values, want.values, atol=1e-6)
        np.testing.assert_array_equal(got.n_seeds, want.n_seeds)
    for dataset in ("cifar10", "cifar100", "imagenet16-120"):
        got, want = archive.cost(FIXTURE_ARCHS, dataset=dataset), table.cost(FIXTURE_ARCHS, dataset=dataset)
        for key, values in want.items():
            np.testing.assert_allclose(got[key], values, rtol=1e-9, err_msg=key)


def test_archive_misses_are_typed(archive):
    with pytest.raises(OracleMiss):
        archive.accuracy([1], dataset="cifar10", split="test", epochs=200, seed="mean")  # not in the fixture
    with pytest.raises(OracleMiss):
        archive.accuracy([0], dataset="cifar10", split="test", epochs=200, seed=123)
    assert list(archive.available([0, 1], dataset="cifar10", split="test", epochs=200, seed="mean")) == [
        True,
        False,
    ]


def test_pth_file_same_answers(pth_file, archive):
    pth = load_benchmark(pth_file)
    assert isinstance(pth, OfficialOracle)
    for dataset, split in QUESTIONS:
        for epochs in (200, 12):
            kw = {"dataset": dataset, "split": split, "epochs": epochs, "seed": "mean"}
            if not archive.available(FIXTURE_ARCHS, **kw).all():
                continue
            np.testing.assert_array_equal(
                pth.accuracy(FIXTURE_ARCHS, **kw).values, archive.accuracy(FIXTURE_ARCHS, **kw).values
            )
    np.testing.assert_array_equal(
        pth.cost([11], dataset="cifar100")["params_m"], archive.cost([11], dataset="cifar100")["params_m"]
    )
    assert len(pth.sha256) == 64


def test_open_rejects_unknown_paths(tmp_path, shared_nb201):
    with pytest.raises(InputError):
        OfficialOracle.open(tmp_path / "missing.pth")
    with pytest.raises(InputError):
        OfficialOracle.open(tmp_path)  # a directory without meta.pickle.pbz2
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(InputError):
        OfficialOracle.open(tmp_path / "x.csv")
    assert load_benchmark(None) is load_oracle()


def test_archive_with_missing_record_file(shared_nb201, tmp_path):
    shutil.copy(shared_nb201 / "nats-fixture" / "meta.pickle.pbz2", tmp_path)
    shutil.copy(shared_nb201 / "nats-fixture" / "000011.pickle.pbz2", tmp_path)
    oracle = OfficialOracle.open(tmp_path)
    assert oracle.accuracy([11], dataset="cifar10", split="test", epochs=200, seed="mean").values[
        0
    ] == pytest.approx(91.5833, abs=5e-5)
    with pytest.raises(OracleMiss):
        oracle.accuracy([0], dataset="cifar10", split="test", epochs=200, seed="mean")
