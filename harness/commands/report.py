"""`nas-harness report DIR [--format md,tex,csv] [--out DIR/report]`: tables, figures and index.md from run
records.

The report reads run directories only (package `reports`, which imports neither harness nor algorithms), so it
can be regenerated anywhere from a copied results folder. Exit 2 when DIR holds no readable runs; a run directory
whose files are damaged is left out with a warning on stderr naming it (and listed in index.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._options import out_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write paper-style tables and figures for the runs under DIR",
        description="Aggregate the runs under DIR over seeds and write tables (md, tex, csv), "
        "figures (png, svg) and index.md with provenance.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="a folder of run directories (or one run directory)")
    p.add_argument("--format", default="md,tex,csv", help="comma-separated table formats: md, tex, csv")
    p.add_argument(
        "--out", type=out_folder, default=None, metavar="OUT", help="report folder (default: DIR/report)"
    )
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def generate(run_root: Path, out: Path | None, formats: str = "md,tex,csv"):  # -> reports.build.ReportResult
    """Write the report; translate the reader's errors into InputError (exit 2) and warn on stderr about each
    damaged run directory left out. Used by `compare` too."""
    import sys

    from harness.errors import InputError
    from reports.build import ReportFolderError, parse_formats, write_report
    from reports.load import RunLoadError

    try:
        fmts = parse_formats(formats)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        result = write_report(
            Path(run_root), Path(out) if out else Path(run_root) / "report", fmts, skip_corrupt=True
        )
    except (RunLoadError, ReportFolderError) as exc:
        raise InputError(str(exc)) from None
    for bad in result.corrupt:
        print(f"nas-harness report: warning: left out {bad.run_dir} (corrupt: {bad.reason})", file=sys.stderr)
    return result


def run(args: argparse.Namespace) -> int:
    import json

    result = generate(args.dir, args.out, args.format)
    if args.json:
        print(
            json.dumps(
                {
                    "index": str(result.index),
                    "runs": result.n_runs,
                    "ok_runs": result.n_ok,
                    "tables": [str(p) for p in result.tables],
                    "figures": [str(p) for p in result.figures],
                    "corrupt": [str(c.run_dir) for c in result.corrupt],
                },
                indent=2,
            )
        )
    else:
        print(f"report of {result.n_ok}/{result.n_runs} ok runs: {result.index}")
    return 0
