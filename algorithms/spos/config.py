"""SPOS / RSPS configuration. Defaults: RSPS on NB201, AutoDL `RANDOM.config` (algorithms.md §6): 250 epochs,
SGD nesterov 0.9, lr 0.025 -> 0.001 cosine, wd 5e-4, batch 64, select 100. Evolution settings have NO defaults
(§6: "population and mutation settings are not fixed here and must be set explicitly").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.common.config import SupernetConfig, check_eval_fields
from harness.errors import InputError
from harness.train import SGDConfig

__all__ = ["Config", "SGDConfig", "SupernetConfig"]


@dataclass(frozen=True)
class Config:
    epochs: int = 250  # RSPS on NB201 (AutoDL RANDOM.config)
    batch_size: int = 64
    # SGD nesterov 0.9, lr 0.025 -> 0.001 cosine, wd 5e-4 (§6); grad-clip 5 as in the DARTS-family loops
    weight_opt: SGDConfig = field(
        default_factory=lambda: SGDConfig(
            lr=0.025, lr_min=0.001, momentum=0.9, weight_decay=5e-4, nesterov=True, grad_clip=5.0
        )
    )
    # C=16, N=5, affine off. track_running_stats: an AutoDL script flag; GM-NAS / HEP-NAS rsws: False
    # (algorithms.md §6). Recorded with every run.
    supernet: SupernetConfig = field(
        default_factory=lambda: SupernetConfig(C=16, N=5, affine=False, track_running_stats=True)
    )
    max_steps_per_epoch: int = 0  # 0 = full epochs; >0 caps weight batches per epoch (smoke runs only)
    # "network": one arch shared by all cells (GM-NAS/HEP-NAS); "cell": one per cell (few-shot NAS)
    sample_per: str = "network"
    reject_disconnected: bool = True  # re-draw disconnected cells (GM-NAS/HEP-NAS sampler)
    search_split: str = "train_half"
    batch_sampling: str = "epoch"
    search: str = "random"  # "random" (RSPS) | "evolution" (SPOS)
    num_candidates: int = 100  # search="random": distinct archs scored (AutoDL RANDOM-NAS --select_num 100)
    # search="evolution": all four required, no defaults (§6). Each generation keeps the `num_parents` best
    # archs seen so far and mutates them (each edge re-drawn uniformly with prob. mutation_prob) into
    # `population` new, distinct archs; the initial population is uniform random (no crossover).
    # Fitness = held-out single-path top-1 (score_bn_mode).
    population: int | None = None
    generations: int | None = None
    num_parents: int | None = None
    mutation_prob: float | None = None
    # proxy score (candidates and SupernetScorer): held-out top-1 on fixed un-augmented batches, BN eval (§6)
    score_bn_mode: str = "eval"
    eval_batch_size: int = 512  # scoring forwards only (AutoDL "test batch 512")
    score_max_images: int | None = None  # first held-out images a scored arch sees; None: the whole half

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("spos epochs and batch_size must be >= 1")
        if self.sample_per not in ("network", "cell"):
            raise InputError(f"spos sample_per={self.sample_per!r}: allowed network, cell")
        if self.search_split not in ("train_half", "nb201_official"):
            raise InputError(f"spos search_split={self.search_split!r}: allowed train_half, nb201_official")
        if self.batch_sampling not in ("epoch", "fresh_iter"):
            raise InputError(f"spos batch_sampling={self.batch_sampling!r}: allowed epoch, fresh_iter")
        if self.score_bn_mode not in ("eval", "train"):
            raise InputError(f"spos score_bn_mode={self.score_bn_mode!r}: allowed eval, train")
        check_eval_fields("spos", self.eval_batch_size, self.score_max_images, self.max_steps_per_epoch)
        if self.search not in ("random", "evolution"):
            raise InputError(f"spos search={self.search!r}: allowed random, evolution")
        if self.search == "random" and self.num_candidates < 1:
            raise InputError("spos num_candidates must be >= 1")
        if self.search == "evolution":
            self.check_evolution()

    def check_evolution(self) -> None:
        missing = [
            k
            for k in ("population", "generations", "num_parents", "mutation_prob")
            if getattr(self, k) is None
        ]
        if missing:
            raise InputError(
                f"spos search='evolution' needs explicit {', '.join(missing)} (no defaults; algorithms.md §6)"
            )
        assert self.population is not None and self.generations is not None
        assert self.num_parents is not None and self.mutation_prob is not None
        if self.population < 1 or self.generations < 0 or self.num_parents < 1:
            raise InputError("spos evolution: population >= 1, generations >= 0, num_parents >= 1")
        if not 0.0 < self.mutation_prob <= 1.0:
            raise InputError(f"spos mutation_prob={self.mutation_prob}: must be in (0, 1]")
