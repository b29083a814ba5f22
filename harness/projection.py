"""Projected search cost of a planned run: the method's protocol counted in supernet steps (its `work_plan`),
each kind of step timed for a few steps on this machine, and the product summed.

Why: a user about to commit GPU-days to `--preset paper` should see what it will cost before it starts, and the
figure must rest on measured step times, not on a quoted paper number. `compare --dry-run` prints it.

What is timed (random 32x32 data, the run's supernet C, N and precision, `harness.supernet_bench`): "train" =
forward + backward + SGD step; "forward" = a no-grad forward; both with `active_ops` ops kept per edge (None = the full
supernet, 1 = a single path). A device without CUDA gives no GPU figure ("n/a": nothing here measured one). What
is not modelled (data loading, logging, checkpoints, the harness's rank evaluation) makes the projection a lower
bound; what each method's `work_plan` approximates is said in its WorkItem notes.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from harness.api import WorkItem
from harness.spaces.base import OneShotAdapter

#: (train images, test images) of each search data set
DATASET_IMAGES: dict[str, tuple[int, int]] = {
    "cifar10": (50_000, 10_000),
    "cifar100": (50_000, 10_000),
    "imagenet16-120": (151_700, 6_000),
}


def protocol_sizes(dataset: str, split: str, n_weight: int | None, n_held_out: int | None) -> tuple[int, int]:
    """(weight images, held-out images) a run on `split` trains and scores on (before any subset cap)."""
    n_train, n_test = DATASET_IMAGES[dataset]
    if split == "train_half":
        w, h = n_train // 2, n_train - n_train // 2
    elif split == "nb201_official":  # CIFAR-10: the official 25k / 25k halves; else train / x-valid half of test
        w, h = (25_000, 25_000) if dataset == "cifar10" else (n_train, n_test // 2)
    else:  # train_test
        w, h = n_train, n_test
    return (min(w, n_weight) if n_weight else w, min(h, n_held_out) if n_held_out else h)


@dataclass(frozen=True)
class StepKey:
    kind: str  # "train" | "forward"
    batch_size: int
    active_ops: int | None
    C: int
    N: int
    amp: bool  # bf16 autocast, as the run's config says


@dataclass(frozen=True)
class Projection:
    """One run's projection: its work items with the step time each rests on, per device."""

    algorithm: str
    seed: int
    items: tuple[WorkItem, ...]
    step_s: dict[str, tuple[float | None, ...]]  # device label -> seconds per item (None: not measured)

    def hours(self, device: str) -> float | None:
        times = self.step_s.get(device)
        if times is None or any(t is None for t in times):
            return None
        return sum(item.count * t for item, t in zip(self.items, times, strict=True)) / 3600.0  # type: ignore[operator]


def step_mask(one_shot: OneShotAdapter, active_ops: int | None) -> torch.Tensor | None:
    """The op mask a timed step keeps. A single path (1 op per edge) cycles the non-`none` ops over the edges (NB201:
    skip, 1x1, 3x3, pool, skip, 1x1), so its cost is near a uniformly sampled path's, not the all-skip path's."""
    from harness.supernet_bench import keep_ops_mask

    if active_ops is None:
        return None
    if active_ops != 1:
        return keep_ops_mask(one_shot, active_ops)
    ops = [o for o, name in enumerate(one_shot.ops) if name != "none"]
    mask = torch.zeros(one_shot.num_edges, one_shot.num_ops, dtype=torch.bool)
    for e in range(one_shot.num_edges):
        mask[e, ops[e % len(ops)]] = True
    return mask


def _make_forward(one_shot: OneShotAdapter, key: StepKey, device: torch.device) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    model = one_shot.build_supernet(num_classes=10, C=key.C, N=key.N, affine=False, track_running_stats=True)
    model = model.to(device).eval()
    x = torch.randn(key.batch_size, 3, 32, 32, generator=g).to(device)
    mask = step_mask(one_shot, key.active_ops)
    mask = None if mask is None else mask.to(device)
    w = torch.full((one_shot.num_edges, one_shot.num_ops), 1.0 / one_shot.num_ops, device=device)
    if mask is not None:
        w = torch.where(mask, w, torch.zeros_like(w))

    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if key.amp else contextlib.nullcontext()

    def step() -> None:
        with torch.inference_mode(), autocast:
            model(x, w, mask)

    return step


def time_key(one_shot: OneShotAdapter, key: StepKey, device: torch.device, *, steps: int = 3) -> float:
    """Median seconds of `steps` timed steps after one untimed one."""
    from harness.supernet_bench import make_supernet_step, time_step

    if key.kind == "train":
        mask = step_mask(one_shot, key.active_ops)
        step = make_supernet_step(
            one_shot, batch_size=key.batch_size, device=device, C=key.C, N=key.N, mask=mask, amp=key.amp
        )
    else:
        step = _make_forward(one_shot, key, device)
    time_step(step, device)
    return statistics.median(time_step(step, device) for _ in range(steps))


def devices_here() -> list[tuple[str, torch.device]]:
    """(label, device) of every device this machine can time: the CPU, and CUDA when present."""
    out = [("CPU", torch.device("cpu"))]
    if torch.cuda.is_available():
        out.append(("GPU", torch.device("cuda")))
    return out


def project(
    runs: Sequence[tuple[str, int, Sequence[WorkItem], OneShotAdapter, int, int, bool]],
    *,
    log: Callable[[str], None] = lambda line: None,
) -> tuple[list[Projection], dict[tuple[str, StepKey], float]]:
    """Projections of `runs` = (algorithm, seed, work items, one-shot adapter, C, N, amp); each distinct step is
    timed once per device (returned too, keyed by (device label, step))."""
    measured: dict[tuple[str, StepKey], float] = {}
    out = []
    for algorithm, seed, items, one_shot, C, N, amp in runs:
        per_device: dict[str, tuple[float | None, ...]] = {"GPU": tuple(None for _ in items)}
        for label, device in devices_here():
            times = []
            for item in items:
                key = StepKey(item.kind, item.batch_size, item.active_ops, C, N, amp)
                if (label, key) not in measured:
                    log(f"timing {label} {_describe(key)} ...")
                    measured[(label, key)] = time_key(one_shot, key, device)
                times.append(measured[(label, key)])
            per_device[label] = tuple(times)
        out.append(Projection(algorithm, seed, tuple(items), per_device))
    return out, measured


def _describe(key: StepKey) -> str:
    ops = "all ops" if key.active_ops is None else f"{key.active_ops} op(s)/edge"
    precision = "bf16 autocast" if key.amp else "fp32"
    return f"{key.kind} step, batch {key.batch_size}, {ops}, C={key.C} N={key.N}, {precision}"


def format_projection(projections: Sequence[Projection], measured: dict[tuple[str, StepKey], float]) -> str:
    """The text `compare --dry-run` prints: per method the projected GPU-hours and CPU-hours, then the step times
    they rest on and each method's step counts."""
    lines = ["", "Projected search cost (measured step times x the protocol's step counts; a lower bound):"]
    seen: set[str] = set()
    for p in projections:
        if p.algorithm in seen:  # seeds share the protocol: one line per method
            continue
        seen.add(p.algorithm)
        cpu, gpu = p.hours("CPU"), p.hours("GPU")
        gpu_text = f"{gpu:,.1f} GPU-hours" if gpu is not None else "GPU-hours n/a (no CUDA device here to time)"
        lines.append(f"  {p.algorithm:8s} {gpu_text}; {cpu:,.1f} CPU-hours (this CPU, {torch.get_num_threads()} "
                     f"threads) per run")
        for item in p.items:
            lines.append(f"      {item.phase}: {item.count:,} x {item.kind} (batch {item.batch_size}, "
                         f"{'all ops' if item.active_ops is None else f'{item.active_ops} op(s)/edge'}) - {item.note}")
    lines.append("  Step times measured here (median of 3 after 1 warm-up, random data):")
    for (label, key), seconds in sorted(measured.items(), key=lambda kv: (kv[0][0], _describe(kv[0][1]))):
        lines.append(f"      {label}: {_describe(key)}: {seconds * 1000:,.1f} ms")
    return "\n".join(lines)


def steps_per_epoch(images: int, batch_size: int, cap: int = 0) -> int:
    """Batches of one pass over `images` (the last one short), capped at `cap` when > 0."""
    n = math.ceil(images / batch_size)
    return min(n, cap) if cap > 0 else n

