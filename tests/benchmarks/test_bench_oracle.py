"""Speed of the embedded oracle (issue 2 acceptance): load + all 15,625 queries for one dataset < 100 ms
in-process after import; a `query` process < 1.5 s. Run: pytest -m benchmark tests/benchmarks
--benchmark-enable
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.oracle.table import TableOracle

pytestmark = pytest.mark.benchmark
REPO = Path(__file__).resolve().parents[2]


def _load_and_answer_all() -> int:
    oracle = TableOracle.from_package()  # uncached: reads and parses the packaged file every time
    idx = np.arange(15625)
    valid = oracle.accuracy(idx, dataset="cifar10", split="valid", epochs=200, seed="mean")
    test = oracle.accuracy(idx, dataset="cifar10", split="test", epochs=200, seed="mean")
    cost = oracle.cost(idx, dataset="cifar10")
    return valid.values.size + test.values.size + cost["params_m"].size


def test_bench_load_and_query_all(benchmark):
    assert benchmark(_load_and_answer_all) == 3 * 15625
    if benchmark.stats is not None:  # None when run with --benchmark-disable
        assert benchmark.stats.stats.median < 0.100


def _query_process() -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "query", "9930", "--dataset", "cifar10", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return time.perf_counter() - start


def test_bench_query_process(benchmark):
    seconds = benchmark.pedantic(_query_process, rounds=5, iterations=1, warmup_rounds=1)
    assert seconds < 1.5
    if benchmark.stats is not None:
        assert benchmark.stats.stats.median < 1.5
