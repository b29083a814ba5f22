"""`nas-harness compare --algorithms A,B --dataset cifar10 --preset smoke --seeds 0,1 --out DIR`.

The paper workflow in one command: run every (algorithm, seed) search through the runner's grid (completed
runs are skipped, so an interrupted comparison continues where it stopped), evaluate each found architecture
on all three NB201 data sets from the ground truth (transfer, as in the papers), then write the report into
DIR/report (entry index.md). Exit 0 when every run is ok, 1 when any failed (the report still lists it), 2 on
bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import registry
from harness.commands._options import PRESET_HELP, add_executor_options, add_run_options, out_folder, run_threads

SEARCH_DATASETS = ("cifar10", "cifar100")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="run several algorithms over seeds and write the comparison report",
        description="Run a grid of searches (algorithms x seeds), skip completed runs, "
        "evaluate the found architectures on all NB201 data sets and write the "
        "report into OUT/report.",
    )
    p.add_argument("--algorithms", required=True, metavar="A,B,...", help="e.g. darts,spos,fewshot,hepnas")
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--dataset", required=True, type=str.lower, help="search dataset: cifar10 or cifar100")
    p.add_argument("--preset", required=True, help=PRESET_HELP)
    p.add_argument("--seeds", default="0,1,2,3", metavar="S,S,...", help="search seeds (default 0,1,2,3)")
    p.add_argument("--out", required=True, type=out_folder, metavar="DIR")
    add_run_options(p, set_help="typed override applied to every run (Config field, data.* or rank_eval.*)")
    add_executor_options(p)
    p.add_argument("--format", default="md,tex,csv", help="report table formats (md, tex, csv)")
    p.add_argument(
        "--dry-run", action="store_true", help="print each planned run's resolved spec without running anything"
    )
    p.add_argument("--json", action="store_true", help="with --dry-run: the plan as a JSON list")
    p.add_argument(
        "--no-projection",
        action="store_true",
        help="with --dry-run: skip the projected search cost (it times a few supernet steps of every method)",
    )
    p.set_defaults(func=run)


def parse_list(text: str, what: str) -> list[str]:
    from harness.errors import InputError

    items = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not items:
        raise InputError(f"--{what} {text!r}: expected a comma-separated, non-empty list")
    return items


def parse_seeds(text: str) -> list[int]:
    from harness.errors import InputError

    seeds = []
    for item in parse_list(text, "seeds"):
        try:
            seed = int(item)
        except ValueError:
            raise InputError(f"--seeds: {item!r} is not an integer; expected e.g. 0,1,2,3") from None
        if seed < 0:
            raise InputError(f"--seeds: {seed} is negative; seeds are integers >= 0")
        seeds.append(seed)
    return seeds


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.commands._plan import print_plan
    from harness.commands.report import generate
    from harness.config import DATASETS, GridPoint, parse_set_args
    from harness.errors import InputError
    from harness.runner import expand_grid, run_specs

    algorithms = parse_list(args.algorithms, "algorithms")
    for name in algorithms:
        registry.check_algorithm(name)
    registry.check_space(args.space)
    if args.dataset not in SEARCH_DATASETS:
        raise InputError(
            f"--dataset {args.dataset!r}: compare searches on {' or '.join(SEARCH_DATASETS)} "
            "(the found architectures are then evaluated on all three NB201 data sets)"
        )
    seeds = parse_seeds(args.seeds)
    points = [GridPoint(algorithm=a, seed=s) for a in algorithms for s in seeds]
    specs = expand_grid(
        points,
        space=args.space,
        search_dataset=args.dataset,
        preset=args.preset,
        eval_datasets=DATASETS,
        set_overrides=parse_set_args(args.sets),
        device=args.device,
        threads=run_threads(args),
        data_root=str(args.data_root) if args.data_root else None,
    )
    if args.dry_run:
        return print_plan(specs, args.out, as_json=args.json, projection=not args.no_projection)
    results = run_specs(specs, args.out, executor=args.executor, jobs=args.jobs, ray_address=args.ray_address)
    failed = [r for r in results if r.status != "ok"]
    skipped = sum(bool(r.skipped) for r in results)
    print(
        f"{len(results)} runs: {len(results) - len(failed)} ok ({skipped} skipped as already complete), "
        f"{len(failed)} failed",
        file=sys.stderr,
    )
    for r in failed:
        err = r.error or {}
        print(f"  failed: {r.run_dir}: {err.get('type')}: {err.get('message')}", file=sys.stderr)
    report = generate(args.out, Path(args.out) / "report", args.format)
    print(f"report: {report.index}")
    return 1 if failed else 0
