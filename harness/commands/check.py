"""`nas-harness check DIR --baseline FILE [--tolerance ...]`: exit 1 when runs regress against a baseline.

Prints one line per compared value (baseline, current, limit, delta) and a summary. Exit 0 when nothing is
worse than its tolerance, 1 otherwise (CheckFailed), 2 when the baseline file is missing or malformed or DIR
has no readable runs. A run directory with damaged files is left out with a warning on stderr naming it (its
group then usually fails for lack of runs), and a group whose seed count differs from the baseline's gets a
warning too: a mean over other seeds is a weaker comparison."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check",
        help="compare the runs under DIR with a regression baseline",
        description="Exit 1 with a readable diff when final-arch accuracy, tau or search cost "
        "is worse than the baseline by more than the tolerance.",
    )
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--baseline", required=True, type=Path, metavar="FILE")
    p.add_argument(
        "--tolerance",
        default="",
        metavar="NAME=VALUE,...",
        help="override the baseline's tolerances: acc_pct, tau (absolute), cost_factor, cost_slack_s; "
        "a bare number sets acc_pct",
    )
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from harness.errors import CheckFailed, InputError
    from reports.load import RunLoadError, load
    from reports.regression import (
        BaselineError,
        check,
        parse_tolerances,
        read_baseline,
        render_diff,
        result_json,
    )

    try:
        overrides = parse_tolerances(args.tolerance)
        baseline = read_baseline(args.baseline)
        rs = load(args.dir, skip_corrupt=True)
    except (BaselineError, ValueError, RunLoadError) as exc:
        raise InputError(str(exc)) from None
    for bad in rs.corrupt:
        print(f"nas-harness check: warning: left out {bad.run_dir} (corrupt: {bad.reason})", file=sys.stderr)
    result = check(rs, baseline, overrides)
    for warning in result.warnings:
        print(f"nas-harness check: warning: {warning}", file=sys.stderr)
    print(
        json.dumps(result_json(result), indent=2, allow_nan=False) if args.json else render_diff(result),
        end="",
    )
    if not result.passed:
        worst = ", ".join(f"{c.entry} {c.quantity}" for c in result.failures[:3])
        more = f" (+{len(result.failures) - 3} more)" if len(result.failures) > 3 else ""
        raise CheckFailed(
            f"{len(result.failures)} value(s) worse than tolerance vs {args.baseline}: {worst}{more}"
        )
    return 0
