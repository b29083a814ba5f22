"""Rank-correlation evaluation (algorithms.md section 8): the harness fixes and hashes the arch set, the
algorithm's `SupernetScorer.score` scores it, and ground truth is joined here, never by the algorithm.

Arch sets (`RankEvalSpec.set`), from the space's enumeration capability (harness.spaces.base.Enumeration):
`sample` (n archs uniform without replacement from the whole space; NB201: of 15,625), and the space's named
sets (NB201: `all`, `connected` = the 15,284 cells with a path from input to output, `noniso` = the smallest
index of each of the 6,466 isomorphism classes). The sample is drawn by sorting indices by
sha256(f"{seed}:{index}"), so the set depends on nothing but (seed, n): identical across processes,
platforms and numpy versions. The set's hash covers its name and its sorted index list.

Metrics are computed for every ground-truth target (dataset, split; 200 epochs, seed mean), for owner "all"
and for each owning (sub-)supernet when there is more than one, on the whole set ("all") and its connected
members ("connected"). No torch here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import metrics
from harness.spaces.base import Enumeration


def connected_flags(enum: Enumeration | None, indices: Sequence[int]) -> np.ndarray:
    """Whether each index belongs to the space's "connected" set (all True when the space names none)."""
    if enum is None:
        return np.ones(len(indices), dtype=bool)
    try:
        members = np.asarray(enum.arch_set("connected"), dtype=np.int64)
    except ValueError:
        return np.ones(len(indices), dtype=bool)
    return np.isin(np.asarray(indices, dtype=np.int64), members)

GT_EPOCHS = 200
GT_SEED = "mean"
SCORE_NAME = "supernet_held_out_acc_pct"
K_PCTS: tuple[float, ...] = metrics.DEFAULT_K_PCTS
TOPK_TAU_PCTS: tuple[float, ...] = metrics.DEFAULT_TOPK_TAU_PCTS


@dataclass(frozen=True)
class ArchSet:
    name: str  # "sample(n=1000,seed=0)", "all", "connected", "noniso"
    indices: tuple[int, ...]  # ascending benchmark indices; positions 0..n-1 in a space without an index
    sha256: str
    archs: tuple[Any, ...] | None = None  # the architectures themselves, for spaces without an index


def build_sampled_set(values: Any, *, n: int, seed: int) -> ArchSet:
    """A seeded sample of n architectures drawn with the space's uniform sampler (spaces without an index, e.g.
    the DARTS space): numpy default_rng(seed), drawn in order, duplicates skipped. Its hash covers the text forms."""
    rng = np.random.default_rng(seed)
    archs: dict[Any, None] = {}
    for _ in range(100 * n):
        archs.setdefault(values.sample(rng))
        if len(archs) == n:
            break
    name = f"sample(n={n},seed={seed})"
    text = name + ":" + ",".join(a.to_str() for a in archs)
    return ArchSet(
        name=name,
        indices=tuple(range(len(archs))),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        archs=tuple(archs),
    )


def _sample_indices(n: int, seed: int, num_archs: int) -> list[int]:
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(num_archs)]
    order = sorted(range(num_archs), key=keys.__getitem__)
    return sorted(order[:n])


def build_arch_set(enum: Enumeration, set_name: str, *, n: int = 1000, seed: int = 0) -> ArchSet:
    """The fixed architecture set for rank evaluation (ValueError for an unknown set name or bad n)."""
    if set_name == "sample":
        if not 1 <= n <= enum.num_archs:
            raise ValueError(f"sample size n={n}; allowed 1..{enum.num_archs}")
        name, idx = f"sample(n={n},seed={seed})", _sample_indices(n, seed, enum.num_archs)
    else:
        name, idx = set_name, list(enum.arch_set(set_name))
    text = name + ":" + ",".join(map(str, idx))
    return ArchSet(name=name, indices=tuple(idx), sha256=hashlib.sha256(text.encode("ascii")).hexdigest())


def arch_set_for(spec: Any, space: Any) -> ArchSet | None:
    """The set of a `harness.config.RankEvalSpec` in `space` (None when set = "none"). Without an enumeration
    only `sample` exists (drawn with the space's sampler); ValueError for other set names there."""
    if spec.set == "none":
        return None
    if space.enumeration is not None:
        return build_arch_set(space.enumeration, spec.set, n=spec.n, seed=spec.seed)
    if spec.set != "sample":
        raise ValueError(f"arch set {spec.set!r} needs an enumerable space; space {space.name!r} has only 'sample'")
    return build_sampled_set(space.values, n=spec.n, seed=spec.seed)


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def metric_rows(
    scores: np.ndarray, truth: np.ndarray, indices: np.ndarray, conn: np.ndarray
) -> list[tuple[str, int, str, float | None]]:
    """(arch_set, n, metric, value) rows for the whole set and its connected members (`conn`, aligned with
    `indices`); NaN -> None (n/a)."""
    rows: list[tuple[str, int, str, float | None]] = []
    for arch_set, keep in (("all", np.ones(indices.size, dtype=bool)), ("connected", conn)):
        x, y, idx = scores[keep], truth[keep], indices[keep]
        n = int(x.size)
        tau = metrics.kendall_tau_b(x, y)
        rho = metrics.spearman_rho(x, y)
        rows.append((arch_set, n, "kendall_tau", _num(tau.value)))
        rows.append((arch_set, n, "spearman_rho", _num(rho.value)))
        if n > 0:
            for k in K_PCTS:
                p = metrics.precision_at_k(x, y, k, index=idx)
                b = metrics.best_rank_at_k(x, y, k, index=idx)
                rows.append((arch_set, n, f"precision_at_{k:g}pct", _num(p.value)))
                rows.append((arch_set, n, f"best_rank_at_{k:g}pct", _num(b.value)))
                rows.append((arch_set, n, f"best_rank_fraction_at_{k:g}pct", _num(b.fraction)))
            for k in TOPK_TAU_PCTS:
                t = metrics.topk_kendall_tau(x, y, k, index=idx)
                rows.append((arch_set, n, f"topk_kendall_tau_at_{k:g}pct", _num(t.value)))
        rows.append((arch_set, n, "n_ties", float(tau.ties)))
        rows.append((arch_set, n, "n_ties_score", float(tau.ties_score)))
        rows.append((arch_set, n, "n_ties_truth", float(tau.ties_truth)))
    return rows


def rank_table(
    scores: Sequence[float] | np.ndarray,
    owners: Sequence[str],
    indices: Sequence[int],
    truths: dict[tuple[str, str], np.ndarray],
    connected: Sequence[bool] | np.ndarray,
) -> list[dict[str, Any]]:
    """rank.csv rows (RANK_COLUMNS as dict keys) for every target and owner ("all" + each owner if > 1);
    `connected[i]` says whether arch i belongs to the "connected" subset."""
    s = np.asarray(scores, dtype=np.float64)
    idx = np.asarray(indices, dtype=np.int64)
    conn = np.asarray(connected, dtype=bool)
    own = np.asarray(list(owners), dtype=object)
    groups: list[tuple[str, np.ndarray]] = [("all", np.ones(idx.size, dtype=bool))]
    distinct = sorted(set(own.tolist()))
    if len(distinct) > 1:
        groups += [(o, own == o) for o in distinct]
    out: list[dict[str, Any]] = []
    for (dataset, split), truth in truths.items():
        for owner, mask in groups:
            for arch_set, n, metric, value in metric_rows(s[mask], np.asarray(truth)[mask], idx[mask], conn[mask]):
                out.append(
                    {
                        "owner": owner,
                        "eval_dataset": dataset,
                        "split": split,
                        "arch_set": arch_set,
                        "n": n,
                        "metric": metric,
                        "value": value,
                    }
                )
    return out
