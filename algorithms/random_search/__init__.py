"""random_search: an oracle-driven baseline (samples archs, keeps the best by benchmark validation accuracy).

It exists to exercise the `UsesOracle` path of the harness (the only kind of algorithm allowed to see ground
truth) and as the classic "random search with the benchmark as the evaluator" reference point.
"""

from __future__ import annotations

from algorithms.random_search.config import Config
from algorithms.random_search.search import RandomSearch

__all__ = ["Config", "RandomSearch"]
