"""`nas-harness search`: one search run, written directly into --out DIR.

The spec is resolved from the preset, the algorithm's Config defaults and typed `--set key=value` overrides
(unknown key -> exit 2). Re-running the same command skips a completed run, and redoes or resumes a killed
one. Exit 0 when the run is ok, 1 when it failed (error recorded in DIR/spec.json), 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._options import add_run_options


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search",
        help="run one architecture search into a run directory",
        description="Run one search (algorithm x space x dataset x seed x preset) into DIR.",
    )
    p.add_argument("--algorithm", required=True, help="darts, spos, fewshot, hepnas, random_search")
    p.add_argument("--space", default="nb201", help="search space (nb201)")
    p.add_argument("--dataset", required=True, type=str.lower, help="search dataset: cifar10, cifar100, imagenet16-120")
    p.add_argument("--preset", required=True, help="smoke (CPU, synthetic data) or paper (published schedules)")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="the run directory to write")
    add_run_options(
        p, set_help="typed override of a Config field (dotted for nested; data.* / rank_eval.* for the run)"
    )
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from harness.commands.status import format_text, summarize
    from harness.config import build_run_spec, parse_set_args
    from harness.runner import execute

    spec = build_run_spec(
        algorithm=args.algorithm,
        space=args.space,
        search_dataset=args.dataset,
        seed=args.seed,
        preset=args.preset,
        set_overrides=parse_set_args(args.sets),
        device=args.device,
        data_root=str(args.data_root) if args.data_root else None,
    )
    result = execute(spec, args.out)
    if result.skipped:
        print(f"run {result.run_id} already complete in {result.run_dir}; skipped", file=sys.stderr)
    summary = summarize(result.run_dir)
    print(json.dumps(summary, indent=2, allow_nan=False) if args.json else format_text(summary))
    if result.status != "ok":
        err = result.error or {}
        print(
            f"nas-harness search: run failed: {err.get('type')}: {err.get('message')} "
            f"(traceback in {result.run_dir / 'spec.json'})",
            file=sys.stderr,
        )
        return 1
    return 0
