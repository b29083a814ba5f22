"""HEP-NAS step breakdown (issue 14): per stage, a plain supernet epoch of the stage's parent against each child's SMD
epoch, split into weight step, architecture step, teacher forward and sibling forwards (HepNas.step_breakdown, the
search's own train_epoch / KD code on the NB201 supernet, random 32x32 data). Prints the table; asserts the target
of the issue: a stage-1 child SMD epoch costs at most 1.5x a supernet epoch of the same network.

Run with `make bench` or `pytest -m benchmark tests/benchmarks/test_bench_hepnas_step.py -s`.

Knobs (environment): NAS_BENCH_HEPNAS_C (default 16), NAS_BENCH_HEPNAS_N (5), NAS_BENCH_HEPNAS_BATCH (64),
NAS_BENCH_HEPNAS_BATCHES (batches per epoch; 20 on CUDA, 4 on CPU, where one full-supernet step takes seconds),
NAS_BENCH_HEPNAS_STAGES (3 on CUDA, 1 on CPU), NAS_BENCH_HEPNAS_DEVICE (auto), NAS_BENCH_THREADS (torch intra-op
threads; default: torch's own choice).
"""

from __future__ import annotations

import os

import pytest
import torch

from algorithms.hepnas import HepNas

pytestmark = pytest.mark.benchmark

STAGE1_MAX_RATIO = 1.5


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def test_hepnas_step_breakdown(benchmark):
    device = os.environ.get("NAS_BENCH_HEPNAS_DEVICE", "auto")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    threads = os.environ.get("NAS_BENCH_THREADS")
    options = dict(
        space="nb201",
        C=_env_int("NAS_BENCH_HEPNAS_C", 16),
        N=_env_int("NAS_BENCH_HEPNAS_N", 5),
        batch_size=_env_int("NAS_BENCH_HEPNAS_BATCH", 64),
        batches=_env_int("NAS_BENCH_HEPNAS_BATCHES", 20 if cuda else 4),
        stages=_env_int("NAS_BENCH_HEPNAS_STAGES", 3 if cuda else 1),
        device=device,
        threads=int(threads) if threads else None,
    )
    b = benchmark.pedantic(lambda: HepNas.step_breakdown(**options), rounds=1, iterations=1)
    print("\n" + b.table())
    benchmark.extra_info.update(
        {f"stage{s.stage}_ratio": s.ratio for s in b.stages}
        | {f"stage{s.stage}_smd_share": s.smd_share for s in b.stages}
        | {f"stage{s.stage}_supernet_epoch_s": s.supernet.epoch_s for s in b.stages}
        | {f"stage{s.stage}_child_epoch_s_mean": s.child_epoch_s_mean for s in b.stages}
        | {"threads": b.threads, "device": b.device}
    )
    stage1 = b.stages[0]
    assert stage1.ratio <= STAGE1_MAX_RATIO, (
        f"stage-1 child SMD epoch / supernet epoch {stage1.ratio:.2f}x > {STAGE1_MAX_RATIO}x\n{b.table()}"
    )
    for c in stage1.child_epochs:  # the SMD terms are the teacher + one sibling forward per step, no more
        assert c.teacher_forwards == c.nominal_teacher_forwards
        assert c.sibling_forwards == c.nominal_sibling_forwards
