"""`nas-harness ablate --study smd|partition ...`: the HEP-NAS ablation grids, one run per variant and seed.

Why a command and not a shell loop: the grid (variants x seeds) is expanded by the harness (design.md §5),
every run gets its own run_id directory under DIR/hepnas/, completed runs are skipped on a re-run, and the
variant name is recorded in each run's spec (`variant`, e.g. "smd=mutual"; the algorithm's default value as
"default (smd=both)") so reports can group by it and take the default as the reference of the deltas.

Studies (algorithms.md §2): smd = none | teacher | mutual | both (partition fixed by preset / --set);
partition = gm | exhaustive (smd fixed); lr_schedule = public_code (the released periodic cosine, the
default) | path_cosine (monotone over the selected path). Exit 0 when every run is ok, 1 when any failed, 2 on
bad input.
"""

from __future__ import annotations

import argparse

from harness import registry
from harness.commands._options import PRESET_HELP, add_executor_options, add_run_options, out_folder, run_threads
from harness.errors import InputError

ALGORITHM = "hepnas"
STUDIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "smd": ("smd", ("none", "teacher", "mutual", "both")),
    "partition": ("partition", ("gm", "exhaustive")),
    "lr_schedule": ("lr_schedule", ("public_code", "path_cosine")),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ablate",
        help="run a HEP-NAS ablation grid (variants x seeds)",
        description="Expand an ablation study into one HEP-NAS run per variant and seed.",
    )
    p.add_argument("--study", required=True, metavar="STUDY", help=f"one of: {', '.join(STUDIES)}")
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--dataset", required=True, help="search dataset: cifar10, cifar100, imagenet16-120")
    p.add_argument("--preset", required=True, help=PRESET_HELP)
    p.add_argument("--seeds", default="0", metavar="S1,S2,...", help="comma-separated seeds (default 0)")
    p.add_argument("--out", required=True, type=out_folder, metavar="DIR")
    add_run_options(p, set_help="typed override applied to every run (not the studied key)")
    add_executor_options(p)
    p.add_argument(
        "--dry-run", action="store_true", help="print each planned run's resolved spec without running anything"
    )
    p.add_argument("--json", action="store_true", help="print the run summaries (or the --dry-run plan) as JSON")
    p.set_defaults(func=run)


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for token in text.split(","):
        token = token.strip()
        if not token.isdigit():
            raise InputError(f"--seeds {text!r} is not allowed; expected comma-separated integers >= 0, e.g. 0,1")
        seeds.append(int(token))
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds {text!r} repeats a seed")
    return seeds


def grid_points(study: str, seeds: list[int]) -> list:  # list[harness.config.GridPoint]
    """Variants in the study's order, seeds inner: (none,0), (none,1), (teacher,0), ..."""
    from harness.config import GridPoint
    from harness.registry import algorithm_config_class

    if study not in STUDIES:
        raise InputError(f"--study {study!r} is not allowed; allowed: {', '.join(STUDIES)}")
    key, values = STUDIES[study]
    default = getattr(algorithm_config_class(ALGORITHM)(), key)
    return [
        GridPoint(algorithm=ALGORITHM, seed=s, config={key: v}, variant=variant_label(key, v, default))
        for v in values
        for s in seeds
    ]


def variant_label(key: str, value: str, default: str) -> str:
    """`smd=mutual`; the algorithm's default value is labelled `default (smd=both)`, the reports' reference."""
    return f"default ({key}={value})" if value == default else f"{key}={value}"


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from harness.commands._plan import print_plan
    from harness.commands.status import format_text, summarize
    from harness.config import parse_set_args
    from harness.runner import expand_grid, run_specs

    seeds = parse_seeds(args.seeds)
    points = grid_points(args.study, seeds)
    sets = parse_set_args(args.sets)
    key = STUDIES[args.study][0]
    if key in sets:
        raise InputError(f"--set {key}=... conflicts with --study {args.study} (the study varies {key})")
    specs = expand_grid(
        points,
        space=args.space,
        search_dataset=args.dataset,
        preset=args.preset,
        set_overrides=sets,
        device=args.device,
        threads=run_threads(args),
        data_root=str(args.data_root) if args.data_root else None,
    )
    if args.dry_run:
        return print_plan(specs, args.out, as_json=args.json)
    results = run_specs(specs, args.out, executor=args.executor, jobs=args.jobs, ray_address=args.ray_address)
    summaries = []
    failed = 0
    for spec, result in zip(specs, results, strict=True):
        summary = summarize(result.run_dir)
        summary.setdefault("variant", spec.variant)
        summaries.append(summary)
        failed += result.status != "ok"
        if not args.json:
            print(f"[{spec.variant}] {format_text(summary)}")
    if args.json:
        print(json.dumps(summaries, indent=2, allow_nan=False))
    print(
        f"ablate {args.study}: {len(results)} runs, {len(results) - failed} ok "
        f"({sum(r.skipped for r in results)} skipped), {failed} failed",
        file=sys.stderr,
    )
    return 1 if failed else 0
