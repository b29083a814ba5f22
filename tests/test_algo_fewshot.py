"""Few-shot NAS structure on a tiny supernet: 5 children split on e0, weight transfer, owners, per-phase
cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from algorithms.common.config import SupernetConfig
from algorithms.fewshot import Config, FewShot
from harness.context import make_test_context
from harness.data import synthetic_search_data
from harness.spaces import get_space
from harness.spaces.nb201 import OPS, all_archs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_fewshot_tiny_run(tmp_path: Path) -> None:
    data = synthetic_search_data("cifar10", n_weight=32, n_held_out=32, seed=0, image_size=16)
    cfg = Config(
        supernet=SupernetConfig(C=2, N=1, track_running_stats=False),
        oneshot_epochs=1,
        child_epochs=0,
        batch_size=16,
        eval_batch_size=32,
        max_steps_per_epoch=1,
        candidates_per_child=3,
    )
    algo = FewShot(cfg)
    ctx = make_test_context(tmp_path, data)
    out = algo.search(get_space("nb201"), ctx)
    assert len(out.stages) == 1 and out.stages[0].children == 5
    assert [s.partition for s in out.sub_supernets] == [f"e0={{{op}}}" for op in OPS]
    assert sum(s.selected for s in out.sub_supernets) == 1
    assert all(s.remaining_space == 3125 for s in out.sub_supernets)
    assert len(out.candidates) == 15
    best = max(out.candidates, key=lambda c: c[1])
    assert out.final_arch in [a for a, s in out.candidates if s == best[1]]
    # with 0 child epochs, every child still holds exactly the one-shot weights (weight transfer)
    ref = algo._oneshot.supernet.state_dict()  # type: ignore[union-attr]
    for child in algo._children:
        for k, v in child.supernet.state_dict().items():
            assert torch.equal(v, ref[k]), k
    archs = list(all_archs()[:30])
    scores, owners = algo.score(archs, ctx)
    assert scores.shape == (30,)
    assert owners == [f"stage1/child{OPS.index(a.ops[0])}" for a in archs]
    assert np.all((scores >= 0) & (scores <= 100))
    phases = {p.phase for p in ctx.meter.phases()}
    assert {"oneshot", "transfer", "child0/train", "child4/search"} <= phases
