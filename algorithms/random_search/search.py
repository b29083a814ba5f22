"""Random search with the benchmark as evaluator: draw `n_samples` archs, keep the best validation accuracy.

The benchmark value stands for training each sampled arch for `epochs` epochs; the runner charges that
simulated training time (the table's train time per epoch x epochs) to the cost meter, so its "search cost" is
comparable. Ties in validation accuracy are broken by the smaller benchmark index (deterministic, documented).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from algorithms.random_search.config import Config
from harness.api import Arch, RunContext, SearchOutcome
from harness.spaces.base import Enumeration, SearchSpace


class RandomSearch:
    name: ClassVar[str] = "random_search"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("enumeration", "judge")

    def __init__(self, config: Config) -> None:
        self.config = config

    def _draw(self, enum: Enumeration, rng: np.random.Generator) -> list[Arch]:
        cfg = self.config
        order = rng.permutation(enum.num_archs)
        if not cfg.connected_only:
            return [enum.from_index(int(i)) for i in order[: cfg.n_samples]]
        connected = set(enum.arch_set("connected"))
        out: list[Arch] = []
        for i in order:
            arch = enum.from_index(int(i))
            if int(i) in connected:
                out.append(arch)
                if len(out) == cfg.n_samples:
                    break
        return out

    def search(self, space: SearchSpace, ctx: RunContext) -> SearchOutcome:
        cfg = self.config
        enum = space.enumeration
        dataset = ctx.data.dataset
        with ctx.phase("search"):
            archs = self._draw(enum, ctx.numpy_rng("random_search"))
            index = [enum.index(a) for a in archs]
            result = ctx.oracle.accuracy(
                archs, dataset=dataset, split=cfg.split, epochs=cfg.epochs, seed="mean"
            )
            values = np.asarray(result.values, dtype=np.float64)
            best = 0
            for step, value in enumerate(values):
                better = value > values[best] or (value == values[best] and index[step] < index[best])
                if better:
                    best = step
                ctx.log(
                    step,
                    "search",
                    index=index[step],
                    valid_acc_pct=float(value),
                    best_valid_acc_pct=float(values[best]),
                )
        extras: dict[str, Any] = {
            "oracle_dataset": dataset,
            "oracle_epochs": cfg.epochs,
            "oracle_split": cfg.split,
            "n_samples": len(archs),
        }
        return SearchOutcome(
            final_arch=archs[best],
            selection_rule=f"highest benchmark {cfg.split} accuracy ({cfg.epochs} epochs, seed mean) among "
            f"{len(archs)} uniform samples; ties -> smaller index",
            candidates=tuple((a, float(v)) for a, v in zip(archs, values, strict=True)),
            extras=extras,
        )
