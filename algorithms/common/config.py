"""Configuration groups shared by every supernet algorithm (darts, spos, fewshot, hepnas).

Why shared: one vocabulary for the same concepts, so `--set supernet.C=8`, `--set weight_opt.lr=0.05` and
`--set alpha_opt.betas=0.5,0.999` mean the same thing for every algorithm that has the group (and `nas-harness
compare --set ...` can apply one override to all of them). Each algorithm's `Config` supplies its own defaults
through `field(default_factory=...)`; the defaults live there (algorithms.md), not here.

Shared names (each algorithm's `Config`):
    supernet: SupernetConfig          C, N, affine, track_running_stats (the search supernet)
    weight_opt: train.SGDConfig       lr, lr_min, momentum, weight_decay, nesterov, grad_clip
    alpha_opt: train.AdamConfig       lr, betas, weight_decay (darts, hepnas: the architecture parameters)
    eval_batch_size: int              batch size of the no-grad forwards (selection, proxy scoring)
    score_max_images: int | None      the first held-out images a scored arch sees; None = the whole half
    max_steps_per_epoch: int          0 = full epochs; > 0 caps the weight batches per epoch (smoke runs)
(`train` = harness.train.)

No torch here (imported by the Config modules, which the registry loads to resolve specs).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import InputError

GM_PROBES: tuple[str, ...] = ("one_hot", "alpha")
"""GM probe of an op on the split edge: weight 1 (NB201 code `--hard 1`) or its current softmax weight (DARTS)."""


@dataclass(frozen=True)
class SupernetConfig:
    """The space's search supernet (`SearchSpace.one_shot.build_supernet`): C channels in the first stage, N
    searched cells per stage, cell BN affine / track_running_stats. The class defaults are the NB201 search
    settings; each algorithm states its own in a `default_factory`."""

    C: int = 16
    N: int = 5
    affine: bool = False
    track_running_stats: bool = True

    def __post_init__(self) -> None:
        for name, most in (("C", 1024), ("N", 64)):  # upper bounds: far beyond any published search network
            value = getattr(self, name)
            if not 1 <= value <= most:
                raise InputError(f"supernet.{name}={value}; allowed: 1..{most}")


def check_eval_fields(
    algorithm: str, eval_batch_size: int, score_max_images: int | None, max_steps: int
) -> None:
    """InputError unless eval_batch_size >= 1, score_max_images is None or >= 1, max_steps_per_epoch >= 0."""
    if eval_batch_size < 1:
        raise InputError(f"{algorithm}.eval_batch_size must be >= 1, got {eval_batch_size}")
    if score_max_images is not None and score_max_images < 1:
        raise InputError(
            f"{algorithm}.score_max_images must be >= 1 or none (the whole held-out half), "
            f"got {score_max_images}"
        )
    if max_steps < 0:
        raise InputError(f"{algorithm}.max_steps_per_epoch must be >= 0, got {max_steps}")


def check_choices(algorithm: str, config: object, choices: dict[str, tuple[str, ...]]) -> None:
    """InputError naming the first field whose value is not among its allowed choices."""
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            raise InputError(f"{algorithm}.{name}={value!r}; allowed: {', '.join(allowed)}")


def check_at_least(algorithm: str, config: object, minimum: int, names: tuple[str, ...]) -> None:
    """InputError naming the first integer field below `minimum`."""
    for name in names:
        value = getattr(config, name)
        if value < minimum:
            raise InputError(f"{algorithm}.{name} must be >= {minimum}, got {value}")
