"""`nas-harness run EXPERIMENT.toml --out DIR`: every run an experiment declares, into
DIR/<algorithm>/<run_id>/.

Grids (runs x grid points x seeds) are expanded by the harness (harness.config.load_experiment); completed
runs are skipped, killed ones redone or resumed. Exit 0 when every run is ok, 1 when any failed, 2 on bad
input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._options import add_executor_options, add_run_options, out_folder, run_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run every search an experiment TOML declares",
        description="Expand an experiment file into runs and execute them sequentially.",
    )
    p.add_argument("experiment", type=Path, metavar="EXPERIMENT.toml")
    p.add_argument("--out", required=True, type=out_folder, metavar="DIR")
    add_run_options(p, set_help="typed override applied to every run")
    add_executor_options(p)
    p.add_argument(
        "--dry-run", action="store_true", help="print each planned run's resolved spec without running anything"
    )
    p.add_argument("--json", action="store_true", help="with --dry-run: the plan as a JSON list")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.commands._plan import print_plan
    from harness.commands.status import format_text, summarize
    from harness.config import load_experiment, parse_set_args
    from harness.runner import run_specs

    exp = load_experiment(
        args.experiment,
        set_overrides=parse_set_args(args.sets),
        device=args.device,
        threads=run_threads(args),
        data_root=str(args.data_root) if args.data_root else None,
        out_dir=args.out,
    )
    if args.dry_run:
        return print_plan(exp.runs, args.out, as_json=args.json)
    results = run_specs(exp.runs, args.out, executor=args.executor, jobs=args.jobs, ray_address=args.ray_address)
    failed = 0
    for result in results:
        print(format_text(summarize(result.run_dir)))
        failed += result.status != "ok"
    print(
        f"{len(results)} runs: {len(results) - failed} ok ({sum(r.skipped for r in results)} skipped), {failed} failed",
        file=sys.stderr,
    )
    return 1 if failed else 0
