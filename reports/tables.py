"""Paper-style tables from aggregated run records, rendered as Markdown, LaTeX (booktabs) and CSV.

Why one table model with three renderers: the same cells (and the same bold marks) must appear in every
format, so the numbers are formatted once. Missing numbers print as "n/a", never as 0; n is always shown;
quoted reference rows are labelled as quoted and never take part in "best per column"."""

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
    """A rendered-once table: `groups` are row blocks separated by a rule (measured rows, optimum, quoted)."""

    name: str  # file stem
    title: str
    columns: tuple[str, ...]
    groups: tuple[tuple[tuple[Cell, ...], ...], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> list[tuple[Cell, ...]]:
        return [row for group in self.groups for row in group]


# ----------------------------------------------------------------------------------------------- formatting
def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def fmt_num(x: object, digits: int = 2) -> str:
    return f"{float(x):.{digits}f}" if _finite(x) else NA  # type: ignore[arg-type]


def fmt_mean_std(mean: object, std: object, n: int, *, digits: int = 2, expected_n: int | None = None) -> str:
    """'mean ± std'; only the mean when n == 1; "(n=k)" appended when k differs from the row's run count."""
    if n == 0 or not _finite(mean):
        return NA
    text = fmt_num(mean, digits)
    if n >= 2:
        text += f" ± {fmt_num(std, digits)}"
    if expected_n is not None and n != expected_n:
        text += f" (n={n})"
    return text


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


def _stat(frame: pd.DataFrame, **equal: object) -> tuple[float, float, int]:
    """(mean, std, n) of the one aggregated row matching `equal`; (nan, nan, 0) when there is none."""
    sel = _rows(frame, **equal)
    if sel.empty:
        return float("nan"), float("nan"), 0
    r = sel.iloc[0]
    return float(r["mean"]), float(r["std"]), int(r["n"])


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
                Cell(_fmt_cost(c["mean"], c["std"], int(c["n"]), n_runs, cost_digits)),
            ]
            vals = [float(c["mean"]) if int(c["n"]) else float("nan")]
            for d, s in eval_columns:
                mean, std, n = _stat(
                    acc,
                    space=space,
                    search_dataset=search,
                    algorithm=algorithm,
                    variant=variant,
                    eval_dataset=d,
                    split=s,
                )
                if n == 0:
                    row.append(Cell(NA))
                    vals.append(float("nan"))
                else:
                    row.append(Cell(fmt_mean_std(mean, std, n, expected_n=n_runs)))
                    vals.append(mean)
            mean, std, n = _stat(trained, space=space, search_dataset=search, algorithm=algorithm, variant=variant)
            row.append(Cell(fmt_mean_std(mean, std, n, expected_n=n_runs) if n else NA))
            vals.append(mean if n else float("nan"))
            if simulated:
                row.append(Cell(_fmt_cost(c["sim_mean"], c["sim_std"], int(c["sim_n"]), n_runs, sim_digits)))
                vals.append(float("nan"))  # not ranked: a different unit from the measured cost
            measured.append(row)
            values.append(vals)
        _bold_best(measured, values, lower_is_better={0})
        groups: list[tuple[tuple[Cell, ...], ...]] = [tuple(tuple(r) for r in measured)]
        notes = [
            f"Measured rows: final architecture of each run, ground truth joined from the benchmark table "
            f"(200 epochs, seed mean); mean ± std over seeds (ddof=1), n = runs with status ok. "
            f"Searched on {DATASET_LABELS.get(search, search)}; the other data sets are transfer.",
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


def _fmt_stat(stat: tuple[float, float, int], n_runs: int, digits: int = 2) -> str:
    mean, std, n = stat
    return fmt_mean_std(mean, std, n, digits=digits, expected_n=n_runs)


def _mean_or_nan(stat: tuple[float, float, int]) -> float:
    return stat[0] if stat[2] else float("nan")


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
        Cell(_fmt_stat(params, n_runs, digits=3)),
        Cell(_fmt_cost(c["mean"], c["std"], int(c["n"]), n_runs, digits[0])),
        Cell(_fmt_stat(predicted, n_runs)),
        Cell(_fmt_stat(percentile, n_runs)),
        Cell(_fmt_stat(trained, n_runs)),
        Cell(NA),
    ]
    values = [
        float("nan"),
        float(c["mean"]) if int(c["n"]) else float("nan"),
        _mean_or_nan(predicted),
        _mean_or_nan(percentile),
        _mean_or_nan(trained),
        float("nan"),
    ]
    if simulated:
        cells.append(Cell(_fmt_cost(c["sim_mean"], c["sim_std"], int(c["sim_n"]), n_runs, digits[1])))
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
        f"Measured rows: final architecture of each run searched in the {space} space on {ds}; mean ± std over "
        "seeds (ddof=1), n = runs with status ok.",
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


def _fmt_cost(mean: object, std: object, n: int, n_runs: int, digits: int | None = None) -> str:
    """Search cost in hours from seconds; mean and std with the same decimals (the column's, when given)."""
    if n == 0 or not _finite(mean):
        return NA
    hours = float(mean) / 3600.0  # type: ignore[arg-type]
    std_h = float(std) / 3600.0 if _finite(std) else float("nan")  # type: ignore[arg-type]
    digits = hours_digits(hours) if digits is None else digits
    return fmt_mean_std(hours, std_h, n, digits=digits, expected_n=n_runs)


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


def rank_tables(rs: RunSet) -> list[Table]:
    """τ, ρ and P@K per algorithm and owner (stage/child for few-shot methods); one table per evaluation."""
    rank = agg.rank_metrics(rs)
    if rank.empty:
        return []
    tables = []
    evals = rank[["space", "search_dataset", "eval_dataset", "split"]].drop_duplicates()
    evals = sorted(
        evals.itertuples(index=False),
        key=lambda e: (
            e[0],
            e[1],
            (e[2], e[3]) != agg.primary_eval(e[1]),
            (e[2], e[3]) != agg.PRIMARY_EVAL,  # a CIFAR-100 search ranked only against CIFAR-10: its test first
            {c: i for i, c in enumerate(agg.eval_columns_for(e[1]))}.get((e[2], e[3]), 99),
        ),
    )
    for space, search, eval_ds, split in evals:
        sel = rank[
            (rank["space"] == space)
            & (rank["search_dataset"] == search)
            & (rank["eval_dataset"] == eval_ds)
            & (rank["split"] == split)
        ]
        cols = ["Method", "Owner", "Arch set", "Archs (n)", "Runs (n)", *[label for _, label in RANK_METRICS]]
        rows = []
        keys = sel[["algorithm", "variant", "owner", "arch_set"]].drop_duplicates()
        keys = sorted(keys.itertuples(index=False), key=lambda k: (k[0], k[1], _owner_sort_key(k[2]), k[3]))
        for algorithm, variant, owner, arch_set in keys:
            part = sel[
                (sel["algorithm"] == algorithm)
                & (sel["variant"] == variant)
                & (sel["owner"] == owner)
                & (sel["arch_set"] == arch_set)
            ]
            n_runs = int(part["n"].max()) if not part.empty else 0
            n_archs = part["n_archs"].dropna()
            row = [
                Cell(method_label(algorithm, variant)),
                Cell(str(owner)),
                Cell(str(arch_set)),
                Cell(f"{n_archs.mean():.0f}" if not n_archs.empty else NA),
                Cell(str(n_runs)),
            ]
            for metric, _ in RANK_METRICS:
                m = part[part["metric"] == metric]
                if m.empty:
                    row.append(Cell(NA))
                else:
                    r = m.iloc[0]
                    row.append(Cell(fmt_mean_std(r["mean"], r["std"], int(r["n"]), digits=3, expected_n=n_runs)))
            rows.append(tuple(row))
        name = f"rank_{space}_{search}_{eval_ds}_{split}"
        notes = (
            "Per run: the harness's fixed rank-eval set scored by the supernet that owns each arch "
            "(owner 'all' = every arch; 'stageS/childC' = that sub-supernet's region). "
            "Values are mean ± std over runs; Archs (n) = architectures scored (mean over runs). "
            "τ is τ-b (tie-corrected).",
            _scoring_note(rs, space, search),
        )
        title = (
            "Rank correlation: supernet score vs ground truth "
            f"({DATASET_LABELS.get(eval_ds, eval_ds)} "
            f"{split}), search on {DATASET_LABELS.get(search, search)}"
        )
        judge = agg.group_judge(rs, space, search)
        if judge.is_surrogate:
            title, notes = _surrogate_rank_labels(space, search, eval_ds, split, judge, notes)
        tables.append(Table(name=name, title=title, columns=tuple(cols), groups=(tuple(rows),), notes=notes))
    return tables


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
def ablation_tables(rs: RunSet) -> list[Table]:
    """One table per algorithm that ran more than one variant: accuracy, τ and cost with deltas vs default."""
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

        def lookup(variant: str, d: str, s: str, group=group) -> tuple[float, float, int]:
            return _stat(acc, **group, variant=variant, eval_dataset=d, split=s)

        def tau(variant: str, group=group, primary_eval=primary_eval) -> tuple[float, float, int]:
            primary = {"eval_dataset": primary_eval[0], "split": primary_eval[1]}
            return _stat(rank, **group, variant=variant, owner="all", arch_set="all", metric="kendall_tau", **primary)

        def cost_of(variant: str, group=group) -> tuple[float, float, int]:
            mean, std, n = _stat(cost, **group, variant=variant)
            return mean / 3600.0, std / 3600.0, n

        rows = []
        for variant in variants:
            n_runs = int((part["variant"] == variant).sum())
            row = [Cell(variant + (" (reference)" if variant == ref else "")), Cell(str(n_runs))]
            getters = [*(lambda v, d=d, s=s: lookup(v, d, s) for d, s in evals), tau, cost_of]
            digits = [2] * len(evals) + [3, hours_digits(cost_of(ref)[0])]
            for get, dg in zip(getters, digits, strict=True):
                mean, std, n = get(variant)
                text = fmt_mean_std(mean, std, n, digits=dg, expected_n=n_runs)
                if variant != ref and text != NA:
                    ref_mean = get(ref)[0]
                    delta = mean - ref_mean if _finite(ref_mean) else float("nan")
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
    return "\n".join(lines) + "\n"


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
_LATEX_UNICODE = {"±": r"$\pm$", "τ": r"$\tau$", "ρ": r"$\rho$", "Δ": r"$\Delta$"}


def _latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for uni, tex in _LATEX_UNICODE.items():
        out = out.replace(uni, tex)
    return out


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
