"""Rank evaluation: fixed, hashed arch sets (stable across processes) and metric rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from harness import rank_eval
from harness.spaces import get_space
from harness.spaces.nb201 import NUM_ARCHS, connected_mask

REPO = Path(__file__).resolve().parents[1]
ENUM = get_space("nb201").enumeration


def test_sample_set_is_seeded_sorted_and_hashed():
    a = rank_eval.build_arch_set(ENUM, "sample", n=1000, seed=0)
    assert len(a.indices) == len(set(a.indices)) == 1000 and list(a.indices) == sorted(a.indices)
    assert rank_eval.build_arch_set(ENUM, "sample", n=1000, seed=0) == a
    b = rank_eval.build_arch_set(ENUM, "sample", n=1000, seed=1)
    assert b.indices != a.indices and b.sha256 != a.sha256
    assert set(rank_eval.build_arch_set(ENUM, "sample", n=10, seed=0).indices) < set(a.indices)  # nested samples
    with pytest.raises(ValueError):
        rank_eval.build_arch_set(ENUM, "sample", n=0)
    with pytest.raises(ValueError):
        rank_eval.build_arch_set(ENUM, "bogus")


def test_arch_set_hash_stable_across_processes():
    code = (
        "from harness.rank_eval import build_arch_set as b; from harness.spaces import get_space; "
        "e = get_space('nb201').enumeration; "
        "print(b(e, 'sample', n=1000, seed=0).sha256, b(e, 'noniso').sha256)"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": s, "PYTHONPATH": str(REPO)},
        ).stdout.strip()
        for s in ("0", "123")
    }
    sample, noniso = rank_eval.build_arch_set(ENUM, "sample", n=1000, seed=0), rank_eval.build_arch_set(ENUM, "noniso")
    here = f"{sample.sha256} {noniso.sha256}"
    assert outs == {here}


def test_named_set_sizes():
    assert len(rank_eval.build_arch_set(ENUM, "all").indices) == NUM_ARCHS
    assert len(rank_eval.build_arch_set(ENUM, "connected").indices) == NUM_ARCHS - 341
    noniso = rank_eval.build_arch_set(ENUM, "noniso").indices
    assert len(noniso) == 6466 and noniso[0] == 0


def test_rank_table_matches_scipy_and_splits_owners():
    rng = np.random.default_rng(0)
    idx = np.array(rank_eval.build_arch_set(ENUM, "sample", n=200, seed=3).indices)
    truth = rng.normal(size=idx.size)
    scores = truth + rng.normal(size=idx.size)
    owners = ["stage1/child0" if i % 2 else "stage1/child1" for i in range(idx.size)]
    conn = rank_eval.connected_flags(ENUM, idx)
    np.testing.assert_array_equal(conn, connected_mask()[idx])
    rows = rank_eval.rank_table(scores, owners, idx, {("cifar10", "test"): truth}, conn)
    get = {(r["owner"], r["arch_set"], r["metric"]): r for r in rows}
    tau = get[("all", "all", "kendall_tau")]
    assert tau["n"] == 200 and tau["value"] == pytest.approx(stats.kendalltau(scores, truth).statistic)
    rho = get[("all", "all", "spearman_rho")]["value"]
    assert rho == pytest.approx(stats.spearmanr(scores, truth).statistic)
    half = get[("stage1/child0", "all", "kendall_tau")]
    assert half["n"] == 100
    assert ("all", "connected", "precision_at_5pct") in get and ("all", "all", "best_rank_at_1pct") in get
    assert get[("all", "connected", "kendall_tau")]["n"] == int(conn.sum())
    assert {r["eval_dataset"] for r in rows} == {"cifar10"} and {r["split"] for r in rows} == {"test"}
