"""Single-path speed against the NB201 authors' reference (xautodl 1.0.0): SPOS weight steps vs training the
same architecture's fixed network (TinyNetwork), and rank-evaluation scoring vs the fixed network's forward at
batch 512. Ours runs with both supernet engines ("autograd" = before issue 14, "fused" = now), all measured
alternately in one process so that load from other processes hits every side alike.

Knobs (environment): NAS_BENCH_ROUNDS (alternating rounds, default 3), NAS_BENCH_THREADS (torch intra-op threads;
default: torch's own choice). Run with `make bench` or `pytest -m benchmark tests/benchmarks`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from algorithms.common.scoring import score_single_path
from harness.spaces import get_space
from harness.spaces.nb201.supernet import engine
from harness.supernet_bench import bench_archs, make_single_path_step

pytestmark = pytest.mark.benchmark

ROUNDS = int(os.environ.get("NAS_BENCH_ROUNDS", "3"))
ONE_SHOT = get_space("nb201").one_shot
CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _threads():
    before = torch.get_num_threads()
    if "NAS_BENCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["NAS_BENCH_THREADS"]))
    yield
    torch.set_num_threads(before)


def _tiny_network(arch) -> torch.nn.Module:  # noqa: ANN001
    pytest.importorskip("xautodl.models", reason="xautodl not installed (pip install --no-deps xautodl==1.0.0)")
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    return TinyNetwork(16, 5, Structure.str2structure(str(arch)), 10)


def _alternate(sides: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    for f in sides.values():  # warm-up
        f()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, f in sides.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _engine_side(name: str, f: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        with engine(name):
            f()

    return run


def test_single_path_step_vs_reference_fixed_network(benchmark):
    """Steps over the same 4 paths, cycled: ours (one supernet, one-hot weights) vs the reference's fixed
    network of each path (its own TinyNetwork, the cheapest a single path can be trained by the reference)."""
    archs = bench_archs(ONE_SHOT, 4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    nets = [_tiny_network(a) for a in archs]
    opts = [torch.optim.SGD(n.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4) for n in nets]
    turn = [0]

    def reference() -> None:
        i = turn[0] = (turn[0] + 1) % len(nets)
        opts[i].zero_grad(set_to_none=True)
        F.cross_entropy(nets[i](x)[1], y).backward()
        torch.nn.utils.clip_grad_norm_(nets[i].parameters(), 5.0)
        opts[i].step()

    sides = {"reference": reference}
    for name in ("autograd", "fused"):
        with engine(name):
            step = make_single_path_step(ONE_SHOT, archs, batch_size=64, device=CPU)
        sides[name] = _engine_side(name, step)
    # 4 steps per timing: one per path
    med = _alternate({k: (lambda f=f: [f() for _ in range(4)]) for k, f in sides.items()}, ROUNDS)
    med = {k: v / 4 for k, v in med.items()}
    ratios = {k: med["reference"] / med[k] for k in ("autograd", "fused")}
    benchmark.extra_info.update({f"{k}_step_s_median": v for k, v in med.items()} | {"speedup": ratios})
    print(
        f"\nsingle-path step, batch 64, {torch.get_num_threads()} threads: reference fixed network "
        f"{med['reference']:.3f}s, ours before (autograd) {med['autograd']:.3f}s ({ratios['autograd']:.2f}x), "
        f"ours now (fused) {med['fused']:.3f}s ({ratios['fused']:.2f}x)"
    )
    benchmark.pedantic(sides["fused"], rounds=1, iterations=1)
    assert med["fused"] < med["autograd"]


def test_scoring_throughput_vs_reference_forward(benchmark):
    """Rank-evaluation scoring of 4 paths on 512 images (one batch of 512) vs the reference's fixed-network
    eval forward of the same paths at batch 512. "Before" is the scoring loop as it was before issue 14 (arch
    outer, whole batch, autograd engine); "now" is `score_single_path` (stem once per batch, 64-image chunks,
    fused engine with BN folded into the convolutions). Target (issue 14): at least 2x."""
    archs = bench_archs(ONE_SHOT, 4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(512, 3, 32, 32, generator=g), torch.randint(0, 10, (512,), generator=g)
    nets = [_tiny_network(a).eval() for a in archs]

    def reference() -> None:
        with torch.no_grad():
            for n in nets:
                n(x)

    torch.manual_seed(0)
    supernet = ONE_SHOT.build_supernet(num_classes=10, C=16, N=5, affine=False, track_running_stats=True)
    weights = [torch.as_tensor(ONE_SHOT.arch_weights(a)) for a in archs]

    def before() -> None:  # the scoring loop before issue 14: arch by arch, whole batch, autograd engine
        supernet.eval()
        with torch.no_grad(), engine("autograd"):
            for w in weights:
                supernet(x, w, w.bool())

    sides = {"reference": reference, "autograd": before}
    sides["fused"] = _engine_side("fused", lambda: score_single_path(ONE_SHOT, supernet, archs, [(x, y)]))
    med = _alternate(sides, ROUNDS)
    ratios = {k: med["reference"] / med[k] for k in ("autograd", "fused")}
    benchmark.extra_info.update({f"{k}_s_median": v for k, v in med.items()} | {"speedup": ratios})
    print(
        f"\nscoring 4 archs x 512 images, {torch.get_num_threads()} threads: reference forward "
        f"{med['reference']:.2f}s, ours before {med['autograd']:.2f}s ({ratios['autograd']:.2f}x), "
        f"ours now {med['fused']:.2f}s ({ratios['fused']:.2f}x)"
    )
    benchmark.pedantic(sides["fused"], rounds=1, iterations=1)
    assert ratios["fused"] >= 2.0, f"scoring speedup {ratios['fused']:.2f}x < 2x (medians {med})"
