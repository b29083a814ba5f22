"""Rank metrics against scipy (random data, heavy 341-way ties), tie rules, undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as ss

from harness.metrics import (
    average_ranks,
    best_rank_at_k,
    kendall_tau_b,
    precision_at_k,
    rank_report,
    spearman_rho,
    topk_kendall_tau,
)


@pytest.mark.parametrize("n", [3, 4, 10, 101, 2000])
@pytest.mark.parametrize("seed", [0, 1])
def test_against_scipy_random(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.5 * x + rng.normal(size=n)
    for a, b in [(x, y), (np.round(x, 1), np.round(y, 1)), (rng.integers(0, 3, n).astype(float), y)]:
        assert kendall_tau_b(a, b).value == pytest.approx(ss.kendalltau(a, b).statistic, abs=1e-12)
        assert spearman_rho(a, b).value == pytest.approx(ss.spearmanr(a, b).statistic, abs=1e-12)


def test_against_scipy_heavy_ties_full_space():
    rng = np.random.default_rng(3)
    n = 15625
    truth = rng.normal(70, 10, size=n)
    scores = truth + rng.normal(0, 8, size=n)
    truth[:341] = 10.0  # the 341 disconnected cells tie at chance level ...
    scores[:341] = 10.0  # ... in both the estimator and the ground truth
    scores[341:700] = np.round(scores[341:700])
    tau = kendall_tau_b(scores, truth)
    assert tau.value == pytest.approx(ss.kendalltau(scores, truth).statistic, abs=1e-12)
    assert tau.ties_truth == 341 * 340 // 2
    assert tau.ties_score >= 341 * 340 // 2
    assert tau.n == n
    assert spearman_rho(scores, truth).value == pytest.approx(
        ss.spearmanr(scores, truth).statistic, abs=1e-12
    )
    np.testing.assert_array_equal(average_ranks(scores), ss.rankdata(scores))


def test_perfect_and_reversed():
    x = np.arange(10.0)
    assert kendall_tau_b(x, x).value == pytest.approx(1.0, abs=1e-15)
    assert spearman_rho(x, x).value == pytest.approx(1.0, abs=1e-15)
    assert kendall_tau_b(x, -x).value == pytest.approx(-1.0, abs=1e-15)
    assert spearman_rho(x, -x).value == pytest.approx(-1.0, abs=1e-15)


@pytest.mark.parametrize(
    ("x", "y", "reason"),
    [
        ([1.0, 2.0], [1.0, 2.0], "n=2 < 3"),
        ([], [], "n=0 < 3"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "constant scores"),
        ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], "constant ground truth"),
    ],
)
def test_undefined_gives_nan_with_reason(x, y, reason):
    for fn in (kendall_tau_b, spearman_rho):
        r = fn(x, y)
        assert math.isnan(r.value) and r.reason == reason and r.n == len(x)


def test_non_finite_input_is_an_error():
    with pytest.raises(ValueError):
        kendall_tau_b([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        spearman_rho([1.0, 2.0], [1.0, 2.0, 3.0])


def test_precision_at_k_ties_broken_by_ascending_index():
    # scores tie for positions 2 and 3; K=20% of 10 -> k=2; truth's best two are indices 5 and 7
    scores = np.array([9, 1, 1, 1, 1, 8, 1, 8, 1, 1], dtype=float)
    truth = np.array([0, 0, 0, 0, 0, 9, 0, 8, 0, 0], dtype=float)
    index = np.array([100, 101, 102, 103, 104, 50, 106, 60, 108, 109])
    r = precision_at_k(scores, truth, 20, index=index)
    assert r.k == 2 and r.value == 0.5  # predicted top-2 = {pos 0, pos 5}; true top-2 = {5, 7}
    assert r.tied_at_cut_score == 2  # the two 8s straddle the cut
    # with the index order reversed the other tied arch enters the top-2
    r2 = precision_at_k(scores, truth, 20, index=np.array([100, 101, 102, 103, 104, 60, 106, 50, 108, 109]))
    assert r2.value == 0.5 and r2.tied_at_cut_score == 2
    assert precision_at_k(truth, truth, 20, index=index).value == 1.0
    # ceil(K n): 1% of 10 archs is 1 arch
    assert precision_at_k(scores, truth, 1).k == 1


def test_best_rank_at_k():
    truth = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0])
    scores = -truth  # predicts worst first
    r = best_rank_at_k(scores, truth, 10)
    assert r.k == 1 and r.value == 10 and r.fraction == 1.0
    assert best_rank_at_k(truth, truth, 10).value == 1
    assert best_rank_at_k(scores, truth, 50).value == 6
    # tied truths share the best rank of their group
    tied = np.array([5.0, 5.0, 1.0])
    assert best_rank_at_k(np.array([0.0, 1.0, 0.5]), tied, 34).value == 1


def test_topk_tau_uses_ground_truth_top():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=1000)
    scores = truth.copy()
    top = np.argsort(-truth)[:100]
    scores[top] = -truth[top]  # reversed inside the true top 10%
    assert topk_kendall_tau(scores, truth, 10).value == pytest.approx(-1.0)
    assert topk_kendall_tau(scores, truth, 10).n == 100
    assert math.isnan(topk_kendall_tau(scores, truth, 0.1).value)  # 1 arch


def test_rank_report_connected_variant():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=500)
    scores = truth + rng.normal(size=500)
    truth[:20] = 10.0
    scores[:20] = 10.0  # disconnected archs tie at the top of both: inflate the 'all' numbers
    mask = np.ones(500, dtype=bool)
    mask[:20] = False
    all_, conn = rank_report(scores, truth), rank_report(scores, truth, include=mask)
    assert all_["n"] == 500 and conn["n"] == 480
    assert conn["kendall_tau"] == pytest.approx(ss.kendalltau(scores[mask], truth[mask]).statistic, abs=1e-12)
    assert set(all_["precision_at_k"]) == {"1", "5", "10"}
    assert all_["ties"]["truth_pairs"] == 190
    undefined = rank_report([1.0, 2.0], [1.0, 2.0])
    assert undefined["kendall_tau"] is None and undefined["reasons"]["kendall_tau"] == "n=2 < 3"
