"""Paper-style tables from aggregated run records, rendered as Markdown, LaTeX (booktabs) and CSV.

Why one table model with three renderers: the same cells (and the same bold marks) must appear in every
format, so the numbers are formatted once. Missing numbers print as "n/a", never as 0; every mean carries its n
and a 95 % bootstrap interval ("(n=1, no CI)" when one value cannot give one); quoted reference rows are labelled
as quoted and never take part in "best per column"."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reports import aggregate as agg
from reports.load import RunSet

NA = "n/a"
REFERENCES_DIR = Path(__file__).resolve().parent / "references"

DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}
RANK_METRICS: tuple[tuple[str, str], ...] = (
    ("kendall_tau", "Kendall τ-b"),
    ("spearman_rho", "Spearman ρ"),
    ("precision_at_1pct", "P@1%"),
    ("precision_at_5pct", "P@5%"),
    ("precision_at_10pct", "P@10%"),
)


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    """A rendered-once table: `groups` are row blocks separated by a rule (measured rows, optimum, quoted).

    `folded`: rows kept out of the main table (rank tables: per-child owners of a few architectures each); the
    Markdown renderer appends them as a collapsed section titled `folded_summary`, the report writes them to
    files of their own."""

    name: str  # file stem
    title: str
    columns: tuple[str, ...]
    groups: tuple[tuple[tuple[Cell, ...], ...], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    folded: Table | None = None
    folded_summary: str = ""

    @property
    def rows(self) -> list[tuple[Cell, ...]]:
        return [row for group in self.groups for row in group]


# ----------------------------------------------------------------------------------------------- formatting
def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def fmt_num(x: object, digits: int = 2) -> str:
    return f"{float(x):.{digits}f}" if _finite(x) else NA  # type: ignore[arg-type]


@dataclass(frozen=True)
class Stat:
    """A mean as a cell shows it: its 95 % interval (NaN when there is none) and the n behind it."""

    mean: float
    lo: float
    hi: float
    n: int
    n_text: str = ""  # n as printed when it is not a count of runs, e.g. "1000×4" (architectures × seeds)

    def scaled(self, factor: float) -> Stat:
        return Stat(self.mean * factor, self.lo * factor, self.hi * factor, self.n, self.n_text)


NO_STAT = Stat(float("nan"), float("nan"), float("nan"), 0)

CI_NOTE = (
    f"[lo, hi]: {agg.CONFIDENCE * 100:.0f} % percentile bootstrap CI (scipy.stats.bootstrap, {agg.SEED_RESAMPLES:,} "
    f"resamples) over seeds; rank correlations: over the scored architectures ({agg.ARCH_RESAMPLES:,} resamples). "
    "(n=k): the values behind the mean; (n=1, no CI): a single value, no interval."
)


def fmt_ci(stat: Stat, digits: int = 2) -> str:
    """'mean [lo, hi] (n=k)', or 'mean (n=k, no CI)' without an interval (one value); n/a without a mean."""
    if stat.n == 0 or not _finite(stat.mean):
        return NA
    n = stat.n_text or str(stat.n)
    mean = fmt_num(stat.mean, digits)
    if _finite(stat.lo) and _finite(stat.hi):
        return f"{mean} [{fmt_num(stat.lo, digits)}, {fmt_num(stat.hi, digits)}] (n={n})"
    return f"{mean} (n={n}, no CI)"


def _row_stat(row: pd.Series, prefix: str = "") -> Stat:
    """The Stat of one aggregate row (agg.summarize columns, optionally prefixed, e.g. 'sim_')."""
    return Stat(
        float(row[f"{prefix}mean"]), float(row[f"{prefix}ci_lo"]), float(row[f"{prefix}ci_hi"]), int(row[f"{prefix}n"])
    )


def hours_digits(hours: float) -> int:
    """Decimals that show about 3 significant digits of `hours` (at least 2)."""
    if not math.isfinite(hours) or hours <= 0:
        return 2
    return max(2, 2 - math.floor(math.log10(hours)))


def method_label(algorithm: str, variant: str) -> str:
    return algorithm if variant == "default" else f"{algorithm} [{variant}]"


# ------------------------------------------------------------------------------------------------ references
@dataclass(frozen=True)
class Reference:
    label: str
    kind: str  # "quoted" | "benchmark"
    space: str
    search_dataset: str | None
    source: str
    file: str
    frame: pd.DataFrame  # method, eval_dataset, split, mean, std


def load_references(directory: Path = REFERENCES_DIR) -> list[Reference]:
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    refs = []
    for entry in index["tables"]:
        frame = pd.read_csv(directory / entry["file"], keep_default_na=False, na_values=[""])
        refs.append(
            Reference(
                label=entry["label"],
                kind=entry["kind"],
                space=entry["space"],
                search_dataset=entry["search_dataset"],
                source=entry["source"],
                file=entry["file"],
                frame=frame,
            )
        )
    return refs


def has_eval_columns(ref: Reference) -> bool:
    """True for a reference in the NB201 layout (a value per eval dataset and split); DARTS-space files instead
    hold params and a published test accuracy (see references/index.json)."""
    return {"method", "eval_dataset", "split", "mean", "std"} <= set(ref.frame.columns)


# --------------------------------------------------------------------------------------------------- Table 1
def _bold_best(rows: list[list[Cell]], values: list[list[float]], lower_is_better: set[int]) -> None:
    """Bold the best finite value of each column (ties all bold), in place."""
    if not rows:
        return
    for j in range(len(values[0])):
        col = [v[j] for v in values]
        finite = [v for v in col if _finite(v)]
        if not finite:
            continue
        best = min(finite) if j in lower_is_better else max(finite)
        for i, v in enumerate(col):
            if _finite(v) and v == best:
                rows[i][j + 2] = Cell(rows[i][j + 2].text, bold=True)


def _rows(frame: pd.DataFrame, **equal: object) -> pd.DataFrame:
    """Rows of `frame` whose columns equal the given values (e.g. space=..., algorithm=..., variant=...)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in equal.items():
        mask &= frame[column] == value
    return frame[mask]


def _stat(frame: pd.DataFrame, **equal: object) -> Stat:
    """The Stat of the one aggregated row matching `equal`; NO_STAT (n/a) when there is none."""
    sel = _rows(frame, **equal)
    return NO_STAT if sel.empty else _row_stat(sel.iloc[0])


TRAINED_COLUMN = "Trained from scratch (test %)"


def table1(rs: RunSet, references: list[Reference] | None = None) -> list[Table]:
    """One table per (space, search dataset): the NB201 paper layout (ground-truth columns per eval data set),
    or the DARTS paper layout (`surrogate_table1`) for a group whose runs were judged by a surrogate."""
    references = load_references() if references is None else references
    acc = agg.final_accuracy(rs)
    cost = agg.search_cost(rs)
    trained = agg.trained_accuracy(rs)
    ok = rs.ok_runs
    tables = []
    facts = agg.final_facts(rs)
    for (space, search), group_runs in ok.groupby(["space", "search_dataset"], sort=True):
        unit = agg.space_cost_unit(rs, space)
        data = Table1Data(acc=acc, cost=cost, trained=trained, facts=facts, unit=unit)
        judge = agg.group_judge(rs, space, search)
        if judge.is_surrogate:
            tables.append(surrogate_table1(data, space, search, group_runs, judge, references))
            continue
        eval_columns = agg.eval_columns_for(search)
        cols = ["Method", "n", f"Search cost ({unit})"]
        cols += [f"{DATASET_LABELS.get(d, d)} {s}" for d, s in eval_columns]
        cols.append(TRAINED_COLUMN)
        group_cost = cost[(cost["space"] == space) & (cost["search_dataset"] == search)]
        simulated = bool((group_cost["sim_n"] > 0).any())
        cost_digits = _column_digits(group_cost["mean"])
        sim_digits = _column_digits(group_cost["sim_mean"])
        if simulated:
            cols.append("Simulated training (benchmark GPU-hours)")
        measured: list[list[Cell]] = []
        values: list[list[float]] = []
        keys = group_runs[["algorithm", "variant"]].drop_duplicates().sort_values(["algorithm", "variant"])
        for algorithm, variant in keys.itertuples(index=False):
            n_runs = int(((group_runs["algorithm"] == algorithm) & (group_runs["variant"] == variant)).sum())
            c = _rows(cost, space=space, search_dataset=search, algorithm=algorithm, variant=variant).iloc[0]
            row = [
                Cell(method_label(algorithm, variant)),
                Cell(str(n_runs)),
                Cell(_fmt_cost(_row_stat(c), cost_digits)),
            ]
            vals = [_mean_or_nan(_row_stat(c))]
            group = {"space": space, "search_dataset": search, "algorithm": algorithm, "variant": variant}
            for d, s in eval_columns:
                stat = _stat(acc, **group, eval_dataset=d, split=s)
                row.append(Cell(fmt_ci(stat)))
                vals.append(_mean_or_nan(stat))
            stat = _stat(trained, **group)
            row.append(Cell(fmt_ci(stat)))
            vals.append(_mean_or_nan(stat))
            if simulated:
                row.append(Cell(_fmt_cost(_row_stat(c, "sim_"), sim_digits)))
                vals.append(float("nan"))  # not ranked: a different unit from the measured cost
            measured.append(row)
            values.append(vals)
        _bold_best(measured, values, lower_is_better={0})
        groups: list[tuple[tuple[Cell, ...], ...]] = [tuple(tuple(r) for r in measured)]
        notes = [
            f"Measured rows: final architecture of each run, ground truth joined from the benchmark table "
            f"(200 epochs, seed mean); mean [95 % CI] over seeds (n=runs with the value; column n = runs with "
            f"status ok). Searched on {DATASET_LABELS.get(search, search)}; the other data sets are transfer. "
            "Reference rows print their source's mean ± std.",
            CI_NOTE,
            f"Search cost: device seconds the search spent (the runner's search_total, without simulated "
            f"training and without the harness's rank evaluation) / 3600, in {unit}.",
            "Bold = best per column among the measured rows only (lowest cost, highest accuracy); "
            "reference rows never take part.",
            _precision_note(group_runs),
            f"{TRAINED_COLUMN}: test accuracy measured by `nas-harness train` runs of the final architectures "
            f"found in this directory (same space, trained on {DATASET_LABELS.get(search, search)}); n = runs "
            "whose final architecture was trained; n/a = none was.",
        ]
        for ref in references:
            if ref.space != space:
                continue
            if not has_eval_columns(ref):  # e.g. DARTS-space rows beside old DARTS runs that name no judge
                notes.append(
                    f"Not shown: {ref.label} (its rows need the surrogate layout; this group has no surrogate judge)."
                )
                continue
            if ref.search_dataset is not None and ref.search_dataset != search:
                notes.append(f"Not shown: {ref.label} (searched on {ref.search_dataset}, not {search}).")
                continue
            block = []
            for method, frame in ref.frame.groupby("method", sort=False):
                prefix = "[quoted] " if ref.kind == "quoted" else ""
                row = [Cell(f"{prefix}{method} — {ref.label}"), Cell(NA), Cell(NA)]
                for d, s in eval_columns:
                    sel = frame[(frame["eval_dataset"] == d) & (frame["split"] == s)]
                    if sel.empty:
                        row.append(Cell(NA))
                        continue
                    mean, std = sel.iloc[0]["mean"], sel.iloc[0]["std"]
                    row.append(Cell(fmt_num(mean) + (f" ± {fmt_num(std)}" if _finite(std) else "")))
                block.append(tuple(row))
            groups.append(tuple(block))
            tag = "QUOTED, not measured here" if ref.kind == "quoted" else "benchmark table, not a search result"
            notes.append(f"{ref.label} ({tag}): {ref.source} [reports/references/{ref.file}]")
        if simulated:
            notes.append(
                "Simulated training: oracle-driven baselines (e.g. random_search) 'train' each queried "
                "architecture by looking up the benchmark's recorded training time (GPU, 200 epochs); it is "
                "reported apart from the measured cost and not ranked."
            )
        tables.append(
            Table(
                name=f"table1_{space}_{search}",
                title=f"Table 1: {space.upper()} search on {DATASET_LABELS.get(search, search)}, "
                "final-architecture accuracy (%)",
                columns=tuple(cols),
                notes=tuple(notes),
                groups=tuple(tuple(r + (Cell(NA),) * (len(cols) - len(r)) for r in g) for g in groups),
            )
        )
    return tables


# ------------------------------------------------------------------------------------ Table 1, DARTS layout
#: published DARTS-space cells are genotypes of both registered DARTS spaces: darts-s5 only drops `none` from the
#: op set the supernet searches, and derivation never keeps `none`
REFERENCE_SPACE = {"darts-s5": "darts"}
PARAMS_COLUMN = "Params (M, CIFAR eval network)"
PUBLISHED_COLUMN = "Published test acc (%) [quoted]"


@dataclass(frozen=True)
class Table1Data:
    """The aggregates a Table 1 layout reads (computed once for all groups) and the cost unit of its space."""

    acc: pd.DataFrame
    cost: pd.DataFrame
    trained: pd.DataFrame
    facts: pd.DataFrame
    unit: str


def surrogate_columns(label: str) -> tuple[str, str]:
    """Headers of the two surrogate columns; each carries the judge's label so no copy of the table (csv, tex,
    a pasted screenshot) can show a prediction without saying it is one."""
    return f"Surrogate valid acc (%): {label}", f"Surrogate percentile: {label}"


def _mean_or_nan(stat: Stat) -> float:
    """The value a column ranks (NaN when the cell is n/a)."""
    return stat.mean if stat.n else float("nan")


def _surrogate_row(
    data: Table1Data, group: dict[str, object], n_runs: int, digits: tuple[int, int], simulated: bool
) -> tuple[list[Cell], list[float]]:
    """Cells and rankable values of one method in the DARTS layout (values align with the columns after n;
    NaN = not ranked: params, because smaller is not better by itself, and the published column)."""
    c = _rows(data.cost, **group).iloc[0]
    params = _stat(data.facts, **group, fact="params_m")
    percentile = _stat(data.facts, **group, fact="surrogate_percentile")
    d, s = agg.SURROGATE_EVAL
    predicted = _stat(data.acc, **group, eval_dataset=d, split=s)
    trained = _stat(data.trained, **group)
    cells = [
        Cell(method_label(str(group["algorithm"]), str(group["variant"]))),
        Cell(str(n_runs)),
        Cell(fmt_ci(params, digits=3)),
        Cell(_fmt_cost(_row_stat(c), digits[0])),
        Cell(fmt_ci(predicted)),
        Cell(fmt_ci(percentile)),
        Cell(fmt_ci(trained)),
        Cell(NA),
    ]
    values = [
        float("nan"),
        _mean_or_nan(_row_stat(c)),
        _mean_or_nan(predicted),
        _mean_or_nan(percentile),
        _mean_or_nan(trained),
        float("nan"),
    ]
    if simulated:
        cells.append(Cell(_fmt_cost(_row_stat(c, "sim_"), digits[1])))
        values.append(float("nan"))
    return cells, values


def _quoted_num(value: object, digits: int | None = None) -> str:
    """A quoted number as the source printed it (no padding zeros it did not give), or a fixed number of digits."""
    if not _finite(value):
        return NA
    return f"{float(value):.{digits}f}" if digits is not None else f"{float(value):g}"  # type: ignore[arg-type]


def published_accuracy(row: pd.Series) -> tuple[float, float]:
    """(test accuracy %, std) of one DARTS-space reference row: the stated accuracy, else 100 - the stated test
    error (same std); NaN when the source gives neither."""
    if _finite(row.get("test_acc_pct")):
        return float(row["test_acc_pct"]), float(row.get("test_acc_std", float("nan")))
    if _finite(row.get("test_error_pct")):
        return round(100.0 - float(row["test_error_pct"]), 6), float(row.get("test_error_std", float("nan")))
    return float("nan"), float("nan")


def _surrogate_reference_rows(ref: Reference, width: int) -> tuple[tuple[Cell, ...], ...]:
    """[quoted] rows: published params and published test accuracy only; every measured or predicted column n/a,
    so a quoted number never shares a column with a surrogate prediction or a trained accuracy."""
    rows = []
    prefix = "[quoted] " if ref.kind == "quoted" else ""
    for _, r in ref.frame.iterrows():
        acc, std = published_accuracy(r)
        published = _quoted_num(acc, 2) + (f" ± {_quoted_num(std, 2)}" if _finite(std) and _finite(acc) else "")
        row = [Cell(f"{prefix}{r['method']} — {ref.label}"), Cell(NA), Cell(_quoted_num(r.get("params_m")))]
        row += [Cell(NA)] * 4 + [Cell(published)]
        rows.append(tuple(row + [Cell(NA)] * (width - len(row))))
    return tuple(rows)


def _reference_notes(ref: Reference) -> list[str]:
    tag = "QUOTED, not measured here" if ref.kind == "quoted" else "benchmark table, not a search result"
    notes = [f"{ref.label} ({tag}): {ref.source} [reports/references/{ref.file}]"]
    if "source" in ref.frame.columns:
        notes += [f"[quoted] {r['method']}: {r['source']}" for _, r in ref.frame.iterrows()]
    return notes


def _surrogate_notes(space: str, search: str, judge: agg.GroupJudge, unit: str) -> list[str]:
    ds = DATASET_LABELS.get(search, search)
    name = f" (judge {judge.name})" if judge.name else ""
    return [
        f"Measured rows: final architecture of each run searched in the {space} space on {ds}; mean [95 % CI] over "
        "seeds (n=runs with the value; column n = runs with status ok). [quoted] rows print their source's mean ± std.",
        CI_NOTE,
        f"{PARAMS_COLUMN}: outcome.final_facts.params_m, computed by the space for the CIFAR-10 evaluation network "
        "(C=36, 20 layers, auxiliary head excluded); not ranked. In [quoted] rows: the published count.",
        f"Search cost: device seconds the search spent (the runner's search_total, without simulated training and "
        f"without the harness's rank evaluation) / 3600, in {unit}.",
        f"Surrogate valid acc (%): {judge.label}{name}: the predicted CIFAR-10 validation accuracy of the final "
        "architecture (archs.csv final row). Surrogate percentile: "
        f"{judge.label}: percent of 10,000 random cells the surrogate ranks below the final architecture "
        "(outcome.final_facts.surrogate_percentile). Neither is a measured accuracy.",
        f"{TRAINED_COLUMN}: test accuracy measured by `nas-harness train` runs of the final architectures found in "
        f"this directory (same space, trained on {ds}); n = runs whose final architecture was trained; n/a = none "
        "was.",
        f"{PUBLISHED_COLUMN}: CIFAR-10 test accuracy quoted from the cited sources, only in [quoted] rows (n/a in "
        "measured rows); [quoted] rows show n/a in every surrogate and trained column. Quoted, predicted and measured "
        "numbers never share a column.",
        "Bold = best per column among the measured rows only (lowest cost, highest surrogate accuracy, percentile "
        "and trained accuracy; params are not ranked); reference rows never take part.",
    ]


def surrogate_table1(
    data: Table1Data,
    space: str,
    search: str,
    group_runs: pd.DataFrame,
    judge: agg.GroupJudge,
    references: list[Reference],
) -> Table:
    """DARTS paper layout for a group judged by a surrogate: params, search cost, the surrogate's prediction and
    percentile, trained-from-scratch accuracy, and [quoted] published rows in a column of their own."""
    predicted_col, percentile_col = surrogate_columns(judge.label)
    cols = ["Method", "n", PARAMS_COLUMN, f"Search cost ({data.unit})", predicted_col, percentile_col]
    cols += [TRAINED_COLUMN, PUBLISHED_COLUMN]
    group_cost = data.cost[(data.cost["space"] == space) & (data.cost["search_dataset"] == search)]
    simulated = bool((group_cost["sim_n"] > 0).any())
    if simulated:
        cols.append("Simulated training (benchmark GPU-hours)")
    digits = (_column_digits(group_cost["mean"]), _column_digits(group_cost["sim_mean"]))
    measured: list[list[Cell]] = []
    values: list[list[float]] = []
    keys = group_runs[["algorithm", "variant"]].drop_duplicates().sort_values(["algorithm", "variant"])
    for algorithm, variant in keys.itertuples(index=False):
        n_runs = int(((group_runs["algorithm"] == algorithm) & (group_runs["variant"] == variant)).sum())
        group = {"space": space, "search_dataset": search, "algorithm": algorithm, "variant": variant}
        cells, vals = _surrogate_row(data, group, n_runs, digits, simulated)
        measured.append(cells)
        values.append(vals)
    _bold_best(measured, values, lower_is_better={1})
    groups: list[tuple[tuple[Cell, ...], ...]] = [tuple(tuple(r) for r in measured)]
    notes = _surrogate_notes(space, search, judge, data.unit)
    for ref in references:
        if ref.space != REFERENCE_SPACE.get(space, space):
            continue
        if ref.search_dataset is not None and ref.search_dataset != search:
            notes.append(f"Not shown: {ref.label} (searched on {ref.search_dataset}, not {search}).")
            continue
        groups.append(_surrogate_reference_rows(ref, len(cols)))
        notes += _reference_notes(ref)
    return Table(
        name=f"table1_{space}_{search}",
        title=f"Table 1: {space.upper()} search on {DATASET_LABELS.get(search, search)}, final architectures "
        "(surrogate predictions, trained and quoted accuracies in separate columns)",
        columns=tuple(cols),
        notes=tuple(notes),
        groups=tuple(groups),
    )


def _fmt_cost(seconds: Stat, digits: int | None = None) -> str:
    """Search cost in hours from seconds; mean and interval with the same decimals (the column's, when given)."""
    hours = seconds.scaled(1 / 3600.0)
    return fmt_ci(hours, hours_digits(hours.mean) if digits is None else digits)


def _column_digits(seconds: pd.Series) -> int:
    """Decimals for a whole cost column: enough for its smallest positive value."""
    positive = [float(x) for x in seconds if _finite(x) and float(x) > 0]
    return hours_digits(min(positive) / 3600.0) if positive else 2


# ------------------------------------------------------------------------------------------ rank correlation
def _owner_sort_key(owner: str) -> tuple[int, list[object]]:
    parts: list[object] = []
    token = ""
    for ch in str(owner):
        if ch.isdigit():
            token += ch
            continue
        if token:
            parts.append(int(token))
            token = ""
        parts.append(ch)
    if token:
        parts.append(int(token))
    return (0 if owner == "all" else 1, [str(p).zfill(8) if isinstance(p, int) else p for p in parts])


#: P@K is printed only when the top-K% set holds this many architectures: from fewer it is a fraction of a
#: handful (P@1% of 100 archs is 0 or 1 from a single one), so the cell says n/a with k and n instead
MIN_TOPK_ARCHS = 10
TOPK_PCTS = {"precision_at_1pct": 1.0, "precision_at_5pct": 5.0, "precision_at_10pct": 10.0}
FOLDED_SUMMARY = "per-child rows (n = architectures each child owns)"


def topk_size(k_pct: float, n: int) -> int:
    """Architectures in the top-K% set of n, as the harness counts them (ceil, at least 1)."""
    return max(1, math.ceil(k_pct * n / 100.0 - 1e-9))


def _rank_evals(rank: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(space, search dataset, eval dataset, split) of the rank tables: per group, the primary evaluation first."""
    evals = rank[["space", "search_dataset", "eval_dataset", "split"]].drop_duplicates()
    return sorted(
        evals.itertuples(index=False),
        key=lambda e: (
            e[0],
            e[1],
            (e[2], e[3]) != agg.primary_eval(e[1]),
            (e[2], e[3]) != agg.PRIMARY_EVAL,  # a CIFAR-100 search ranked only against CIFAR-10: its test first
            {c: i for i, c in enumerate(agg.eval_columns_for(e[1]))}.get((e[2], e[3]), 99),
        ),
    )


def correlation_stat(rank_ci: pd.DataFrame, **equal: object) -> Stat | None:
    """τ or ρ of the whole-space owner with its interval over the scored architectures, n printed as
    architectures×seeds; None when the runs left no rank-eval points to resample (then the seed interval is used)."""
    sel = _rows(rank_ci, **equal)
    if sel.empty:
        return None
    r = sel.iloc[0]
    n_seeds = int(r["n_seeds"])
    return Stat(float(r["value"]), float(r["ci_lo"]), float(r["ci_hi"]), n_seeds, f"{int(r['n_archs'])}×{n_seeds}")


def _rank_cells(part: pd.DataFrame, rank_ci: pd.DataFrame, key: dict[str, object], n_archs: int) -> list[Cell]:
    """The metric cells of one (method, owner, arch set) row: τ and ρ of owner 'all' / arch set 'all' over the
    scored architectures, every other mean over seeds; P@K n/a (k of n) below MIN_TOPK_ARCHS."""
    whole = key["owner"] == "all" and key["arch_set"] == "all"
    cells = []
    for metric, _ in RANK_METRICS:
        k_pct = TOPK_PCTS.get(metric)
        k = topk_size(k_pct, n_archs) if k_pct is not None else MIN_TOPK_ARCHS
        if k < MIN_TOPK_ARCHS:
            cells.append(Cell(f"{NA} (k={k} of n={n_archs})"))
            continue
        m = part[part["metric"] == metric]
        stat = None
        if whole and metric in agg.RANK_CI_METRICS:
            group = {k: v for k, v in key.items() if k not in ("owner", "arch_set")}
            stat = correlation_stat(rank_ci, **group, metric=metric)
        if stat is None:
            stat = _row_stat(m.iloc[0]) if not m.empty else NO_STAT
        cells.append(Cell(fmt_ci(stat, digits=3)))
    return cells


def _rank_rows(sel: pd.DataFrame, rank_ci: pd.DataFrame, with_owner: bool) -> tuple[tuple[Cell, ...], ...]:
    """One row per (method, owner, arch set) of one evaluation's rank metrics, owners in stage/child order."""
    if sel.empty:
        return ()
    keys = sel[["algorithm", "variant", "owner", "arch_set"]].drop_duplicates()
    keys = sorted(keys.itertuples(index=False), key=lambda k: (k[0], k[1], _owner_sort_key(k[2]), k[3]))
    first = sel.iloc[0]
    rows = []
    for algorithm, variant, owner, arch_set in keys:
        part = _rows(sel, algorithm=algorithm, variant=variant, owner=owner, arch_set=arch_set)
        n_archs = part["n_archs"].dropna()
        archs = round(float(n_archs.mean())) if not n_archs.empty else 0
        key = {
            "space": first["space"],
            "search_dataset": first["search_dataset"],
            "algorithm": algorithm,
            "variant": variant,
            "eval_dataset": first["eval_dataset"],
            "split": first["split"],
            "owner": owner,
            "arch_set": arch_set,
        }
        row = [Cell(method_label(algorithm, variant)), *([Cell(str(owner))] if with_owner else [])]
        row += [Cell(str(arch_set)), Cell(str(archs) if not n_archs.empty else NA), Cell(str(int(part["n"].max())))]
        rows.append(tuple(row + _rank_cells(part, rank_ci, key, archs)))
    return tuple(rows)


def rank_tables(rs: RunSet, rank_ci: pd.DataFrame | None = None) -> list[Table]:
    """τ, ρ and P@K of the whole-space owner per method, one table per evaluation; the per-child owners (stage/
    child sub-supernets of few-shot methods, a few architectures each) folded into a section of their own.

    `rank_ci`: agg.rank_correlation_ci(rs), when the caller has it already (it is the costly part)."""
    rank = agg.rank_metrics(rs)
    if rank.empty:
        return []
    rank_ci = agg.rank_correlation_ci(rs) if rank_ci is None else rank_ci
    tables = []
    metric_cols = [label for _, label in RANK_METRICS]
    for space, search, eval_ds, split in _rank_evals(rank):
        sel = _rows(rank, space=space, search_dataset=search, eval_dataset=eval_ds, split=split)
        name = f"rank_{space}_{search}_{eval_ds}_{split}"
        title = (
            "Rank correlation: supernet score vs ground truth "
            f"({DATASET_LABELS.get(eval_ds, eval_ds)} "
            f"{split}), search on {DATASET_LABELS.get(search, search)}"
        )
        notes = _rank_notes() + (_scoring_note(rs, space, search),)
        judge = agg.group_judge(rs, space, search)
        if judge.is_surrogate:
            title, notes = _surrogate_rank_labels(space, search, eval_ds, split, judge, notes)
        children = sel[sel["owner"] != "all"]
        folded = None
        if not children.empty:
            folded = Table(
                name=f"{name}_per_child",
                title=f"Per-child rows of: {title}",
                columns=("Method", "Owner", "Arch set", "Archs (n)", "Runs (n)", *metric_cols),
                groups=(_rank_rows(children, rank_ci, with_owner=True),),
                notes=_per_child_notes(),
            )
            notes += (
                "Per-child owners (the sub-supernets of staged methods, a few architectures each) are folded out of "
                f"this table: the collapsed section below (files {folded.name}.*).",
            )
        whole = sel[sel["owner"] == "all"]
        tables.append(
            Table(
                name=name,
                title=title,
                columns=("Method", "Arch set", "Archs (n)", "Runs (n)", *metric_cols),
                groups=(_rank_rows(whole, rank_ci, with_owner=False),),
                notes=notes,
                folded=folded,
                folded_summary=FOLDED_SUMMARY if folded is not None else "",
            )
        )
    return tables


def _rank_notes() -> tuple[str, ...]:
    return (
        "Per run: the harness's fixed rank-eval set, each architecture scored by the supernet that owns it; "
        "rows = owner 'all' (every architecture: the whole space). Archs (n) = architectures scored (mean over "
        "runs); Runs (n) = runs. τ is τ-b (tie-corrected).",
        "τ-b and ρ of arch set 'all': mean over seeds of each seed's value on its scored architectures (archs.csv "
        "rank_eval rows) [95 % CI over the scored architectures] (n=architectures×seeds). The interval says how much "
        "the value depends on WHICH architectures were sampled (one resample shared by every seed when they scored "
        "the same architectures), not how much it varies from seed to seed (each run's rank.csv has the per-seed "
        "values). Other arch sets and P@K: mean [95 % CI over seeds] (n=runs).",
        f"P@K: n/a (k of n) when the top-K% set holds fewer than {MIN_TOPK_ARCHS} architectures "
        "(k = ceil(K% × n)): a precision from so few moves in steps of 1/k.",
        CI_NOTE,
    )


def _per_child_notes() -> tuple[str, ...]:
    return (
        "Owner 'stageS/childC': the rank-eval architectures that sub-supernet owns (Archs (n), often a handful per "
        "child), scored by it; the same owner name can cover a different region in each seed (each run picks its "
        "own children). τ-b, ρ, P@K: mean [95 % CI over seeds] (n=runs).",
        f"P@K: n/a (k of n) when the top-K% set holds fewer than {MIN_TOPK_ARCHS} architectures "
        "(k = ceil(K% × n)).",
        CI_NOTE,
    )


def _scoring_note(rs: RunSet, space: str, search: str) -> str:
    """Which BN protocol the group's supernet scores were taken under (one for every method, unless runs of
    different protocols were mixed, which the note then says)."""
    runs = rs.ok_runs
    protocols = sorted(set(runs[(runs["space"] == space) & (runs["search_dataset"] == search)]["rank_scoring"]))
    if len(protocols) == 1:
        return f"Scoring protocol (every method): {protocols[0]}."
    return "Scoring protocols differ between runs (compare with care): " + "; ".join(protocols) + "."


def _precision_note(group_runs: pd.DataFrame) -> str:
    """fp32 unless a run opted into bf16 autocast (`amp=true`); such runs are named."""
    amp = group_runs[group_runs["precision"] != "fp32"]
    if amp.empty:
        return "Precision: fp32 for every run (bf16 autocast is an explicit per-run opt-in, amp=true)."
    names = sorted({method_label(a, v) for a, v in amp[["algorithm", "variant"]].itertuples(index=False)})
    return f"Precision: bf16 autocast (amp=true) in {len(amp)} run(s) of {', '.join(names)}; fp32 elsewhere."


def _surrogate_rank_labels(
    space: str, search: str, eval_ds: str, split: str, judge: agg.GroupJudge, notes: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """Title and notes of a rank table whose reference ranking is a surrogate's prediction: τ then measures
    agreement with a learned predictor, which must not read as agreement with measured accuracy."""
    title = (
        f"Rank correlation: supernet score vs surrogate prediction ({DATASET_LABELS.get(eval_ds, eval_ds)} {split}; "
        f"{judge.label}), search on {DATASET_LABELS.get(search, search)} ({space})"
    )
    name = f" ({judge.name})" if judge.name else ""
    extra = (
        f"Correlation with a surrogate: the reference ranking is the predicted accuracy of the judge{name}, "
        f"{judge.label}, on a seeded sample of {space} cells; it is not correlation with measured accuracy.",
    )
    return title, notes + extra


# --------------------------------------------------------------------------------------------------- ablation
def ablation_tables(rs: RunSet, rank_ci: pd.DataFrame | None = None) -> list[Table]:
    """One table per algorithm that ran more than one variant: accuracy, τ and cost with deltas vs default.

    `rank_ci`: agg.rank_correlation_ci(rs), when the caller has it already (computed here only when needed)."""
    acc = agg.final_accuracy(rs)
    cost = agg.search_cost(rs)
    rank = agg.rank_metrics(rs)
    ok = rs.ok_runs
    tables = []
    for (space, search, algorithm), part in ok.groupby(["space", "search_dataset", "algorithm"], sort=True):
        unit = agg.space_cost_unit(rs, space)
        variants = sorted(part["variant"].unique())
        if len(variants) < 2:
            continue
        rank_ci = agg.rank_correlation_ci(rs) if rank_ci is None else rank_ci
        # the reference is the default configuration: "default" (plain runs) or ablate's "default (key=value)"
        ref = next((v for v in variants if v == "default" or v.startswith("default (")), variants[0])
        variants = [ref] + [v for v in variants if v != ref]
        judge = agg.group_judge(rs, space, search)
        evals, primary_eval, acc_cols = _ablation_evals(judge, search)
        cols = [
            "Variant",
            "n",
            *acc_cols,
            "Kendall τ-b (all)",
            f"Search cost ({unit})",
        ]

        group = {"space": space, "search_dataset": search, "algorithm": algorithm}

        def lookup(variant: str, d: str, s: str, group=group) -> Stat:
            return _stat(acc, **group, variant=variant, eval_dataset=d, split=s)

        def tau(variant: str, group=group, primary_eval=primary_eval, rank_ci=rank_ci) -> Stat:
            primary = {"eval_dataset": primary_eval[0], "split": primary_eval[1], "metric": "kendall_tau"}
            over_archs = correlation_stat(rank_ci, **group, variant=variant, **primary)
            return over_archs or _stat(rank, **group, variant=variant, owner="all", arch_set="all", **primary)

        def cost_of(variant: str, group=group) -> Stat:
            return _stat(cost, **group, variant=variant).scaled(1 / 3600.0)

        rows = []
        for variant in variants:
            n_runs = int((part["variant"] == variant).sum())
            row = [Cell(variant + (" (reference)" if variant == ref else "")), Cell(str(n_runs))]
            getters = [*(lambda v, d=d, s=s: lookup(v, d, s) for d, s in evals), tau, cost_of]
            digits = [2] * len(evals) + [3, hours_digits(cost_of(ref).mean)]
            for get, dg in zip(getters, digits, strict=True):
                stat = get(variant)
                text = fmt_ci(stat, digits=dg)
                if variant != ref and text != NA:
                    ref_mean = get(ref).mean
                    delta = stat.mean - ref_mean if _finite(ref_mean) else float("nan")
                    text += f" (Δ {delta:+.{dg}f})" if _finite(delta) else f" (Δ {NA})"
                row.append(Cell(text))
            rows.append(tuple(row))
        tables.append(
            Table(
                name=f"ablation_{space}_{search}_{algorithm}",
                title=f"Ablation: {algorithm} variants, search on {DATASET_LABELS.get(search, search)} ({space})",
                columns=tuple(cols),
                groups=(tuple(rows),),
                notes=(
                    f"Δ = variant mean minus the reference variant '{ref}' mean (same columns).",
                    _ablation_accuracy_note(judge, unit, search),
                    "τ: mean over seeds [95 % CI over the scored architectures] (n=architectures×seeds); accuracy "
                    "and cost: mean [95 % CI over seeds] (n=runs).",
                    CI_NOTE,
                ),
            )
        )
    return tables


def _ablation_evals(
    judge: agg.GroupJudge, search: str
) -> tuple[list[tuple[str, str]], tuple[str, str], list[str]]:
    """(accuracy columns, the evaluation τ is read from, their headers) of an ablation table: the NB201 columns
    with the primary one first, or the surrogate's single target with the judge's label in its header."""
    if judge.is_surrogate:
        return [agg.SURROGATE_EVAL], agg.SURROGATE_EVAL, [surrogate_columns(judge.label)[0]]
    primary = agg.primary_eval(search)
    evals = [primary, *[e for e in agg.eval_columns_for(search) if e != primary]]
    return evals, primary, [f"{DATASET_LABELS.get(d, d)} {s}" for d, s in evals]


def _ablation_accuracy_note(judge: agg.GroupJudge, unit: str, search: str) -> str:
    if judge.is_surrogate:
        d, s = agg.SURROGATE_EVAL
        return (
            f"Accuracy = final architecture's predicted accuracy (%), {judge.label}; τ = correlation of the supernet "
            f"score with the surrogate's prediction on the rank-eval set ({DATASET_LABELS[d]} {s}, owner 'all', "
            f"arch set 'all'); cost in {unit}."
        )
    primary = agg.primary_eval(search)[0]
    primary_label = DATASET_LABELS.get(primary, primary)
    return (
        "Accuracy = final architecture's ground truth (%); τ from the rank-eval set "
        f"({primary_label} test, owner 'all', arch set 'all'); cost in {unit}."
    )


# ------------------------------------------------------------------------------------------------ renderers
def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Table) -> str:
    lines = [
        f"### {table.title}",
        "",
        "| " + " | ".join(table.columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|",
    ]
    for row in table.rows:
        cells = [f"**{_md_escape(c.text)}**" if c.bold else _md_escape(c.text) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in table.notes)
    text = "\n".join(lines) + "\n"
    if table.folded is not None:  # collapsed on GitHub and most Markdown viewers; the blank lines keep it a table
        text += f"\n<details><summary>{table.folded_summary}</summary>\n\n{to_markdown(table.folded)}\n</details>\n"
    return text


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_UNICODE = {"±": r"$\pm$", "τ": r"$\tau$", "ρ": r"$\rho$", "Δ": r"$\Delta$", "×": r"$\times$"}


def _latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for uni, tex in _LATEX_UNICODE.items():
        out = out.replace(uni, tex)
    # a cell opening with "[" right after a row's \\ would be read as its optional [length] argument
    return "{}" + out if out.startswith("[") else out


def to_latex(table: Table) -> str:
    spec = "l" + "r" * (len(table.columns) - 1)
    lines = [
        f"% {table.title}",
        "% requires \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for i, group in enumerate(table.groups):
        if i:
            lines.append(r"\midrule")
        for row in group:
            cells = [f"\\textbf{{{_latex_escape(c.text)}}}" if c.bold else _latex_escape(c.text) for c in row]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"% {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    frame = pd.DataFrame([[c.text for c in row] for row in table.rows], columns=list(table.columns))
    return frame.to_csv(index=False, lineterminator="\n")


RENDERERS = {"md": to_markdown, "tex": to_latex, "csv": to_csv}
