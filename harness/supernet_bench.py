"""Timing of supernet training steps (forward + backward + SGD), shared by `bench supernet` and the
benchmarks.

A step is the DARTS weight step: op weights = softmax(alpha) with alpha requiring grad (so d loss / d alpha is
computed too, as in the reference DARTS supernet), cross-entropy on random 32x32 data, SGD with momentum. On
CUDA: bf16 autocast, channels_last, and a synchronize around each timed step.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from harness.errors import InputError
from harness.spaces.base import OneShotAdapter


@dataclass(frozen=True)
class StepTiming:
    step_s_median: float
    images_per_s: float
    batch_size: int
    steps: int
    device: str
    torch_version: str
    threads: int
    channels_last: bool
    active_ops_per_edge: int
    step_s: tuple[float, ...]


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' -> device; InputError when CUDA is asked for but missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available; use --device cpu or auto")
        return torch.device("cuda")
    raise InputError(f"unknown device {name!r}; allowed: auto, cpu, cuda")


def keep_ops_mask(one_shot: OneShotAdapter, keep: int) -> torch.Tensor:
    """[E, O] mask keeping the first `keep` non-`none` ops of every edge, then `none` (NB201 keep=4: the full
    supernet minus none)."""
    ops = one_shot.ops
    if not 1 <= keep <= len(ops):
        raise InputError(f"ops per edge must be in 1..{len(ops)}, got {keep}")
    order = [o for o, name in enumerate(ops) if name != "none"] + [o for o, name in enumerate(ops) if name == "none"]
    mask = torch.zeros(one_shot.num_edges, len(ops), dtype=torch.bool)
    mask[:, order[:keep]] = True
    return mask


def make_supernet_step(
    one_shot: OneShotAdapter,
    *,
    batch_size: int,
    device: torch.device,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    image_size: int = 32,
    mask: torch.Tensor | None = None,
    channels_last: bool = False,
    seed: int = 0,
    amp: bool | None = None,
) -> Callable[[], None]:
    """One closure = one training step of a fresh supernet on a fixed random batch. `amp`: bf16 autocast
    (None: on CUDA only, the `bench supernet` setting)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = one_shot.build_supernet(
        num_classes=num_classes, C=C, N=N, affine=False, track_running_stats=True
    ).to(device)
    x = torch.randn(batch_size, 3, image_size, image_size, generator=g).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(device)
    if channels_last:
        # 4-D conv weights only; the cells' stacked 5-D tensors are sliced per call
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    alpha = (1e-3 * torch.randn(one_shot.num_edges, one_shot.num_ops, generator=g)).to(device).requires_grad_()
    mask_d = None if mask is None else mask.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    use_amp = device.type == "cuda" if amp is None else amp
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if use_amp else nullcontext()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        logits_alpha = alpha if mask_d is None else alpha.masked_fill(~mask_d, float("-inf"))
        with autocast:
            loss = F.cross_entropy(model(x, torch.softmax(logits_alpha, dim=-1), mask_d), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def bench_archs(one_shot: OneShotAdapter, count: int, seed: int = 0) -> list[Any]:
    """`count` architectures drawn uniformly from the whole space (torch generator seeded `seed`): the paths
    the single-path and scoring benchmarks cycle through (the same ones for ours and for a reference)."""
    g = torch.Generator().manual_seed(seed)
    return [one_shot.sample_arch(one_shot.full_mask(), g) for _ in range(count)]


def engine_context(one_shot: OneShotAdapter, name: str | None) -> AbstractContextManager[Any]:
    """The space's supernet engine `name` (None: its default); InputError for an engine it lacks."""
    if name is None:
        return nullcontext()
    engines = getattr(one_shot, "engines", ("autograd",))
    if name not in engines:
        raise InputError(f"--engine {name!r}: this space's supernet engines are {', '.join(engines)}")
    select = getattr(one_shot, "supernet_engine", None)
    return nullcontext() if select is None else select(name)


def make_single_path_step(
    one_shot: OneShotAdapter,
    archs: Sequence[Any],
    *,
    batch_size: int,
    device: torch.device,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    seed: int = 0,
) -> Callable[[], None]:
    """One closure = one SPOS weight step on a fixed random batch: the next of `archs` (cycled) as one-hot op
    weights and mask, cross-entropy, backward, clip, SGD; no architecture parameters, as in SPOS."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = one_shot.build_supernet(
        num_classes=num_classes, C=C, N=N, affine=False, track_running_stats=True
    ).to(device)
    x = torch.randn(batch_size, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(device)
    paths = [torch.as_tensor(one_shot.arch_weights(a), dtype=torch.float32, device=device) for a in archs]
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    turn = itertools.cycle(paths)

    def step() -> None:
        w = next(turn)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x, w, w.bool()), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def time_step(step: Callable[[], None], device: torch.device) -> float:
    """Wall seconds of one call, synchronised on CUDA."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _check_run(batch_size: int, steps: int, warmup: int, threads: int | None) -> None:
    if batch_size < 1 or steps < 1 or warmup < 0:
        raise InputError(
            f"batch size and steps must be >= 1 and warmup >= 0, got {batch_size}, {steps}, {warmup}"
        )
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def _timed(
    step: Callable[[], None],
    dev: torch.device,
    *,
    steps: int,
    warmup: int,
    progress: Callable[[int, int], None] | None,
) -> list[float]:
    for _ in range(warmup):
        time_step(step, dev)
    times = []
    for i in range(steps):
        times.append(time_step(step, dev))
        if progress is not None:
            progress(i + 1, steps)
    return times


def _device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def _timing(
    times: list[float], batch_size: int, dev: torch.device, *, channels_last: bool, active_ops_per_edge: int
) -> StepTiming:
    med = statistics.median(times)
    return StepTiming(
        step_s_median=med,
        images_per_s=batch_size / med,
        batch_size=batch_size,
        steps=len(times),
        device=_device_name(dev),
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
        channels_last=channels_last,
        active_ops_per_edge=active_ops_per_edge,
        step_s=tuple(times),
    )


def bench_supernet(
    one_shot: OneShotAdapter,
    *,
    batch_size: int = 64,
    steps: int = 10,
    warmup: int = 2,
    device: str = "auto",
    channels_last: bool | None = None,
    active_ops_per_edge: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    N: int = 5,
    engine: str | None = None,
) -> StepTiming:
    """Median step time of the space's full (or `active_ops_per_edge`-op) C=16, N-cell supernet (default N=5)
    on random 32x32 data (None = every op active), with supernet engine `engine` (None: the default)."""
    _check_run(batch_size, steps, warmup, threads)
    dev = resolve_device(device)
    cl = dev.type == "cuda" if channels_last is None else channels_last
    keep = one_shot.num_ops if active_ops_per_edge is None else active_ops_per_edge
    mask = None if keep == one_shot.num_ops else keep_ops_mask(one_shot, keep)
    with engine_context(one_shot, engine):
        step = make_supernet_step(one_shot, batch_size=batch_size, device=dev, N=N, mask=mask, channels_last=cl)
        times = _timed(step, dev, steps=steps, warmup=warmup, progress=progress)
    return _timing(times, batch_size, dev, channels_last=cl, active_ops_per_edge=keep)


def bench_single_path(
    one_shot: OneShotAdapter,
    *,
    batch_size: int = 64,
    steps: int = 10,
    warmup: int = 2,
    device: str = "auto",
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    N: int = 5,
    engine: str | None = None,
) -> StepTiming:
    """Median SPOS weight-step time (C=16, N cells per stage, random 32x32 data), cycling through `steps +
    warmup` uniformly drawn paths (`bench_archs`, seed 0)."""
    _check_run(batch_size, steps, warmup, threads)
    dev = resolve_device(device)
    archs = bench_archs(one_shot, steps + warmup)
    with engine_context(one_shot, engine):
        step = make_single_path_step(one_shot, archs, batch_size=batch_size, device=dev, N=N)
        times = _timed(step, dev, steps=steps, warmup=warmup, progress=progress)
    return _timing(times, batch_size, dev, channels_last=False, active_ops_per_edge=1)


@dataclass(frozen=True)
class StepMemory:
    """Resident memory of a fresh CPU process that builds one supernet and runs training steps on it."""

    peak_rss_bytes: int
    """Peak resident set (Linux VmHWM, else ru_maxrss) after the steps: interpreter + torch + model + steps."""
    rss_before_step_bytes: int
    """Resident set after building the supernet, the batch and the optimizer, before the first step."""
    space: str
    active_ops_per_edge: int
    batch_size: int
    C: int
    N: int
    steps: int
    threads: int
    step_s: tuple[float, ...]
    torch_version: str


def _rss_bytes() -> tuple[int, int]:
    """(current, peak) resident bytes of this process."""
    status = "/proc/self/status"
    try:
        with open(status) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere
        return peak, peak


def _step_memory_child(args: dict) -> None:  # runs in the fresh process started by step_peak_rss
    from harness.spaces import get_space

    torch.set_num_threads(args["threads"])
    one_shot = get_space(args["space"]).one_shot
    keep = args["keep"]
    mask = None if keep == one_shot.num_ops else keep_ops_mask(one_shot, keep)
    cpu = torch.device("cpu")
    step = make_supernet_step(
        one_shot, batch_size=args["batch_size"], device=cpu, C=args["C"], N=args["N"], mask=mask
    )
    before, _ = _rss_bytes()
    times = [time_step(step, cpu) for _ in range(args["steps"])]
    _, peak = _rss_bytes()
    print(json.dumps({"peak": peak, "before": before, "step_s": times, "threads": torch.get_num_threads()}))


def step_peak_rss(
    space: str,
    *,
    batch_size: int = 64,
    C: int = 16,
    N: int = 5,
    active_ops_per_edge: int | None = None,
    steps: int = 1,
    threads: int = 1,
    timeout_s: float | None = None,
) -> StepMemory:
    """Peak RSS of `steps` CPU training steps (as `make_supernet_step`) of space `space`'s supernet, measured in
    a fresh Python process so that nothing this process allocated before counts. `active_ops_per_edge` as
    `keep_ops_mask` (None = every op). The child imports torch, so the figure includes torch's own footprint
    (a few hundred MB)."""
    if batch_size < 1 or steps < 1 or threads < 1:
        raise InputError(f"batch size, steps and threads must be >= 1, got {batch_size}, {steps}, {threads}")
    from harness.spaces import get_space

    one_shot = get_space(space).one_shot
    keep = one_shot.num_ops if active_ops_per_edge is None else active_ops_per_edge
    keep_ops_mask(one_shot, keep)  # validates keep before starting a process
    args = {"space": space, "batch_size": batch_size, "C": C, "N": N, "keep": keep, "steps": steps,
            "threads": threads}
    code = f"from harness.supernet_bench import _step_memory_child; _step_memory_child({args!r})"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory-measurement process exited {proc.returncode}: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return StepMemory(
        peak_rss_bytes=out["peak"],
        rss_before_step_bytes=out["before"],
        space=space,
        active_ops_per_edge=keep,
        batch_size=batch_size,
        C=C,
        N=N,
        steps=steps,
        threads=out["threads"],
        step_s=tuple(out["step_s"]),
        torch_version=torch.__version__,
    )
