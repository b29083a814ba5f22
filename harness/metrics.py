"""Rank-correlation metrics for proxy scores against ground truth (algorithms.md §8).

Why our own implementation: the protocol fixes tie rules that libraries leave open (top-K membership broken by
ascending NB201 index, the count tied at the cut recorded), every result must carry n, tie counts and a reason
when it is undefined, and the 341 chance-level disconnected cells create a heavy tie that must be handled
exactly.
Kendall tau-b is computed in O(n log^2 n) with numpy (a vectorised bottom-up merge count), equal to
`scipy.stats.kendalltau` to 1e-12; Spearman rho is the Pearson correlation of average ranks. No scipy at
runtime.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_K_PCTS: tuple[float, ...] = (1.0, 5.0, 10.0)
DEFAULT_TOPK_TAU_PCTS: tuple[float, ...] = (1.0, 10.0, 50.0)


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its support. `value` is NaN exactly when `reason` is set."""

    value: float
    n: int
    ties: int  # pairs tied in the scores or in the truth
    ties_score: int  # pairs tied in the scores
    ties_truth: int  # pairs tied in the ground truth
    reason: str | None = None


@dataclass(frozen=True)
class TopKResult:
    """P@K or BR@K for one K (percent of n). `k` = ceil(K% * n) architectures."""

    k_pct: float
    k: int
    n: int
    value: float  # P@K: overlap fraction; BR@K: best true rank (1 = best) among the predicted top-K
    fraction: float | None  # BR@K only: value / n
    tied_at_cut_score: int  # scores equal to the score at the cut, when that tie group straddles the cut
    tied_at_cut_truth: int  # the same for the ground truth
    reason: str | None = None


def _tie_pairs(sorted_values: np.ndarray) -> int:
    """Number of tied pairs in an already sorted 1-D array."""
    if sorted_values.size < 2:
        return 0
    boundaries = np.flatnonzero(np.diff(sorted_values) != 0)
    sizes = np.diff(np.concatenate(([0], boundaries + 1, [sorted_values.size])))
    return int((sizes * (sizes - 1) // 2).sum())


def _dense_ranks(values: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64).reshape(-1)


def _count_inversions(seq: np.ndarray) -> int:
    """Pairs i < j with seq[i] > seq[j] (strict), by a vectorised bottom-up merge (O(n log^2 n))."""
    arr = np.asarray(seq, dtype=np.int64).copy()
    n = arr.size
    if n < 2:
        return 0
    span = int(arr.max()) + 1
    positions = np.arange(n, dtype=np.int64)
    inversions = 0
    width = 1
    while width < n:
        block = positions // (2 * width)
        is_right = (positions // width) % 2 == 1
        keys = block * span + arr  # each half-block is sorted; keys keep blocks apart
        left_keys = keys[~is_right]
        right = np.flatnonzero(is_right)
        if right.size:
            rb = block[right]
            upper = np.searchsorted(left_keys, (rb + 1) * span, side="left")
            not_greater = np.searchsorted(left_keys, keys[right], side="right")
            inversions += int((upper - not_greater).sum())
        arr = np.sort(keys, kind="stable") - block * span  # merge every pair of halves
        width *= 2
    return inversions


def _prepare(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"scores and truth differ in length: {a.size} vs {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("scores and truth must be finite (a missing value is an error, not a NaN)")
    return a, b


def _undefined_reason(n: int, ties_x: int, ties_y: int) -> str | None:
    total = n * (n - 1) // 2
    if n < 3:
        return f"n={n} < 3"
    if ties_x == total:
        return "constant scores"
    if ties_y == total:
        return "constant ground truth"
    return None


def kendall_tau_b(scores: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray) -> Correlation:
    """Kendall tau-b (tie-corrected), as scipy.stats.kendalltau(variant='b')."""
    x, y = _prepare(scores, truth)
    n = x.size
    order = np.lexsort((y, x))  # by x, then y: pairs tied in x are never counted as discordant
    xs, ys = x[order], y[order]
    ties_x = _tie_pairs(xs)
    ties_y = _tie_pairs(np.sort(y))
    joint = _joint_tie_pairs(xs, ys)
    reason = _undefined_reason(n, ties_x, ties_y)
    ties = ties_x + ties_y - joint
    if reason is not None:
        return Correlation(math.nan, n, ties, ties_x, ties_y, reason)
    total = n * (n - 1) // 2
    discordant = _count_inversions(_dense_ranks(ys))
    concordant = total - ties_x - ties_y + joint - discordant
    value = (concordant - discordant) / math.sqrt(total - ties_x) / math.sqrt(total - ties_y)
    return Correlation(float(min(1.0, max(-1.0, value))), n, ties, ties_x, ties_y)


def _joint_tie_pairs(xs: np.ndarray, ys: np.ndarray) -> int:
    """Pairs tied in both x and y (inputs sorted by x then y)."""
    if xs.size < 2:
        return 0
    same = (np.diff(xs) == 0) & (np.diff(ys) == 0)
    boundaries = np.flatnonzero(~same)
    sizes = np.diff(np.concatenate(([0], boundaries + 1, [xs.size])))
    return int((sizes * (sizes - 1) // 2).sum())


def average_ranks(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (scipy.stats.rankdata 'average')."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    starts = np.concatenate(([True], sv[1:] != sv[:-1])) if v.size else np.zeros(0, dtype=bool)
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate((first[1:], [v.size])) - 1
    ranks = np.empty(v.size, dtype=np.float64)
    ranks[order] = (first[group] + last[group]) / 2.0 + 1.0
    return ranks


def spearman_rho(scores: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray) -> Correlation:
    """Spearman rho: Pearson correlation of average ranks."""
    x, y = _prepare(scores, truth)
    n = x.size
    ties_x, ties_y = _tie_pairs(np.sort(x)), _tie_pairs(np.sort(y))
    order = np.lexsort((y, x))
    joint = _joint_tie_pairs(x[order], y[order])
    reason = _undefined_reason(n, ties_x, ties_y)
    if reason is not None:
        return Correlation(math.nan, n, ties_x + ties_y - joint, ties_x, ties_y, reason)
    rx, ry = average_ranks(x), average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    value = float(np.dot(rx, ry) / math.sqrt(float(np.dot(rx, rx)) * float(np.dot(ry, ry))))
    return Correlation(float(min(1.0, max(-1.0, value))), n, ties_x + ties_y - joint, ties_x, ties_y)


def top_order(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Positions sorted best first (higher value first); ties broken by ascending NB201 index."""
    return np.lexsort((index, -values))


def _k_of(k_pct: float, n: int) -> int:
    if not 0 < k_pct <= 100:
        raise ValueError(f"K must be a percentage in (0, 100], got {k_pct}")
    return max(1, math.ceil(k_pct * n / 100.0 - 1e-9))


def _tied_at_cut(values: np.ndarray, order: np.ndarray, k: int) -> int:
    """Size of the tie group at the cut if it straddles the cut (some inside, some outside), else 0."""
    if k >= values.size:
        return 0
    cut = values[order[k - 1]]
    if values[order[k]] != cut:
        return 0
    return int((values == cut).sum())


def _index_or_default(index: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if index is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(index, dtype=np.int64).reshape(-1)
    if idx.size != n:
        raise ValueError(f"index has {idx.size} entries for {n} architectures")
    return idx


def precision_at_k(
    scores: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    k_pct: float,
    *,
    index: Sequence[int] | np.ndarray | None = None,
) -> TopKResult:
    """|predicted top-K% ∩ true top-K%| / ceil(K% n)."""
    x, y = _prepare(scores, truth)
    n = x.size
    if n == 0:
        return TopKResult(k_pct, 0, 0, math.nan, None, 0, 0, "n=0")
    idx = _index_or_default(index, n)
    k = _k_of(k_pct, n)
    ox, oy = top_order(x, idx), top_order(y, idx)
    overlap = np.intersect1d(ox[:k], oy[:k], assume_unique=True).size
    return TopKResult(k_pct, k, n, overlap / k, None, _tied_at_cut(x, ox, k), _tied_at_cut(y, oy, k))


def best_rank_at_k(
    scores: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    k_pct: float,
    *,
    index: Sequence[int] | np.ndarray | None = None,
) -> TopKResult:
    """Best true rank (1 = best; tied truths share the best rank of their group) among the predicted
    top-K%."""
    x, y = _prepare(scores, truth)
    n = x.size
    if n == 0:
        return TopKResult(k_pct, 0, 0, math.nan, None, 0, 0, "n=0")
    idx = _index_or_default(index, n)
    k = _k_of(k_pct, n)
    ox, oy = top_order(x, idx), top_order(y, idx)
    # competition rank: 1 + number of strictly better truths
    sorted_desc = np.sort(-y)
    true_rank = np.searchsorted(sorted_desc, -y, side="left") + 1
    best = int(true_rank[ox[:k]].min())
    return TopKResult(k_pct, k, n, float(best), best / n, _tied_at_cut(x, ox, k), _tied_at_cut(y, oy, k))


def topk_kendall_tau(
    scores: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    k_pct: float,
    *,
    index: Sequence[int] | np.ndarray | None = None,
) -> Correlation:
    """Kendall tau-b restricted to the ground-truth top-K% (membership ties broken by ascending index)."""
    x, y = _prepare(scores, truth)
    n = x.size
    if n == 0:
        return Correlation(math.nan, 0, 0, 0, 0, "n=0")
    idx = _index_or_default(index, n)
    keep = top_order(y, idx)[: _k_of(k_pct, n)]
    return kendall_tau_b(x[keep], y[keep])


def rank_report(
    scores: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    *,
    index: Sequence[int] | np.ndarray | None = None,
    include: np.ndarray | None = None,
    k_pcts: Sequence[float] = DEFAULT_K_PCTS,
    topk_tau_pcts: Sequence[float] = DEFAULT_TOPK_TAU_PCTS,
) -> dict[str, object]:
    """All metrics as a JSON-safe dict (NaN -> None with a reason). `include`: boolean mask of archs to keep
    (e.g. connected cells only)."""
    x, y = _prepare(scores, truth)
    idx = _index_or_default(index, x.size)
    if include is not None:
        mask = np.asarray(include, dtype=bool).reshape(-1)
        if mask.size != x.size:
            raise ValueError(f"include mask has {mask.size} entries for {x.size} architectures")
        x, y, idx = x[mask], y[mask], idx[mask]
    tau, rho = kendall_tau_b(x, y), spearman_rho(x, y)

    def num(v: float) -> float | None:
        return None if math.isnan(v) else v

    def key(k: float) -> str:
        return f"{k:g}"

    p_at = {key(k): precision_at_k(x, y, k, index=idx) for k in k_pcts}
    br_at = {key(k): best_rank_at_k(x, y, k, index=idx) for k in k_pcts}
    tk = {key(k): topk_kendall_tau(x, y, k, index=idx) for k in topk_tau_pcts}
    reasons = {
        name: r.reason
        for name, r in (
            ("kendall_tau", tau),
            ("spearman_rho", rho),
            *((f"topk_kendall_tau@{k}", v) for k, v in tk.items()),
        )
        if r.reason
    }
    return {
        "n": int(x.size),
        "kendall_tau": num(tau.value),
        "spearman_rho": num(rho.value),
        "precision_at_k": {k: num(r.value) for k, r in p_at.items()},
        "best_rank_at_k": {k: None if math.isnan(r.value) else int(r.value) for k, r in br_at.items()},
        "best_rank_fraction_at_k": {k: r.fraction for k, r in br_at.items()},
        "topk_kendall_tau": {k: num(r.value) for k, r in tk.items()},
        "ties": {"pairs": tau.ties, "score_pairs": tau.ties_score, "truth_pairs": tau.ties_truth},
        "tied_at_cut": {
            k: {"score": r.tied_at_cut_score, "truth": r.tied_at_cut_truth} for k, r in p_at.items()
        },
        "reasons": reasons,
        "details": {
            "kendall_tau": asdict(tau),
            "spearman_rho": asdict(rho),
        },
    }
