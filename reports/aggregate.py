"""Seed aggregation: mean, std, n and a 95 % bootstrap interval per (space, search dataset, eval dataset, split,
algorithm, variant), and bootstrap intervals of rank correlations over the scored architectures.

Why its own module: tables, figures and the regression check all need the same numbers; computing them once
keeps "the table says X" and "the check compared X" the same X. Only runs with status "ok" are aggregated; n
counts the runs that actually have the value, so a missing ground truth lowers n instead of becoming a 0.
Every interval is drawn from a fixed seed, so the same runs give the same report."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from reports.load import JUDGE_COLUMNS, SURROGATE_JUDGE, RunSet

GROUP_KEYS: tuple[str, ...] = ("space", "search_dataset", "algorithm", "variant")
EVAL_KEYS: tuple[str, ...] = ("eval_dataset", "split")
PRIMARY_EVAL: tuple[str, str] = ("cifar10", "test")

#: the NB201 paper's column order
EVAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cifar10", "valid"),
    ("cifar10", "test"),
    ("cifar100", "valid"),
    ("cifar100", "test"),
    ("imagenet16-120", "valid"),
    ("imagenet16-120", "test"),
)


def eval_columns_for(search_dataset: str) -> tuple[tuple[str, str], ...]:
    """EVAL_COLUMNS with the search data set's columns first (a CIFAR-100 search is judged on CIFAR-100 first;
    the other data sets are transfer), the rest in the paper's order."""
    own = tuple(e for e in EVAL_COLUMNS if e[0] == search_dataset)
    return own + tuple(e for e in EVAL_COLUMNS if e[0] != search_dataset)


def primary_eval(search_dataset: str) -> tuple[str, str]:
    """The primary ground truth of a group: the search data set's test accuracy (CIFAR-10 test otherwise)."""
    return (search_dataset, "test") if (search_dataset, "test") in EVAL_COLUMNS else PRIMARY_EVAL


#: the one target a surrogate judge predicts (DARTS space: NB301 protocol, CIFAR-10 validation accuracy)
SURROGATE_EVAL: tuple[str, str] = ("cifar10", "valid")

#: numbers the space computed about each run's final architecture (runs frame column -> short name)
FINAL_FACTS: tuple[tuple[str, str], ...] = (
    ("final_params_m", "params_m"),
    ("final_surrogate_percentile", "surrogate_percentile"),
)

#: shown when a surrogate judge recorded no label (never happens with the runner; old or hand-made records)
FALLBACK_SURROGATE_LABEL = "surrogate prediction, not a measured accuracy"


@dataclass(frozen=True)
class GroupJudge:
    """Who gave the accuracies of one (space, search dataset) group: decides the table layout and the labels.

    A group is judged by a surrogate when any of its ok runs says so; a group whose runs name different labels
    shows them all (joined by " / ") rather than picking one."""

    kind: str  # "surrogate", "benchmark", ... or "unknown" (old runs without provenance.judge)
    label: str
    name: str

    @property
    def is_surrogate(self) -> bool:
        return self.kind == SURROGATE_JUDGE


def _joined(values: pd.Series) -> str:
    return " / ".join(sorted({str(v) for v in values.dropna()}))


def group_judge(rs: RunSet, space: str, search_dataset: str) -> GroupJudge:
    """The judge of the ok runs of (space, search dataset); a surrogate wins over other kinds (see GroupJudge)."""
    ok = rs.ok_runs
    part = ok[(ok["space"] == space) & (ok["search_dataset"] == search_dataset)]
    kinds = set(part["judge_kind"].dropna())
    if SURROGATE_JUDGE in kinds:
        sur = part[part["judge_kind"] == SURROGATE_JUDGE]
        label = _joined(sur["judge_label"]) or FALLBACK_SURROGATE_LABEL
        return GroupJudge(SURROGATE_JUDGE, label, _joined(sur["judge_name"]))
    kind = _joined(part["judge_kind"]) or "unknown"
    return GroupJudge(kind, _joined(part["judge_label"]), _joined(part["judge_name"]))


#: level of every interval a report prints
CONFIDENCE = 0.95
#: resamples of a seed-level interval (a handful of values: cheap)
SEED_RESAMPLES = 2000
#: resamples of a rank-correlation interval (each one re-ranks hundreds of architectures per seed)
ARCH_RESAMPLES = 1000
#: scipy >= 1.15 takes the generator as `rng`; older versions (pyproject allows >= 1.10) as `random_state`
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


def _percentile_bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., object],
    *,
    n_resamples: int,
    seed: int,
    confidence: float = CONFIDENCE,
    vectorized: bool | None = None,
) -> tuple[float, float]:
    """scipy.stats.bootstrap's percentile interval, drawn from a fixed seed (the same runs, the same report).

    Percentile, not BCa: BCa's jackknife is undefined or degenerate for the 2-5 seeds of a table row, and the
    percentile interval needs nothing but the resampled statistic."""
    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        vectorized=vectorized,
        method="percentile",
        confidence_level=confidence,
        **{_RNG_KEYWORD: np.random.default_rng(seed)},
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[..., object] = np.mean,
    confidence: float = CONFIDENCE,
    n_resamples: int = SEED_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval (scipy.stats.bootstrap) of `statistic` over the finite `values`.

    (nan, nan) for fewer than 2 finite values: one value has no spread to resample, and the table says so
    instead of printing a zero-width interval. All values equal: (v, v) directly (every resample is the same)."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size < 2:
        return float("nan"), float("nan")
    if np.all(data == data[0]):
        v = float(statistic(data))  # type: ignore[arg-type]
        return v, v
    return _percentile_bootstrap((data,), statistic, n_resamples=n_resamples, seed=seed, confidence=confidence)


def summarize(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """mean, std (ddof=1; NaN when n < 2), n, and the 95 % bootstrap interval of the mean over the group's values
    (ci_lo, ci_hi; NaN when n < 2) of `value` per group (NaN values are not counted)."""
    grouped = frame.groupby(keys, dropna=False, sort=True)[value]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["n"] = out["n"].astype(int)
    intervals = [bootstrap_ci(part.to_numpy()) for _, part in grouped]  # the same (sorted) group order as agg
    out["ci_lo"] = [lo for lo, _ in intervals]
    out["ci_hi"] = [hi for _, hi in intervals]
    return out


def _with_run_keys(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    cols = ["run_id", *GROUP_KEYS, "seed", "device_kind", "search_cost_s"]
    return frame.merge(runs[cols], on="run_id", how="inner")


def final_per_run(rs: RunSet) -> pd.DataFrame:
    """One row per (ok run, eval dataset, split): the final architecture's ground-truth accuracy."""
    finals = rs.archs[rs.archs["role"] == "final"][
        ["run_id", "arch", "index", "eval_dataset", "split", "gt_acc"]
    ]
    finals = finals.dropna(subset=["eval_dataset"])
    return _with_run_keys(finals, rs.ok_runs)


def final_accuracy(rs: RunSet) -> pd.DataFrame:
    """Seed aggregate of the final architecture's GT accuracy per group and (eval dataset, split)."""
    per_run = final_per_run(rs)
    return summarize(per_run, [*GROUP_KEYS, *EVAL_KEYS], "gt_acc")


def trained_accuracy(rs: RunSet) -> pd.DataFrame:
    """Seed aggregate, per search group, of the test accuracy measured by training its runs' final
    architectures from scratch (`train` runs of the same space, on the search data set). A run whose final
    architecture has no such run does not count (n says how many did); several train runs of one
    architecture (seeds) are averaged first."""
    final_arch = rs.archs[rs.archs["role"] == "final"][["run_id", "arch"]].drop_duplicates("run_id")
    trained = rs.trained_runs.dropna(subset=["trained_test_acc_pct"]).merge(final_arch, on="run_id")
    measured = trained.groupby(["space", "search_dataset", "arch"])["trained_test_acc_pct"].mean().reset_index()
    finals = rs.ok_runs[["run_id", *GROUP_KEYS]].merge(final_arch, on="run_id")
    joined = finals.merge(measured, on=["space", "search_dataset", "arch"], how="left")
    return summarize(joined, list(GROUP_KEYS), "trained_test_acc_pct")


def final_facts(rs: RunSet) -> pd.DataFrame:
    """Seed aggregate of each fact about the final architecture (params, surrogate percentile) per group.

    Long format (a `fact` column with FINAL_FACTS' short names) so a new fact needs no new code path; runs
    without the fact (NB201, old runs) lower n instead of counting as 0."""
    ok = rs.ok_runs
    parts = [summarize(ok, list(GROUP_KEYS), column).assign(fact=short) for column, short in FINAL_FACTS]
    return pd.concat(parts, ignore_index=True)


def final_facts_per_run(rs: RunSet) -> pd.DataFrame:
    """Judge and final-architecture facts of every ok run judged by a surrogate (the per-run values behind the
    DARTS-space Table 1); empty when no run was, so NB201 reports gain no file."""
    ok = rs.ok_runs
    part = ok[ok["judge_kind"] == SURROGATE_JUDGE]
    return part[["run_id", *GROUP_KEYS, "seed", *JUDGE_COLUMNS]].reset_index(drop=True)


def search_cost(rs: RunSet) -> pd.DataFrame:
    """Seed aggregate of search device seconds per group, with the device kinds that produced it."""
    ok = rs.ok_runs
    out = summarize(ok, list(GROUP_KEYS), "search_cost_s")
    sim = summarize(ok, list(GROUP_KEYS), "simulated_cost_s")
    sim = sim.rename(columns={c: f"sim_{c}" for c in ("mean", "std", "n", "ci_lo", "ci_hi")})
    out = out.merge(sim, on=list(GROUP_KEYS), how="left")
    kinds = ok.groupby(list(GROUP_KEYS), dropna=False)["device_kind"].agg(lambda s: ",".join(sorted(set(s))))
    return out.merge(kinds.reset_index(), on=list(GROUP_KEYS), how="left")


def rank_metrics(rs: RunSet) -> pd.DataFrame:
    """Seed aggregate of rank.csv values per group, owner, eval dataset, split, arch set and metric."""
    rank = _with_run_keys(rs.rank, rs.ok_runs)
    keys = [*GROUP_KEYS, "owner", *EVAL_KEYS, "arch_set", "metric"]
    out = summarize(rank, keys, "value")
    n_archs = rank.groupby(keys, dropna=False)["n"].mean().rename("n_archs").reset_index()
    return out.merge(n_archs, on=keys, how="left")


def stage_picks(rs: RunSet) -> pd.DataFrame:
    """One row (run_id, stage, child) per picked sub-supernet.

    archs.csv repeats a stage pick that carries an arch once per eval dataset x split; this collapses them.
    """
    picks = rs.archs[rs.archs["role"] == "stage_pick"][["run_id", "stage", "child"]].dropna()
    return picks.drop_duplicates(subset=["run_id", "stage"]).reset_index(drop=True)


def stage_sizes(rs: RunSet) -> pd.DataFrame:
    """Remaining search-space size after each stage, per run (records metric 'remaining_space').

    A stage-level row (empty child) is used when present; otherwise the picked child's row (archs.csv
    stage_pick) gives the stage's remaining size.
    """
    rec = rs.records[rs.records["metric"] == "remaining_space"].dropna(subset=["stage"])
    if rec.empty:
        return pd.DataFrame(columns=["run_id", *GROUP_KEYS, "seed", "stage", "remaining_space"])
    stage_level = rec[rec["child"].isna()]
    rows = stage_level[["run_id", "stage", "value"]]
    missing = rec[~rec.set_index(["run_id", "stage"]).index.isin(rows.set_index(["run_id", "stage"]).index)]
    if not missing.empty:
        picked = missing.merge(stage_picks(rs), on=["run_id", "stage", "child"], how="inner")
        rows = pd.concat([rows, picked[["run_id", "stage", "value"]]], ignore_index=True)
    rows = rows.drop_duplicates(subset=["run_id", "stage"], keep="last").rename(
        columns={"value": "remaining_space"}
    )
    out = _with_run_keys(rows, rs.ok_runs)
    return out.sort_values(["algorithm", "variant", "seed", "stage"]).reset_index(drop=True)


def children(rs: RunSet) -> pd.DataFrame:
    """Every child (sub-supernet) row of archs.csv with its run keys: the arch it derives, score and GT."""
    kids = rs.archs[rs.archs["role"] == "child"]
    return _with_run_keys(kids, rs.ok_runs)


def rank_eval_points(rs: RunSet) -> pd.DataFrame:
    """Supernet score and GT of every rank-eval architecture (archs.csv role rank_eval)."""
    pts = rs.archs[rs.archs["role"] == "rank_eval"]
    return _with_run_keys(pts, rs.ok_runs)


#: rank correlations with an interval over the scored architectures (rank.csv metric names)
RANK_CI_METRICS: tuple[str, ...] = ("kendall_tau", "spearman_rho")
RANK_CI_COLUMNS: tuple[str, ...] = (
    *GROUP_KEYS,
    *EVAL_KEYS,
    "metric",
    "value",
    "ci_lo",
    "ci_hi",
    "n_archs",
    "n_seeds",
    "matched",
)
#: float32 entries of one block of the pairwise sign matrix (bounds memory for a whole-space arch set)
_SIGN_BLOCK = 4_000_000


@dataclass(frozen=True)
class _TieGroups:
    """Runs of equal values of one sample, so a resample's ranks come from draw counts without re-sorting."""

    order: np.ndarray  # positions sorted by value
    starts: np.ndarray | None  # where each run of equal values begins in `order`; None when all are distinct
    group: np.ndarray  # each position's group (in value order)

    @classmethod
    def of(cls, values: np.ndarray) -> _TieGroups:
        uniq, group = np.unique(values, return_inverse=True)
        order = np.argsort(group, kind="stable")
        starts = None if uniq.size == values.size else np.searchsorted(group[order], np.arange(uniq.size))
        return cls(order, starts, group)

    def sizes(self, counts: np.ndarray) -> np.ndarray:
        """Resampled items in each group (resamples x groups, value order), from the draw counts per position."""
        ordered = np.take(counts, self.order, axis=1)
        return ordered if self.starts is None else np.add.reduceat(ordered, self.starts, axis=1)

    def ranks(self, counts: np.ndarray) -> np.ndarray:
        """Average rank of each position's copies in every resample: a group of T items above `below` others
        shares below + (T+1)/2 (= cumulative count - (T-1)/2), as scipy.stats.rankdata(method='average') ranks
        the resampled array."""
        sizes = self.sizes(counts)
        ranks = np.cumsum(sizes, axis=1)
        ranks -= 0.5 * (sizes - 1)
        return np.take(ranks, self.group, axis=1)


def _tied_pairs(sizes: np.ndarray) -> np.ndarray:
    """Pairs tied within the groups of `sizes` (resamples x groups), per resample."""
    return (sizes * (sizes - 1) / 2).sum(axis=1)


@dataclass(frozen=True)
class _RankSample:
    """One seed's scores and ground truths, and the correlations of any resample of them given as draw counts
    (resamples x n: how often each architecture was drawn), equal to scipy's on the resampled arrays."""

    x: np.ndarray  # supernet scores
    y: np.ndarray  # ground truth (or surrogate prediction)
    gx: _TieGroups
    gy: _TieGroups

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> _RankSample:
        return cls(x, y, _TieGroups.of(x), _TieGroups.of(y))

    def kendall(self, counts: np.ndarray) -> np.ndarray:
        """Kendall tau-b: S = sum over pairs of architectures of count_i count_j sign(dx) sign(dy) (copies of one
        architecture are tied in both and add 0) over the tie-corrected number of pairs. O(resamples x n^2) as a
        float32 matrix product, exact (every term is a small integer), in row blocks to bound memory."""
        n = counts.shape[1]
        c32 = counts.astype(np.float32)
        s = np.zeros(counts.shape[0])
        step = max(1, _SIGN_BLOCK // n)
        for start in range(0, n, step):
            blk = slice(start, start + step)
            sign = np.sign(self.x[blk, None] - self.x[None, :]) * np.sign(self.y[blk, None] - self.y[None, :])
            s += np.einsum("bi,bi->b", (c32 @ sign.astype(np.float32).T).astype(np.float64), counts[:, blk])
        pairs = n * (n - 1) / 2
        tied_x, tied_y = _tied_pairs(self.gx.sizes(counts)), _tied_pairs(self.gy.sizes(counts))
        with np.errstate(invalid="ignore", divide="ignore"):
            return 0.5 * s / np.sqrt((pairs - tied_x) * (pairs - tied_y))

    def spearman(self, counts: np.ndarray) -> np.ndarray:
        """Spearman rho: the count-weighted Pearson correlation of average ranks (whose mean is (n+1)/2)."""
        mid = (counts.shape[1] + 1) / 2
        dx, dy = self.gx.ranks(counts), self.gy.ranks(counts)
        dx -= mid
        dy -= mid
        cov, var_x, var_y = (np.einsum("bi,bi,bi->b", counts, a, b) for a, b in ((dx, dy), (dx, dx), (dy, dy)))
        with np.errstate(invalid="ignore", divide="ignore"):
            return cov / np.sqrt(var_x * var_y)

    def full(self, metric: str) -> float:
        """The statistic on the whole sample (scipy; NaN when it is undefined, e.g. constant scores)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            fn = stats.kendalltau if metric == "kendall_tau" else stats.spearmanr
            return float(fn(self.x, self.y)[0])


def _draw_counts(positions: np.ndarray, n: int) -> np.ndarray:
    """How often each of the n points was drawn, per resample: (..., n) resampled positions -> (resamples, n)."""
    pos = np.asarray(positions, dtype=np.intp).reshape(-1, n)
    rows = np.arange(pos.shape[0])[:, None] * n
    return np.bincount((rows + pos).ravel(), minlength=pos.size).reshape(pos.shape).astype(np.float64)


def _mean_over_seeds(samples: list[_RankSample], metric: str, matched: bool) -> Callable[..., np.ndarray]:
    """The bootstrap statistic: each seed's correlation on its resample, averaged over seeds. Matched seeds
    get one shared resample of positions (scipy passes one sample); otherwise one resample per seed."""

    def statistic(*positions: np.ndarray, axis: int = -1) -> np.ndarray:  # resamples along the last axis
        per_seed = positions * len(samples) if matched else positions
        values = []
        for sample, pos in zip(samples, per_seed, strict=True):
            counts = _draw_counts(pos, sample.x.size)
            values.append(sample.kendall(counts) if metric == "kendall_tau" else sample.spearman(counts))
        return np.mean(values, axis=0).reshape(np.shape(positions[0])[:-1])

    return statistic


def _seed_samples(part: pd.DataFrame) -> tuple[list[_RankSample], bool]:
    """One _RankSample per run of a group (sorted by arch), and whether every run scored the same architectures
    (the runner's fixed rank-eval set: then the samples are aligned arch by arch)."""
    runs = [r.sort_values("arch", kind="stable") for _, r in part.groupby("run_id", sort=True)]
    first = runs[0]["arch"].to_numpy()
    matched = runs[0]["arch"].is_unique and all(np.array_equal(r["arch"].to_numpy(), first) for r in runs)
    samples = [_RankSample.of(r["score"].to_numpy(np.float64), r["gt_acc"].to_numpy(np.float64)) for r in runs]
    return samples, matched


def rank_correlation_ci(rs: RunSet, n_resamples: int = ARCH_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Kendall tau-b and Spearman rho of the whole-space owner per group and (eval dataset, split), with a 95 %
    percentile bootstrap interval over the scored architectures (RANK_CI_COLUMNS, one row per metric).

    value = mean over seeds of each seed's statistic on all its scored architectures (archs.csv rank_eval rows:
    the same scores and ground truths rank.csv's owner "all" value is computed from). The interval resamples the
    architectures: when every seed scored the same architectures (`matched`, the runner's fixed rank-eval set)
    one resample of them is shared by all seeds, each seed's statistic is taken on it and averaged; otherwise
    each seed's architectures are resampled on their own. So it says how much the number depends on WHICH
    architectures were sampled, not how much it varies from seed to seed (the per-seed values in each run's
    rank.csv show that). NaN interval for fewer than 2 architectures. n_archs = architectures per seed (mean when
    the seeds' counts differ).

    Cost per seed and evaluation: O(n_resamples x n_archs^2) for τ (a float32 matrix product: ~0.05 s for 1,000
    architectures, ~10 s for the whole 15,625-architecture NB201 space), O(n_resamples x n_archs) for ρ."""
    pts = rank_eval_points(rs).dropna(subset=["score", "gt_acc"])
    keys = [*GROUP_KEYS, *EVAL_KEYS]
    rows = []
    for key, part in pts.groupby(keys, sort=True):
        samples, matched = _seed_samples(part)
        lengths = [s.x.size for s in samples]
        positions = tuple(np.arange(n) for n in (lengths[:1] if matched else lengths))
        for metric in RANK_CI_METRICS:
            value = float(np.mean([s.full(metric) for s in samples]))
            lo, hi = float("nan"), float("nan")
            if min(lengths) >= 2:
                statistic = _mean_over_seeds(samples, metric, matched)
                lo, hi = _percentile_bootstrap(
                    positions, statistic, n_resamples=n_resamples, seed=seed, vectorized=True
                )
            rows.append((*key, metric, value, lo, hi, round(float(np.mean(lengths))), len(samples), matched))
    return pd.DataFrame(rows, columns=list(RANK_CI_COLUMNS))


def cost_unit(device_kinds: pd.Series) -> str:
    """'GPU-hours' / 'CPU-hours' by the runs' devices; 'device-hours (mixed CPU/GPU)' when they differ."""
    kinds = {k for k in device_kinds.dropna() if k != "unknown"}
    if kinds == {"gpu"}:
        return "GPU-hours"
    if kinds == {"cpu"}:
        return "CPU-hours"
    if not kinds:
        return "device-hours (device unknown)"
    return "device-hours (mixed CPU/GPU)"


def space_cost_unit(rs: RunSet, space: str) -> str:
    """cost_unit of the ok runs of one search space: NB201 CPU runs beside DARTS GPU runs keep "CPU-hours", and a
    directory of one space gets the same unit as before spaces were told apart."""
    ok = rs.ok_runs
    return cost_unit(ok[ok["space"] == space]["device_kind"])
