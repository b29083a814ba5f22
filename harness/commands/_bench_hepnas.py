"""`nas-harness bench hepnas-step`: where the time of a HEP-NAS stage goes, against a supernet epoch.

Per stage (1..--stages of the default HEP-NAS config: 2, 4, 8 children on NB201), one plain supernet epoch of the
stage's parent and one SMD epoch of every child, each split into the weight step (child forward + backward + SGD),
the architecture step, the teacher forward and the sibling forwards (run / nominal counts: the logit cache of
--shared-round-batches skips forwards). An epoch is --batches batches of --batch-size random 32x32 images on the
NB201 supernet (C, N as given). The algorithm runs it (`HepNas.step_breakdown`, reached through the registry);
this module only parses, validates and prints.

A target of `bench`, not a command (hence the leading underscore): `harness.commands.bench` adds it with
`add_target(targets)`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from harness.errors import InputError

DEVICES = ("auto", "cpu", "cuda")
MAX_STAGES = 3
PROGRESS_AFTER_S = 2.0
"""Progress lines go to stderr once a run has taken this long (a tiny run stays quiet)."""


def add_target(targets: argparse._SubParsersAction) -> None:
    """Add the `hepnas-step` target to the `bench` targets."""
    s = targets.add_parser(
        "hepnas-step",
        help="time the pieces of HEP-NAS SMD epochs against a supernet epoch",
        description="HEP-NAS step breakdown: per stage, a supernet epoch (architecture + weight step) and each "
        "child's SMD epoch (weight step, architecture step, teacher forward, sibling forwards) on the space's "
        "supernet (NB201 by default), random 32x32 data.",
    )
    s.add_argument(
        "--space",
        default=None,
        help="search space with a one-shot supernet (default: the default space, nb201)",
    )
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--batches", type=int, default=20, help="batches per epoch (default 20)")
    s.add_argument("--C", type=int, default=16, dest="C", help="supernet channels (default 16)")
    s.add_argument("--N", type=int, default=5, dest="N", help="cells per stage of the supernet (default 5)")
    s.add_argument("--stages", type=int, default=MAX_STAGES, help=f"HEP-NAS stages timed, 1..{MAX_STAGES}")
    s.add_argument("--smd", default="both", help="SMD terms: none | teacher | mutual | both (default both)")
    s.add_argument(
        "--shared-round-batches",
        action="store_true",
        help="every child replays the round's batches (the teacher/sibling logit cache is on)",
    )
    s.add_argument("--device", default="auto", help="auto | cpu | cuda")
    s.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    for name, flag in (("C", "--C"), ("N", "--N"), ("batch_size", "--batch-size"), ("batches", "--batches")):
        value = getattr(args, name)
        if value < 1:
            raise InputError(f"{flag} {value}; allowed: an integer >= 1")
    if not 1 <= args.stages <= MAX_STAGES:
        raise InputError(f"--stages {args.stages}; allowed: 1..{MAX_STAGES}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads {args.threads}; allowed: an integer >= 1")
    if args.device not in DEVICES:
        raise InputError(f"--device {args.device!r}; allowed: {', '.join(DEVICES)}")
    smd_modes = ("none", "teacher", "mutual", "both")
    if args.smd not in smd_modes:
        raise InputError(f"--smd {args.smd!r}; allowed: {', '.join(smd_modes)}")


def run(args: argparse.Namespace) -> int:
    import json

    from harness import registry

    _check_args(args)
    step_breakdown = registry.resolve_algorithm("hepnas").step_breakdown
    start = time.perf_counter()

    def progress(line: str) -> None:
        if sys.stderr.isatty() or time.perf_counter() - start >= PROGRESS_AFTER_S:
            print(f"hepnas-step: {line}", file=sys.stderr, flush=True)

    result: Any = step_breakdown(
        space=args.space or registry.DEFAULT_SPACE,
        C=args.C,
        N=args.N,
        batch_size=args.batch_size,
        batches=args.batches,
        stages=args.stages,
        device=args.device,
        threads=args.threads,
        smd=args.smd,
        shared_round_batches=args.shared_round_batches,
        progress=progress,
    )
    print(json.dumps(result.to_dict()) if args.json else result.table())
    return 0
