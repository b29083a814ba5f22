"""`nas-harness query`: what the space's judge says about architectures.

NB201 (`--space nb201`, the default): ground truth of the embedded benchmark table (or an official file), by
benchmark string or index, 200 or 12 epochs, seed mean or one seed. DARTS (`--space darts`): the surrogate's
predicted CIFAR-10 validation accuracy of genotypes, with its label and percentile. The space's query module
(`SearchSpace.querier`) validates which options apply to it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import registry

FORMATS = ("table", "json", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "query",
        help="ground truth (NB201) or surrogate predictions (DARTS) for architectures",
        description="NB201: ground truth for architectures given as benchmark strings or indices (0..15624); "
        "defaults 200 epochs, mean over seeds (stated on stderr). DARTS: the NB301-protocol surrogate's "
        "predicted CIFAR-10 validation accuracy of genotypes (a prediction, not a measured accuracy).",
    )
    p.add_argument("archs", nargs="*", metavar="ARCH", help="NB201 string or index; DARTS genotype name/text/JSON")
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--dataset", default=None, type=str.lower,
                   help="NB201: cifar10, cifar100 or imagenet16-120 (required); DARTS: cifar10 only")
    p.add_argument("--all", action="store_true", help="NB201: all 15,625 architectures in index order")
    p.add_argument("--epochs", type=int, default=None, help="NB201: 200 (default) or 12")
    p.add_argument("--seed", default=None, help="NB201: 'mean' (default) or a benchmark seed (777, 888, 999)")
    p.add_argument("--epoch", type=int, default=None, help="DARTS surrogate: training epoch 1..98 (default 98)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument(
        "--benchmark-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="NB201: read an official NATS-Bench tss archive dir or NB201 .pth instead of the embedded table "
        "(pickle-based: only name files you trust)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.errors import InputError
    from harness.spaces import get_space

    space = get_space(args.space)
    if space.querier is None:
        raise InputError(f"space {space.name!r} has nothing to query")
    return int(space.querier.run(args))
