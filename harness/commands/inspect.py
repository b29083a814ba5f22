"""`nas-harness inspect ARCH --space S --dataset D`: build an architecture's network and report its size.

What is built and counted is the space's (`SearchSpace.inspector`): NB201 builds the benchmark network and puts
the benchmark's own params/FLOPs beside the counts; the DARTS space builds the evaluation network (auxiliary
head excluded, as published) and counts parameters and multiply-adds.
"""

from __future__ import annotations

import argparse

from harness import registry


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="build an architecture's network and print its params and FLOPs",
        description="Build the network of an architecture of the chosen space and print its parameter "
        "count and FLOPs / multiply-adds (millions).",
    )
    p.add_argument("arch", metavar="ARCH", help="an architecture of the space (NB201: string or index 0..15624; "
                   "DARTS: a built-in genotype name, genotype text or JSON)")
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--dataset", required=True, type=str.lower, help="a data set the space's networks are built for")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from harness.errors import InputError
    from harness.spaces import get_space

    space = get_space(args.space)
    if space.inspector is None:
        raise InputError(f"space {space.name!r} has no network to inspect")
    if args.dataset not in space.inspector.DATASETS:
        raise InputError(
            f"unknown dataset {args.dataset!r} for space {space.name!r}; allowed: "
            f"{', '.join(space.inspector.DATASETS)}"
        )
    out = space.inspector.inspect(space.values.parse(args.arch), args.dataset)
    print(json.dumps(out) if args.json else space.inspector.render(out))
    return 0
