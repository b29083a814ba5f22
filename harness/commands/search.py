"""`nas-harness search`: one search run, written directly into --out DIR.

The spec is resolved from the preset, the algorithm's Config defaults and typed `--set key=value` overrides
(unknown key -> exit 2). Re-running the same command skips a completed run, and redoes or resumes a killed
one. Exit 0 when the run is ok, 1 when it failed (error recorded in DIR/spec.json), 2 on bad input.
"""

from __future__ import annotations

import argparse

from harness import registry
from harness.commands._options import PRESET_HELP, add_run_options, execute_and_report, out_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search",
        help="run one architecture search into a run directory",
        description="Run one search (algorithm x space x dataset x seed x preset) into DIR.",
    )
    p.add_argument("--algorithm", required=True, help="darts, spos, fewshot, hepnas, random_search")
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--dataset", required=True, type=str.lower, help="search dataset: cifar10, cifar100, imagenet16-120")
    p.add_argument("--preset", required=True, help=PRESET_HELP)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", required=True, type=out_folder, metavar="DIR", help="the run directory to write")
    add_run_options(
        p, set_help="typed override of a Config field (dotted for nested; data.* / rank_eval.* for the run)"
    )
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.config import build_run_spec, parse_set_args

    registry.check_algorithm(args.algorithm)  # jobs such as `train` have their own command
    spec = build_run_spec(
        algorithm=args.algorithm,
        space=args.space,
        search_dataset=args.dataset,
        seed=args.seed,
        preset=args.preset,
        set_overrides=parse_set_args(args.sets),
        device=args.device,
        threads=args.threads,
        data_root=str(args.data_root) if args.data_root else None,
    )
    return execute_and_report(spec, args.out, command="search", as_json=args.json)
