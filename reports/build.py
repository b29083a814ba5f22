"""Write a whole report folder: tables (md / tex / csv), figures (png / svg), tidy data CSVs and index.md.

Why an index with provenance: every number in a table must trace back to run records, so index.md lists each
run (id, seed, status, git commit, device, data identity, ground-truth table hash) and `data/*_per_run.csv`
holds the per-run values behind every mean. The report is a pure function of the run directories (no
timestamps), so the same runs give byte-identical Markdown."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports import aggregate as agg
from reports import figures as figs
from reports import tables as tab
from reports.atomic import atomic_write_text
from reports.load import RUN_COLUMNS, CorruptRun, RunSet, load

FORMATS = ("md", "tex", "csv")


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    index: Path
    tables: tuple[Path, ...]
    figures: tuple[Path, ...]
    n_runs: int
    n_ok: int
    #: run directories left out because their files are damaged (write_report(..., skip_corrupt=True))
    corrupt: tuple[CorruptRun, ...] = ()


def parse_formats(text: str) -> tuple[str, ...]:
    """'md,tex' -> ('md', 'tex'); ValueError naming the bad value and the allowed ones."""
    items = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise ValueError(
            f"--format {text!r}: unknown format {bad[0] if bad else '(empty)'}; "
            f"allowed: {', '.join(FORMATS)} (comma-separated)"
        )
    return items


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _short(value: object, n: int = 10) -> str:
    return tab.NA if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)[:n]


def provenance_table(rs: RunSet, out_dir: Path) -> str:
    lines = [
        "| Run id | Method | Search | Seed | Status | Device | Git commit | Data identity | GT table sha256 "
        "| Search cost (s) | Records |",
        "|---|---|---|---:|---|---|---|---|---|---:|---|",
    ]
    for run in rs.runs.itertuples(index=False):
        dirty = " (dirty)" if run.git_dirty else ""
        cost = f"{run.search_cost_s:.1f}" if pd.notna(run.search_cost_s) else tab.NA
        data = run.data_identity if isinstance(run.data_identity, str) else tab.NA
        device = run.device + (f" ({run.device_name})" if run.device_name else "")
        lines.append(
            f"| `{run.run_id}` | {tab.method_label(run.algorithm, run.variant)} | {run.search_dataset} "
            f"| {run.seed} "
            f"| {run.status} | {device} | `{_short(run.git_commit)}`{dirty} | {data} "
            f"| `{_short(run.oracle_sha256, 12)}` | {cost} "
            f"| [spec.json]({_rel(Path(run.run_dir), out_dir)}/spec.json) |"
        )
    return "\n".join(lines) + "\n"


#: per-run judge label, params and surrogate percentile behind a DARTS-space Table 1
FACTS_FILE = "final_facts_per_run.csv"


def _data_files(rs: RunSet, data_dir: Path, rank_ci: pd.DataFrame) -> list[Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "runs.csv": rs.runs[list(RUN_COLUMNS)].drop(columns=["run_dir"]),
        "final_per_run.csv": agg.final_per_run(rs),
        "final_accuracy.csv": agg.final_accuracy(rs),
        "search_cost.csv": agg.search_cost(rs),
        "rank_metrics.csv": agg.rank_metrics(rs),
        "rank_correlation_ci.csv": rank_ci,
        "stage_sizes.csv": agg.stage_sizes(rs),
    }
    facts = agg.final_facts_per_run(rs)
    if not facts.empty:  # only surrogate-judged runs have facts; NB201 reports keep their file list
        frames[FACTS_FILE] = facts
    paths = []
    for name, frame in frames.items():
        path = data_dir / name
        atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
        paths.append(path)
    return paths


def _with_folded(table: tab.Table) -> list[tab.Table]:
    """The table and its folded rows (written to files of their own: LaTeX and CSV cannot collapse a section)."""
    return [table] if table.folded is None else [table, table.folded]


#: written last into every report folder: the files this report wrote (paths relative to the folder). Its
#: presence marks a folder nas-harness owns; only the files it lists are ever replaced or removed.
MANIFEST_FILE = ".nas-harness-report.json"


class ReportFolderError(ValueError):
    """The output folder cannot take a report without touching files nas-harness did not write."""


def _claim_folder(out_dir: Path) -> list[Path]:
    """Check `out_dir` before any write and return the files an earlier report wrote there (to replace).

    A missing or empty folder is taken; a folder holding a manifest is ours (only its listed files are ours);
    anything else is refused, so a user's files are never deleted or overwritten."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportFolderError(f"{out_dir} is a file, not a folder; choose a folder for the report")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return []
    manifest = out_dir / MANIFEST_FILE
    legacy = _legacy_report_files(out_dir)
    if not manifest.is_file() and legacy is not None:
        return legacy
    if not manifest.is_file():
        raise ReportFolderError(
            f"{out_dir} is not empty and was not written by nas-harness report (no {MANIFEST_FILE}); "
            "choose a new or empty folder"
        )
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ReportFolderError(f"{manifest} is unreadable; remove the report folder or choose another") from None
    root = out_dir.resolve()
    owned = []
    for rel in listed:
        path = (out_dir / str(rel)).resolve()
        if root in path.parents:  # never follow a manifest entry out of the folder
            owned.append(path)
    return owned


_LEGACY_SUFFIXES = {".md", ".tex", ".csv", ".png", ".svg"}


def _legacy_report_files(out_dir: Path) -> list[Path] | None:
    """The files of a report folder written before manifests existed (index.md titled "# nas-harness report"
    and only tables/, figures/, data/ of report file types), or None when the folder is anything else."""
    index = out_dir / "index.md"
    title = index.read_text(encoding="utf-8", errors="replace")[:40] if index.is_file() else ""
    if not title.startswith("# nas-harness report"):
        return None
    files = [index]
    for entry in out_dir.iterdir():
        if entry == index:
            continue
        if not entry.is_dir() or entry.name not in ("tables", "figures", "data"):
            return None
        for path in entry.rglob("*"):
            if path.is_dir() or path.suffix not in _LEGACY_SUFFIXES:
                return None
            files.append(path)
    return files


def _reason_in(bad: CorruptRun) -> str:
    """The reason a run was left out, with its folder's path dropped (index.md stays relocatable)."""
    return bad.reason.replace(f"{bad.run_dir}{os.sep}", "")


def _atomic_manifest(out_dir: Path, files: list[Path]) -> None:
    rel = sorted(str(p.resolve().relative_to(out_dir.resolve())) for p in files)
    atomic_write_text(
        out_dir / MANIFEST_FILE, json.dumps({"written_by": "nas-harness report", "files": rel}, indent=1)
    )


def write_report(
    root: Path,
    out_dir: Path,
    formats: tuple[str, ...] = FORMATS,
    references: list[tab.Reference] | None = None,
    *,
    skip_corrupt: bool = False,
) -> ReportResult:
    """Load the runs under `root` and write the report into `out_dir` (entry: index.md).

    Every file is written atomically. Order, so that a report cut short (crash, full disk, Ctrl-C) never costs a
    file and never locks the user out of the folder: claim the folder, write a manifest that marks it as ours
    (listing the previous report's files), write the new files (each replacing its old version whole), remove
    the previous files this report no longer produces, then write the final manifest. `skip_corrupt` leaves
    damaged run directories out (listed in index.md and in the result) instead of refusing the report."""
    rs = load(root, skip_corrupt=skip_corrupt)
    out_dir = Path(out_dir)
    previous = _claim_folder(out_dir)  # refuses a folder with files it did not write, before any write
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_manifest(out_dir, [p for p in previous if p.exists()])
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    t1 = tab.table1(rs, references)
    rank_ci = agg.rank_correlation_ci(rs)  # the costly aggregate: computed once for tables and data
    rank = tab.rank_tables(rs, rank_ci)
    ablation = tab.ablation_tables(rs, rank_ci)
    table_paths: list[Path] = []
    sections: list[tuple[str, list[tab.Table]]] = [
        ("Final architectures (Table 1)", t1),
        ("Rank correlation", rank),
        ("Ablations", ablation),
    ]
    for _, group in sections:
        for table in group:
            for part in _with_folded(table):
                for fmt in formats:
                    path = out_dir / "tables" / f"{part.name}.{fmt}"
                    atomic_write_text(path, tab.RENDERERS[fmt](part))
                    table_paths.append(path)
    figures = figs.make_figures(rs, out_dir / "figures")
    data_paths = _data_files(rs, out_dir / "data", rank_ci)

    ok = rs.ok_runs
    lines = [
        "# nas-harness report",
        "",
        f"Runs read from `{rs.root}`: {len(rs.runs)} run directories, {len(ok)} with status ok "
        "(only those are aggregated).",
        "",
    ]
    commits = sorted({str(c) for c in rs.runs["git_commit"].dropna()})
    devices = sorted(
        {
            f"{d} ({n})" if isinstance(n, str) and n else str(d)
            for d, n in zip(rs.runs["device"], rs.runs["device_name"], strict=True)
        }
    )
    lines += [
        f"- Git commits: {', '.join(f'`{c[:10]}`' for c in commits) or tab.NA}"
        + (" (some runs from a dirty tree)" if rs.runs["git_dirty"].fillna(False).astype(bool).any() else ""),
        f"- Devices: {', '.join(devices) or tab.NA}",
        f"- Presets: {', '.join(sorted({str(p) for p in rs.runs['preset'].dropna()})) or tab.NA}",
        "- Numbers that do not exist print as n/a (never 0). Per-run values behind every mean: "
        "[data/final_per_run.csv](data/final_per_run.csv), [data/rank_metrics.csv](data/rank_metrics.csv), "
        "[data/rank_correlation_ci.csv](data/rank_correlation_ci.csv), [data/runs.csv](data/runs.csv)"
        + (f", [data/{FACTS_FILE}](data/{FACTS_FILE})." if any(p.name == FACTS_FILE for p in data_paths) else "."),
        "",
    ]
    for title, group in sections:
        lines += [f"## {title}", ""]
        if not group:
            what = {
                "Rank correlation": "no run wrote rank.csv (no SupernetScorer runs)",
                "Ablations": "no algorithm ran more than one variant",
            }.get(title, "no ok runs")
            lines += [f"n/a: {what}.", ""]
            continue
        for table in group:
            links = " · ".join(f"[{fmt}](tables/{table.name}.{fmt})" for fmt in formats)
            if table.folded is not None:
                links += " · per-child: " + " · ".join(
                    f"[{fmt}](tables/{table.folded.name}.{fmt})" for fmt in formats
                )
            lines += [tab.to_markdown(table), f"Files: {links}", ""]
    lines += ["## Figures", ""]
    if not figures:
        lines += ["n/a: nothing to plot.", ""]
    for fig in figures:
        png, svg = fig.files
        lines += [
            f"### {fig.title}",
            "",
            f"![{fig.title}](figures/{png})",
            "",
            fig.caption,
            f"([svg](figures/{svg}))",
            "",
        ]
    lines += ["## Provenance", "", provenance_table(rs, out_dir), ""]
    failed = rs.runs[rs.runs["status"] != "ok"]
    if not failed.empty:
        lines += ["Runs not aggregated (status not ok):", ""]
        for run in failed.itertuples(index=False):
            status = "running or killed (incomplete)" if run.status == "running" else run.status
            lines.append(
                f"- `{run.run_id}` {run.algorithm} seed {run.seed}: {status}"
                + (f" ({run.error})" if run.error else "")
            )
        lines.append("")
    if rs.corrupt:
        lines += ["Run directories left out (damaged files; re-run or remove them):", ""]
        lines += [f"- `{_rel(c.run_dir, out_dir)}`: {_reason_in(c)}" for c in rs.corrupt]
        lines.append("")
    index = out_dir / "index.md"
    atomic_write_text(index, "\n".join(lines))
    fig_paths = tuple(out_dir / "figures" / f for fig in figures for f in fig.files)
    written = [index, *table_paths, *data_paths, *fig_paths]
    keep = {p.resolve() for p in written}
    for path in previous:
        if path.resolve() not in keep:
            path.unlink(missing_ok=True)
    _atomic_manifest(out_dir, written)
    return ReportResult(
        out_dir=out_dir,
        index=index,
        tables=tuple(table_paths) + tuple(data_paths),
        figures=fig_paths,
        n_runs=len(rs.runs),
        n_ok=len(ok),
        corrupt=rs.corrupt,
    )
