"""Seed aggregation: mean, std and n per (space, search dataset, eval dataset, split, algorithm, variant).

Why its own module: tables, figures and the regression check all need the same numbers; computing them once
keeps "the table says X" and "the check compared X" the same X. Only runs with status "ok" are aggregated; n
counts the runs that actually have the value, so a missing ground truth lowers n instead of becoming a 0."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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


def summarize(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """mean, std (ddof=1; NaN when n < 2) and n of `value` per group (NaN values are not counted)."""
    grouped = frame.groupby(keys, dropna=False, sort=True)[value]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["n"] = out["n"].astype(int)
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
    sim = summarize(ok, list(GROUP_KEYS), "simulated_cost_s").rename(
        columns={"mean": "sim_mean", "std": "sim_std", "n": "sim_n"}
    )
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
