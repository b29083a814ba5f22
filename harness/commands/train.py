"""`nas-harness train ARCH --space S --dataset D --preset P --seed N --out DIR`: train one architecture from
scratch (the honest judge) into a run directory.

The run directory is a search run's (spec.json with provenance and status, records.csv per epoch, archs.csv with
the judge's values beside the architecture, artifacts/ with a checkpoint per epoch): re-running the command
skips a completed run and resumes a killed one from its last epoch. Data: the whole training set for weights,
the test set for the measured accuracy (`data.split = "train_test"`); the smoke preset trains a tiny network for
a few steps on the synthetic set. Recipes: algorithms/train/config.py (DARTS evaluation protocol) and the
presets' `[spaces.<space>.algorithms.train]` sections (NB201's 200-epoch recipe).
"""

from __future__ import annotations

import argparse

from harness import registry
from harness.commands._options import PRESET_HELP, add_run_options, execute_and_report, out_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one architecture from scratch into a run directory",
        description="Train an architecture from scratch with the space's evaluation network and recipe, and "
        "measure its test accuracy (run directory like a search's; resumable).",
    )
    p.add_argument("arch", metavar="ARCH", help="NB201 string or index; DARTS genotype name, text or JSON")
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--dataset", required=True, type=str.lower, help="data set to train and test on")
    p.add_argument("--preset", required=True, help=PRESET_HELP)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", required=True, type=out_folder, metavar="DIR", help="the run directory to write")
    add_run_options(p, set_help="typed override of the recipe (algorithms/train/config.py), e.g. epochs=10")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.config import build_run_spec, parse_set_args
    from harness.errors import InputError
    from harness.spaces import get_space

    space = get_space(args.space)
    arch = space.values.parse(args.arch)
    sets = parse_set_args(args.sets)
    if "arch" in sets:
        raise InputError("give the architecture as ARCH, not --set arch=...")
    spec = build_run_spec(
        algorithm="train",
        space=args.space,
        search_dataset=args.dataset,
        seed=args.seed,
        preset=args.preset,
        config={"arch": arch.to_str()},
        data={"split": "train_test", "image_size": None},  # native size: evaluation networks assume it
        set_overrides=sets,
        device=args.device,
        threads=args.threads,
        data_root=str(args.data_root) if args.data_root else None,
    )
    return execute_and_report(spec, args.out, command="train", as_json=args.json)
