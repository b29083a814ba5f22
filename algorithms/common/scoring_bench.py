"""Timing of single-path proxy scoring (`nas-harness bench score`): architectures per second through the same
`score_single_path` that rank evaluation, SPOS candidate selection and few-shot / HEP-NAS child scoring use.

Why here and not in harness/: it times the algorithms' scoring function, and harness/ never imports
algorithms/ (it reaches this module through `harness.registry.BENCHMARKS`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness.errors import InputError
from harness.spaces.base import OneShotAdapter
from harness.supernet_bench import bench_archs, engine_context, resolve_device

from .scoring import BN_MODES, score_single_path


@dataclass(frozen=True)
class ScoreTiming:
    archs: int
    images: int
    batch_size: int
    rounds: int
    seconds_median: float
    arch_images_per_s: float
    """Architecture-images scored per second: archs * images / seconds."""
    bn_mode: str
    C: int
    N: int
    device: str
    torch_version: str
    threads: int


def bench_score(
    one_shot: OneShotAdapter,
    *,
    archs: int = 20,
    images: int = 512,
    batch_size: int = 512,
    rounds: int = 3,
    C: int = 16,
    N: int = 5,
    bn_mode: str = "eval",
    device: str = "auto",
    threads: int | None = None,
    engine: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreTiming:
    """Median wall time of scoring `archs` uniformly drawn paths (`bench_archs`, seed 0) on `images` random
    32x32 images in batches of `batch_size` with a fresh C, N supernet (BN running statistics at their
    initial values in eval mode: the arithmetic, not the accuracy, is timed)."""
    if min(archs, images, batch_size, rounds, C, N) < 1:
        raise InputError(
            f"archs, images, batch size, rounds, C and N must be >= 1, got {archs}, {images}, {batch_size}, "
            f"{rounds}, {C}, {N}"
        )
    if bn_mode not in BN_MODES:
        raise InputError(f"--bn-mode {bn_mode!r}; allowed: {', '.join(BN_MODES)}")
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = one_shot.build_supernet(num_classes=10, C=C, N=N, affine=False, track_running_stats=True).to(dev)
    x = torch.randn(images, 3, 32, 32, generator=g).to(dev)
    y = torch.randint(0, 10, (images,), generator=g).to(dev)
    batches = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, images, batch_size)]
    paths = bench_archs(one_shot, archs)
    times = []
    with engine_context(one_shot, engine):
        score_single_path(one_shot, net, paths[:1], batches[:1], bn_mode=bn_mode)  # warm-up
        for r in range(rounds):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            score_single_path(one_shot, net, paths, batches, bn_mode=bn_mode)
            times.append(time.perf_counter() - t0)
            if progress is not None:
                progress(r + 1, rounds)
    med = statistics.median(times)
    return ScoreTiming(
        archs=archs,
        images=images,
        batch_size=batch_size,
        rounds=rounds,
        seconds_median=med,
        arch_images_per_s=archs * images / med,
        bn_mode=bn_mode,
        C=C,
        N=N,
        device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
    )
