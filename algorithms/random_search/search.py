"""Random search with the benchmark as evaluator: draw `n_samples` archs, keep the best validation accuracy.

The benchmark value stands for training each sampled arch for `epochs` epochs; the runner charges that
simulated training time (the table's train time per epoch x epochs) to the cost meter, so its "search cost" is
comparable. Ties in validation accuracy are broken by the smaller benchmark index (deterministic, documented).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from algorithms.random_search.config import Config
from harness.api import RunContext, SearchOutcome
from harness.errors import InputError
from harness.spaces.nb201 import NUM_ARCHS, NB201Arch


class RandomSearch:
    name: ClassVar[str] = "random_search"
    Config: ClassVar[type] = Config
    uses_oracle: ClassVar[bool] = True

    def __init__(self, config: Config) -> None:
        self.config = config

    def _draw(self, rng: np.random.Generator) -> list[NB201Arch]:
        cfg = self.config
        if not cfg.connected_only:
            return [NB201Arch.from_index(int(i)) for i in rng.permutation(NUM_ARCHS)[: cfg.n_samples]]
        out: list[NB201Arch] = []
        for i in rng.permutation(NUM_ARCHS):
            arch = NB201Arch.from_index(int(i))
            if arch.is_connected():
                out.append(arch)
                if len(out) == cfg.n_samples:
                    break
        return out

    def search(self, space: str, ctx: RunContext) -> SearchOutcome:
        if space != "nb201":
            raise InputError(f"random_search supports space 'nb201' only, got {space!r}")
        cfg = self.config
        dataset = ctx.data.dataset
        with ctx.phase("search"):
            archs = self._draw(ctx.numpy_rng("random_search"))
            result = ctx.oracle.accuracy(
                archs, dataset=dataset, split=cfg.split, epochs=cfg.epochs, seed="mean"
            )
            values = np.asarray(result.values, dtype=np.float64)
            best = 0
            for step, (arch, value) in enumerate(zip(archs, values, strict=True)):
                better = value > values[best] or (value == values[best] and arch.index < archs[best].index)
                if better:
                    best = step
                ctx.log(
                    step,
                    "search",
                    index=arch.index,
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
