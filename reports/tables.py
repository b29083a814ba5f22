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
    """NB201 paper layout, one table per (space, search dataset)."""
    references = load_references() if references is None else references
    acc = agg.final_accuracy(rs)
    cost = agg.search_cost(rs)
    trained = agg.trained_accuracy(rs)
    ok = rs.ok_runs
    unit = agg.cost_unit(ok["device_kind"])
    tables = []
    for (space, search), group_runs in ok.groupby(["space", "search_dataset"], sort=True):
        cols = ["Method", "n", f"Search cost ({unit})"]
        cols += [f"{DATASET_LABELS.get(d, d)} {s}" for d, s in agg.EVAL_COLUMNS]
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
            for d, s in agg.EVAL_COLUMNS:
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
            f"{TRAINED_COLUMN}: test accuracy measured by `nas-harness train` runs of the final architectures "
            f"found in this directory (same space, trained on {DATASET_LABELS.get(search, search)}); n = runs "
            "whose final architecture was trained; n/a = none was.",
        ]
        for ref in references:
            if ref.space != space:
                continue
            if ref.search_dataset is not None and ref.search_dataset != search:
                notes.append(f"Not shown: {ref.label} (searched on {ref.search_dataset}, not {search}).")
                continue
            block = []
            for method, frame in ref.frame.groupby("method", sort=False):
                prefix = "[quoted] " if ref.kind == "quoted" else ""
                row = [Cell(f"{prefix}{method} — {ref.label}"), Cell(NA), Cell(NA)]
                for d, s in agg.EVAL_COLUMNS:
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
    order = {e: i for i, e in enumerate(agg.EVAL_COLUMNS)}
    evals = sorted(
        evals.itertuples(index=False),
        key=lambda e: (e[0], e[1], (e[2], e[3]) != agg.PRIMARY_EVAL, order.get((e[2], e[3]), 99)),
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
        tables.append(
            Table(
                name=name,
                title="Rank correlation: supernet score vs ground truth "
                f"({DATASET_LABELS.get(eval_ds, eval_ds)} "
                f"{split}), search on {DATASET_LABELS.get(search, search)}",
                columns=tuple(cols),
                groups=(tuple(rows),),
                notes=(
                    "Per run: the harness's fixed rank-eval set scored by the supernet that owns each arch "
                    "(owner 'all' = every arch; 'stageS/childC' = that sub-supernet's region). "
                    "Values are mean ± std over runs; Archs (n) = architectures scored (mean over runs). "
                    "τ is τ-b (tie-corrected).",
                ),
            )
        )
    return tables


# --------------------------------------------------------------------------------------------------- ablation
def ablation_tables(rs: RunSet) -> list[Table]:
    """One table per algorithm that ran more than one variant: accuracy, τ and cost with deltas vs default."""
    acc = agg.final_accuracy(rs)
    cost = agg.search_cost(rs)
    rank = agg.rank_metrics(rs)
    ok = rs.ok_runs
    unit = agg.cost_unit(ok["device_kind"])
    tables = []
    for (space, search, algorithm), part in ok.groupby(["space", "search_dataset", "algorithm"], sort=True):
        variants = sorted(part["variant"].unique())
        if len(variants) < 2:
            continue
        # the reference is the default configuration: "default" (plain runs) or ablate's "default (key=value)"
        ref = next((v for v in variants if v == "default" or v.startswith("default (")), variants[0])
        variants = [ref] + [v for v in variants if v != ref]
        evals = [agg.PRIMARY_EVAL, *[e for e in agg.EVAL_COLUMNS if e != agg.PRIMARY_EVAL]]
        cols = [
            "Variant",
            "n",
            *[f"{DATASET_LABELS.get(d, d)} {s}" for d, s in evals],
            "Kendall τ-b (all)",
            f"Search cost ({unit})",
        ]

        group = {"space": space, "search_dataset": search, "algorithm": algorithm}

        def lookup(variant: str, d: str, s: str, group=group) -> tuple[float, float, int]:
            return _stat(acc, **group, variant=variant, eval_dataset=d, split=s)

        def tau(variant: str, group=group) -> tuple[float, float, int]:
            primary = {"eval_dataset": agg.PRIMARY_EVAL[0], "split": agg.PRIMARY_EVAL[1]}
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
                    "Accuracy = final architecture's ground truth (%); τ from the rank-eval set "
                    f"({DATASET_LABELS['cifar10']} test, owner 'all', arch set 'all'); cost in {unit}.",
                ),
            )
        )
    return tables


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
