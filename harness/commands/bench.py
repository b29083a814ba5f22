"""`nas-harness bench`: speed benchmarks of the search engine.

Targets:
- `supernet`: full-supernet training steps (C=16, N=5, forward + backward + SGD, random 32x32 data; on CUDA
  bf16 autocast, channels_last and synchronised timing).
- `single-path`: SPOS weight steps (one uniformly drawn path per step, one-hot op weights).
- `score`: no-grad single-path scoring of many architectures (rank evaluation, candidate selection, child
  scoring), architecture-images per second.
- `hepnas-step`: HEP-NAS SMD epochs split into their pieces, per stage (harness/commands/_bench_hepnas.py).

`--engine` selects the space's supernet arithmetic where it has several (NB201: fused = the hand-written CPU
engine, autograd = torch ops under autograd, the engine before issue 14), for before/after figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from harness import registry
from harness.commands import _bench_hepnas as bench_hepnas


def _common(p: argparse.ArgumentParser, *, batch_size: int) -> None:
    p.add_argument(
        "--space",
        default=registry.DEFAULT_SPACE,
        help=f"search space ({', '.join(registry.SPACES)}; default {registry.DEFAULT_SPACE})",
    )
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument(
        "--engine", default=None, help="supernet engine (NB201: fused | autograd; default: the space's own)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks", description="Speed benchmarks.")
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    s = targets.add_parser(
        "supernet",
        help="time supernet training steps",
        description="Time full-supernet training steps (C=16, N=5, forward + backward + SGD, random "
        "32x32 data).",
    )
    _common(s, batch_size=64)
    s.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    s.add_argument("--warmup", type=int, default=2, help="untimed steps first")
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
    s.set_defaults(func=run_supernet)
    sp = targets.add_parser(
        "single-path",
        help="time SPOS single-path training steps",
        description="Time SPOS weight steps (C=16, N=5, one uniformly drawn path per step, random 32x32 data).",
    )
    _common(sp, batch_size=64)
    sp.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    sp.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    sp.set_defaults(func=run_single_path)
    sc = targets.add_parser(
        "score",
        help="time no-grad single-path scoring of many architectures",
        description="Time single-path proxy scoring (as rank evaluation runs it) of --archs uniformly drawn "
        "architectures on --images random 32x32 images (C=16, N=5).",
    )
    _common(sc, batch_size=512)
    sc.add_argument("--archs", type=int, default=20, help="architectures scored per round (default 20)")
    sc.add_argument("--images", type=int, default=512, help="images per architecture (default 512)")
    sc.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    sc.add_argument("--bn-mode", default="eval", help="eval (running statistics) | train (batch statistics)")
    sc.set_defaults(func=run_score)
    bench_hepnas.add_target(targets)


def _progress(what: str) -> Callable[[int, int], None] | None:
    """A bar-like counter on a terminal, log lines otherwise."""
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            print(f"\r{what} {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        else:
            print(f"{what} {done}/{total}", file=sys.stderr, flush=True)

    return progress


def _one_shot(args: argparse.Namespace, who: str):  # noqa: ANN202 - OneShotAdapter
    from harness.errors import InputError
    from harness.spaces import get_space

    one_shot = get_space(args.space).require("one_shot", who)
    if args.device not in ("auto", "cpu", "cuda"):
        raise InputError(f"unknown device {args.device!r}; allowed: auto, cpu, cuda")
    return one_shot


def _print(args: argparse.Namespace, out: dict, lines: list[str]) -> int:
    import json

    if args.json:
        print(json.dumps(out))
    else:
        print("\n".join(lines))
    return 0


def run_supernet(args: argparse.Namespace) -> int:
    one_shot = _one_shot(args, "bench supernet")
    from harness.supernet_bench import bench_supernet

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
        progress=_progress("step"),
        engine=args.engine,
    )
    out = _step_json(t, args.engine) | {"channels_last": t.channels_last}
    return _print(args, out, [
        f"{args.space} supernet C=16 N=5, {t.active_ops_per_edge}/{one_shot.num_ops} ops per edge, "
        f"batch {t.batch_size}, 32x32, engine {args.engine or 'default'}",
        f"device {t.device} (torch {t.torch_version}, {t.threads} threads, channels_last={t.channels_last})",
        f"step_s_median {t.step_s_median:.4f}  images_per_s {t.images_per_s:.1f}  ({t.steps} steps)",
    ])


def _step_json(t, engine: str | None) -> dict:  # noqa: ANN001 - StepTiming
    return {
        "step_s_median": t.step_s_median,
        "images_per_s": t.images_per_s,
        "batch_size": t.batch_size,
        "steps": t.steps,
        "device": t.device,
        "torch_version": t.torch_version,
        "threads": t.threads,
        "active_ops_per_edge": t.active_ops_per_edge,
        "engine": engine,
    }


def run_single_path(args: argparse.Namespace) -> int:
    one_shot = _one_shot(args, "bench single-path")
    from harness.supernet_bench import bench_single_path

    t = bench_single_path(
        one_shot,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        threads=args.threads,
        progress=_progress("step"),
        engine=args.engine,
    )
    return _print(args, _step_json(t, args.engine), [
        f"{args.space} single-path (SPOS) steps, C=16 N=5, batch {t.batch_size}, 32x32, "
        f"engine {args.engine or 'default'}",
        f"device {t.device} (torch {t.torch_version}, {t.threads} threads)",
        f"step_s_median {t.step_s_median:.4f}  images_per_s {t.images_per_s:.1f}  ({t.steps} steps)",
    ])


def run_score(args: argparse.Namespace) -> int:
    import dataclasses

    one_shot = _one_shot(args, "bench score")
    bench_score = registry.resolve_benchmark("score")
    t = bench_score(
        one_shot,
        archs=args.archs,
        images=args.images,
        batch_size=args.batch_size,
        rounds=args.rounds,
        bn_mode=args.bn_mode,
        device=args.device,
        threads=args.threads,
        engine=args.engine,
        progress=_progress("round"),
    )
    return _print(args, dataclasses.asdict(t) | {"engine": args.engine}, [
        f"{args.space} single-path scoring, C={t.C} N={t.N}, {t.archs} archs x {t.images} images, batch "
        f"{t.batch_size}, BN {t.bn_mode}, engine {args.engine or 'default'}",
        f"device {t.device} (torch {t.torch_version}, {t.threads} threads)",
        f"seconds_median {t.seconds_median:.3f}  arch_images_per_s {t.arch_images_per_s:.1f}  ({t.rounds} rounds)",
    ])
