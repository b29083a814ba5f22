"""Embedded oracle: pinned values, no defaults, typed misses, 12 vs 200 kept apart, the cifar10 mapping."""

from __future__ import annotations

import csv
import inspect

import numpy as np
import pytest

from harness.errors import InputError
from harness.oracle.base import (
    DATASETS,
    OracleMiss,
    benchmark_key,
    parse_seed_policy,
    to_indices,
    validate_query,
)
from harness.oracle.table import TableOracle, load_oracle
from harness.spaces.nb201 import NUM_ARCHS, NB201Arch, connected_mask

ALL = np.arange(NUM_ARCHS)


@pytest.fixture(scope="module")
def oracle() -> TableOracle:
    return load_oracle()


def acc(oracle, archs, dataset, split, epochs=200, seed="mean"):
    return oracle.accuracy(archs, dataset=dataset, split=split, epochs=epochs, seed=seed)


def test_pinned_index_0(oracle):
    assert acc(oracle, [0], "cifar10", "test").values[0] == pytest.approx(85.8633, abs=5e-5)
    r = acc(oracle, [NB201Arch.from_index(0)], "cifar10", "valid")
    assert r.values[0] == pytest.approx(81.9827, abs=5e-5) and r.n_seeds[0] == 3
    seeds = [acc(oracle, [0], "cifar10", "valid", seed=s).values[0] for s in (777, 888, 999)]
    assert seeds == pytest.approx([82.092, 81.616, 82.240], abs=5e-5)
    assert np.mean(seeds) == pytest.approx(r.values[0], abs=1e-9)


def test_pinned_index_9930(oracle):
    assert acc(oracle, [9930], "cifar10", "test").values[0] == pytest.approx(94.3633, abs=5e-5)
    assert acc(oracle, [9930], "cifar10", "valid").values[0] == pytest.approx(91.5533, abs=5e-5)
    assert oracle.cost([9930], dataset="cifar10")["params_m"][0] == pytest.approx(1.2885, abs=5e-5)
    assert oracle.cost([9930], dataset="cifar10")["flops_m"][0] == pytest.approx(184.73, abs=5e-3)


@pytest.mark.parametrize(
    ("dataset", "split", "value", "index"),
    [
        ("cifar10", "valid", 91.6067, 6111),
        ("cifar10", "test", 94.3733, 6111),
        ("cifar100", "valid", 73.4933, 9930),
        ("cifar100", "test", 73.5133, 9930),
        ("imagenet16-120", "valid", 46.7333, 10676),
        ("imagenet16-120", "test", 47.3111, 857),
    ],
)
def test_column_maxima(oracle, dataset, split, value, index):
    values = acc(oracle, ALL, dataset, split).values
    assert values.max() == pytest.approx(value, abs=5e-5)
    assert values[index] == values.max()


def test_all_skip_cell_is_darts_collapse(oracle):
    idx = NB201Arch(("skip_connect",) * 6).index
    assert idx == 1835
    assert acc(oracle, [idx], "cifar10", "test").values[0] == pytest.approx(54.2967, abs=5e-5)


def test_cifar10_valid_comes_from_25k_run(oracle, shared_nb201):
    assert benchmark_key("cifar10", "valid") == ("cifar10-valid", "x-valid")
    assert benchmark_key("cifar10", "test") == ("cifar10", "ori-test")
    row = _consolidated_rows(shared_nb201, [0, 9930])
    for i, r in zip([0, 9930], row, strict=True):
        assert acc(oracle, [i], "cifar10", "valid").values[0] == float(r["cifar10-valid_valid"])
        assert acc(oracle, [i], "cifar10", "test").values[0] == float(r["cifar10_test"])
    # the 25k valid run and the 50k test run are different runs: valid is NOT a half of the test set
    valid, test = acc(oracle, ALL, "cifar10", "valid").values, acc(oracle, ALL, "cifar10", "test").values
    assert not np.allclose(valid, test)
    with pytest.raises(InputError):
        acc(oracle, [0], "cifar10", "valtest")


def test_cifar100_and_imagenet_splits_are_halves_of_one_run(oracle):
    for dataset in ("cifar100", "imagenet16-120"):
        v, t, vt = (acc(oracle, ALL, dataset, s).values for s in ("valid", "test", "valtest"))
        gap = np.abs((v + t) / 2 - vt)  # equal halves of one test set (the raw data is inexact for ~1%)
        assert (gap < 1e-3).mean() > 0.98 and gap.max() < 0.05


def _consolidated_rows(shared, indices):
    with open(shared / "nb201-consolidated.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [rows[i] for i in indices]


def test_whole_table_matches_shared_csv(oracle, shared_nb201):
    with open(shared_nb201 / "nb201-consolidated.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = {
        ("cifar10", "valid", 200): "cifar10-valid_valid",
        ("cifar10", "test", 200): "cifar10_test",
        ("cifar100", "valtest", 200): "cifar100_valtest",
        ("imagenet16-120", "test", 200): "ImageNet16-120_test",
        ("cifar10", "valid", 12): "hp12_cifar10-valid_valid",
        ("imagenet16-120", "valid", 12): "hp12_ImageNet16-120_valid",
    }
    for (dataset, split, epochs), col in cols.items():
        expected = np.array([float(r[col]) for r in rows])
        np.testing.assert_array_equal(acc(oracle, ALL, dataset, split, epochs).values, expected)
    n = np.array([int(r["n_seeds_200ep"]) for r in rows])
    np.testing.assert_array_equal(acc(oracle, ALL, "cifar100", "valid").n_seeds, n)
    assert (n == 2).sum() == 7456 and (n == 3).sum() == 8169


def test_no_defaults_in_library_api(oracle):
    sig = inspect.signature(TableOracle.accuracy)
    for name in ("dataset", "split", "epochs", "seed"):
        assert sig.parameters[name].default is inspect.Parameter.empty
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError):
        oracle.accuracy([0], dataset="cifar10", split="test", epochs=200)  # type: ignore[call-arg]
    assert inspect.signature(TableOracle.cost).parameters["dataset"].default is inspect.Parameter.empty


def test_no_12_epoch_default(oracle):
    a200 = acc(oracle, ALL, "cifar10", "test", 200)
    a12 = acc(oracle, ALL, "cifar10", "test", 12)
    assert (a12.values < a200.values).mean() > 0.95  # 12 epochs is a different, shorter schedule
    assert acc(oracle, [0], "cifar10", "test", 12).values[0] == pytest.approx(69.55)
    assert acc(oracle, [0], "cifar10", "valid", 12).n_seeds[0] == 2
    assert acc(oracle, [0], "cifar100", "valid", 12).n_seeds[0] == 1
    with pytest.raises(OracleMiss):
        acc(oracle, [0], "cifar100", "valtest", 12)  # no 12-epoch whole-test-set values
    with pytest.raises(OracleMiss):
        acc(oracle, [0], "cifar10", "valid", 12, seed=777)  # no 12-epoch per-seed values
    with pytest.raises(InputError):
        acc(oracle, [0], "cifar10", "test", 100)


def test_missing_seed_raises(oracle):
    two_seed = int(np.flatnonzero(acc(oracle, ALL, "cifar10", "valid").n_seeds == 2)[0])
    assert acc(oracle, [two_seed], "cifar10", "valid", seed=888).n_seeds[0] == 1
    with pytest.raises(OracleMiss, match=str(two_seed)):
        acc(oracle, [0, two_seed], "cifar10", "valid", seed=999)
    with pytest.raises(OracleMiss):
        acc(oracle, [0], "cifar10", "valid", seed=1)
    assert not oracle.available([two_seed], dataset="cifar10", split="valid", epochs=200, seed=999)[0]
    assert oracle.available([0], dataset="cifar10", split="valid", epochs=200, seed=999)[0]


def test_per_seed_cifar10_test_raises(oracle):
    with pytest.raises(OracleMiss, match="per-seed CIFAR-10 test"):
        acc(oracle, [0], "cifar10", "test", seed=777)
    assert isinstance(OracleMiss("x"), LookupError) and isinstance(OracleMiss("x"), InputError)


def test_per_seed_derived_test_only_where_exact(oracle, shared_nb201):
    with open(shared_nb201 / "nb201-per-seed.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    inexact = next(r for r in rows if r["cifar100_x-test_derivation_exact"] == "0")
    exact = next(r for r in rows if r["cifar100_x-test_derivation_exact"] == "1")
    with pytest.raises(OracleMiss):
        acc(oracle, [int(inexact["arch_idx"])], "cifar100", "test", seed=int(inexact["seed"]))
    got = acc(oracle, [int(exact["arch_idx"])], "cifar100", "test", seed=int(exact["seed"])).values[0]
    assert got == float(exact["cifar100_x-test_derived"])
    got = acc(oracle, [int(inexact["arch_idx"])], "cifar100", "valtest", seed=int(inexact["seed"])).values[0]
    assert got == float(inexact["cifar100_ori-test"])


def test_disconnected_cells_are_chance_level(oracle):
    disc = np.flatnonzero(~connected_mask())
    for dataset, split, chance in (
        ("cifar10", "test", 10.0),
        ("cifar10", "valid", 9.712),
        ("cifar100", "test", 1.0),
        ("imagenet16-120", "valid", 0.8333),
    ):
        assert np.allclose(acc(oracle, disc, dataset, split).values, chance, atol=1e-4)


def test_vectorised_inputs_agree(oracle):
    archs = [NB201Arch.from_index(i) for i in (5, 9930, 0)]
    a = acc(oracle, archs, "cifar100", "test").values
    b = acc(oracle, np.array([5, 9930, 0], dtype=np.int32), "cifar100", "test").values
    c = acc(oracle, [5, 9930, 0], "cifar100", "test").values
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert acc(oracle, np.array([], dtype=np.int64), "cifar10", "test").values.size == 0


@pytest.mark.parametrize("bad", [[-1], [NUM_ARCHS], ["0"], [1.5]])
def test_bad_arch_is_input_error(oracle, bad):
    with pytest.raises(InputError):
        acc(oracle, bad, "cifar10", "test")


@pytest.mark.parametrize(
    ("dataset", "split", "epochs", "seed"),
    [
        ("cifar", "test", 200, "mean"),
        ("cifar10", "train", 200, "mean"),
        ("cifar10", "test", "200", "mean"),
        ("cifar10", "test", 200, "median"),
        ("cifar10", "test", 200, 1.5),
        ("cifar10", "test", True, "mean"),
    ],
)
def test_validate_query_rejects(dataset, split, epochs, seed):
    with pytest.raises(InputError):
        validate_query(dataset, split, epochs, seed)


def test_cost_and_frame(oracle):
    for dataset in DATASETS:
        c = oracle.cost(ALL, dataset=dataset)
        assert set(c) >= {"params_m", "flops_m", "train_time_per_epoch_s"}
        assert all(np.isfinite(v).all() and (v > 0).all() for v in c.values())
    c10 = oracle.cost([0], dataset="cifar10")
    assert c10["train_time_per_epoch_s"][0] == pytest.approx(2 * c10["train_time_per_epoch_s_valid_run"][0])
    with pytest.raises(InputError):
        oracle.cost([0], dataset="mnist")
    frame = oracle.frame()
    assert len(frame) == NUM_ARCHS
    assert frame.loc[9930, "cifar10_test_200ep"] == pytest.approx(94.3633, abs=5e-5)
    assert frame.loc[9930, "arch"] == NB201Arch.from_index(9930).to_str()


def test_sha256_and_cache(oracle):
    assert load_oracle() is oracle
    assert len(oracle.sha256) == 64
    assert TableOracle.from_package().sha256 == oracle.sha256


def test_helpers():
    assert parse_seed_policy("MEAN") == "mean" and parse_seed_policy("777") == 777
    with pytest.raises(InputError):
        parse_seed_policy("avg")
    np.testing.assert_array_equal(to_indices([NB201Arch.from_index(3), 4]), [3, 4])
