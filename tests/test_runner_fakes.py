"""Fake algorithms for the runner tests (registered only inside tests via `harness.registry.registered`).

`FakeStaged`: a tiny deterministic "search" with per-step checkpoints (so a SIGKILLed run can resume), two
stages of two children, and a `score` method (so rank evaluation runs). `FAKE_SLEEP_S` (environment) slows
each step down for the kill test without changing the spec (and hence the run id). `Leaky`: declares no oracle
use but reads `ctx.oracle` and swallows the refusal; the runner must still refuse it. No test functions live
here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from harness.api import SearchOutcome, StageOutcome, SubSupernetOutcome
from harness.spaces.base import SearchSpace


@dataclass(frozen=True)
class Shape:
    C: int = 4
    N: int = 1


@dataclass(frozen=True)
class FakeConfig:
    steps: int = 6
    lr: float = 0.5
    supernet: Shape = Shape()
    ops: tuple[str, ...] = ("none", "skip_connect")
    mode: str = "a"


class FakeStaged:
    name: ClassVar[str] = "fake"
    Config: ClassVar[type] = FakeConfig
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("enumeration",)

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.w = torch.zeros(4)

    def search(self, space: SearchSpace, ctx) -> SearchOutcome:
        enum = space.enumeration
        gen = ctx.torch_generator("fake")
        start = 0
        state = ctx.load_checkpoint("fake")
        if state is not None:
            start = int(state["step"]) + 1
            gen.set_state(state["gen"])
            self.w = state["w"]
        sleep_s = float(os.environ.get("FAKE_SLEEP_S", "0"))
        for step in range(start, self.config.steps):
            with ctx.phase("supernet"):
                self.w = self.w + self.config.lr * torch.randn(4, generator=gen)
                ctx.log(step, "supernet", epoch=step, train_loss=float(self.w.abs().sum()))
                ctx.count(epochs=1, steps=2, images=8, forwards=2)
                time.sleep(sleep_s)
            ctx.save_checkpoint("fake", {"step": step, "gen": gen.get_state(), "w": self.w})
        final = enum.from_index(int(abs(float(self.w.sum())) * 1000) % enum.num_archs)
        stages, subs = [], []
        for s in (1, 2):
            for k in (0, 1):
                subs.append(
                    SubSupernetOutcome(
                        stage=s,
                        child=k,
                        partition=f"e{s}={{op{k}}}",
                        held_out_acc=10.0 + s + k,
                        selected=k == 1,
                        remaining_space=100 // s - k,
                    )
                )
            stages.append(
                StageOutcome(
                    index=s,
                    children=2,
                    pick=1,
                    remaining_space=100 // s - 1,
                    pick_arch=final if s == 2 else None,
                )
            )
        return SearchOutcome(
            final_arch=final,
            selection_rule="fake: |sum(w)| -> index",
            stages=tuple(stages),
            sub_supernets=tuple(subs),
            extras={"w_sum": float(self.w.sum())},
        )

    def score(self, archs, ctx):
        codes = np.array([a.codes for a in archs], dtype=np.float64)
        w = self.w.numpy().astype(np.float64)
        scores = codes[:, :4] @ w + codes[:, 4] * 0.01
        owners = [f"stage2/child{a.codes[0] % 2}" for a in archs]
        return scores, owners


@dataclass(frozen=True)
class LeakyConfig:
    steps: int = 1


class Leaky:
    name: ClassVar[str] = "leaky"
    Config: ClassVar[type] = LeakyConfig
    uses_oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("enumeration",)

    def __init__(self, config: LeakyConfig) -> None:
        self.config = config

    def search(self, space: SearchSpace, ctx) -> SearchOutcome:
        try:
            ctx.oracle.accuracy([0], dataset="cifar10", split="valid", epochs=200, seed="mean")
        except Exception:  # noqa: BLE001 - deliberately swallowed: the runner must still notice
            pass
        return SearchOutcome(final_arch=space.enumeration.from_index(0), selection_rule="leaks")
