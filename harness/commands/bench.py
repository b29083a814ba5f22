"""`nas-harness bench supernet`: time full-supernet training steps (forward + backward + SGD).

The NB201 supernet (C=16, N=5, all ops active unless --active-ops says fewer) trains on random 32x32 data; the
median step time and images/s are printed. On CUDA: bf16 autocast, channels_last, synchronised timing.
"""

from __future__ import annotations

import argparse

from harness import registry


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks", description="Speed benchmarks.")
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    s = targets.add_parser(
        "supernet",
        help="time supernet training steps",
        description="Time full-supernet training steps (C=16, N=5, forward + backward + SGD, random "
        "32x32 data).",
    )
    s.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    s.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    s.add_argument("--device", default="auto", help="auto | cpu | cuda")
    s.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)"
    )
    s.add_argument(
        "--channels-last",
        choices=("auto", "on", "off"),
        default="auto",
        help="auto = on for CUDA, off for CPU",
    )
    s.add_argument(
        "--active-ops",
        type=int,
        default=None,
        help="ops kept per edge (default: all, the full supernet; NB201 2 = a 2-of-5 sub-supernet)",
    )
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from harness.errors import InputError
    from harness.spaces import get_space

    one_shot = get_space(args.space).require("one_shot", "bench supernet")
    if args.device not in ("auto", "cpu", "cuda"):
        raise InputError(f"unknown device {args.device!r}; allowed: auto, cpu, cuda")
    from harness.supernet_bench import bench_supernet

    progress = None
    if sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            print(f"\rstep {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    cl = {"auto": None, "on": True, "off": False}[args.channels_last]
    t = bench_supernet(
        one_shot,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        channels_last=cl,
        active_ops_per_edge=args.active_ops,
        threads=args.threads,
        progress=progress,
    )
    out = {
        "step_s_median": t.step_s_median,
        "images_per_s": t.images_per_s,
        "batch_size": t.batch_size,
        "steps": t.steps,
        "device": t.device,
        "torch_version": t.torch_version,
        "threads": t.threads,
        "channels_last": t.channels_last,
        "active_ops_per_edge": t.active_ops_per_edge,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"{args.space} supernet C=16 N=5, {t.active_ops_per_edge}/{one_shot.num_ops} ops per edge, "
            f"batch {t.batch_size}, 32x32"
        )
        print(
            f"device {t.device} (torch {t.torch_version}, {t.threads} threads, "
            f"channels_last={t.channels_last})"
        )
        print(f"step_s_median {t.step_s_median:.4f}  images_per_s {t.images_per_s:.1f}  ({t.steps} steps)")
    return 0
