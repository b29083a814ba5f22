"""`nas-harness baseline DIR -o FILE`: write a regression baseline (JSON) from the runs under DIR.

Per (space, search dataset, algorithm, variant): seed means of the final architecture's ground-truth accuracy
for every eval dataset and split, Kendall τ-b (cifar10 test, whole rank-eval set) and the search cost with its
ceiling, plus the tolerances `check` applies. Numbers come only from run records, never typed in.

FILE is written atomically. It may be new or a baseline written before (replaced); any other existing file, a
folder, or a run set with a damaged run directory is refused with exit 2 before any write: a baseline is the
reference every later check trusts, so it is only made from a clean run set and never over a user's file."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._options import out_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="write a regression baseline JSON from the runs under DIR",
        description="Summarise the runs under DIR into a baseline file for `nas-harness check`.",
    )
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("-o", "--output", required=True, type=out_file, metavar="FILE")
    p.add_argument(
        "--tolerance",
        default="",
        metavar="NAME=VALUE,...",
        help="tolerances stored in the file: acc_pct (absolute %% points, default 0.01), tau (absolute, "
        "default 0.01), cost_factor and cost_slack_s (ceiling = max(cost x factor, cost + slack), "
        "defaults 5 and 60 s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.errors import InputError
    from reports.load import RunLoadError, load
    from reports.regression import is_baseline_file, make_baseline, parse_tolerances, write_baseline

    out: Path = args.output
    if out.is_dir():
        raise InputError(f"-o {out} is a folder; name the baseline file to write, e.g. {out / 'baseline.json'}")
    if out.exists() and not is_baseline_file(out):
        raise InputError(
            f"-o {out} exists and is not a nas-harness baseline; name a new file (only a baseline is replaced)"
        )
    try:
        tol = parse_tolerances(args.tolerance)
        rs = load(args.dir)
    except (ValueError, RunLoadError) as exc:
        raise InputError(str(exc)) from None
    if rs.ok_runs.empty:
        raise InputError(f"{args.dir}: no run with status ok; a baseline needs completed runs")
    baseline = make_baseline(rs, tol)
    write_baseline(baseline, args.output)
    print(
        f"baseline of {len(baseline['entries'])} groups from {len(baseline['source']['runs'])} runs: "
        f"{args.output}"
    )
    return 0
