"""HEP-NAS configuration. Defaults = the NB201 values of algorithms.md §2.5 (README / code), nowhere else.

Study switches are top-level (`--set smd=none`, `--set partition=exhaustive`); the supernet and optimizer
settings are the groups every supernet algorithm shares (algorithms/common/config.py): `--set supernet.C=8`,
`--set weight_opt.lr=0.05`, `--set alpha_opt.betas=0.5,0.999`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.common.config import (
    GM_PROBES,
    SupernetConfig,
    check_at_least,
    check_choices,
    check_eval_fields,
)
from harness.train import AdamConfig, SGDConfig

PARTITIONS = ("gm", "exhaustive")
STAGE_ORDERS = ("node", "reversed", "random")
LR_SCHEDULES = ("path_cosine", "public_code")
BN_MODES = ("train", "eval")
KD_BN_MODES = ("harness", "public")
BATCH_SAMPLINGS = ("epoch", "fresh_iter")


@dataclass(frozen=True)
class Config:
    # supernet (TinyNetwork C=16, N=5; cell BN affine=False, track_running_stats=True)
    supernet: SupernetConfig = field(
        default_factory=lambda: SupernetConfig(C=16, N=5, affine=False, track_running_stats=True)
    )
    # schedule
    split_epochs: tuple[int, ...] = (10, 20, 30)
    smd_epochs: int = 10
    final_epochs: int = 0
    batch_size: int = 128
    eval_batch_size: int = 512  # selection / scoring forwards only (no effect on results beyond speed)
    max_steps_per_epoch: int = 0  # 0 = full epochs; >0 caps batches per epoch (smoke runs only)
    batch_sampling: str = "epoch"  # "fresh_iter" reproduces the public next(iter(loader))
    augment: bool = True  # crop/flip on weight-half batches and alpha batches (DARTS convention, §9 #9)
    # weight optimizer: SGD lr 0.025 -> 0.001, momentum 0.9, wd 3e-4, grad-clip 5
    weight_opt: SGDConfig = field(
        default_factory=lambda: SGDConfig(
            lr=0.025, lr_min=0.001, momentum=0.9, weight_decay=3e-4, nesterov=False, grad_clip=5.0
        )
    )
    lr_schedule: str = "path_cosine"  # monotone over the selected path; "public_code" = periodic, T_max below
    public_t_max: int = 0  # 0 = last split epoch (the code's T_max 30 on NB201)
    # alpha optimizer: Adam 3e-4, betas (0.5, 0.999), wd 1e-3, first order; init 1e-3 N(0,1)
    alpha_opt: AdamConfig = field(
        default_factory=lambda: AdamConfig(lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    )
    alpha_init_scale: float = 1e-3
    alpha_warmup_epochs: int = 0
    alpha_sharpen: bool = False  # DARTS space: the sharpening term on the alpha loss (supernet + final epochs)
    exclude_ops: tuple[str, ...] = ()  # ops masked out from the start; DARTS space: ("none",) = the 7-op `s5`
    # splitting
    partition: str = "gm"  # "exhaustive" = the paper figure's per-op product (granularity ablation)
    stage_order: str = "node"
    gm_batches: int = 100
    gm_probe: str = "one_hot"  # NB201 code `--hard 1`; DARTS-space code: "alpha" (the op keeps its softmax weight)
    max_sub_supernets: int = 128
    # SMD and selection
    smd: str = "both"
    kd_bn_mode: str = "harness"  # teacher batch stats, peers in select_bn_mode, running stats untouched
    # Every child of one SMD round replays the same weight-half batches, whatever `smd` is (so the SMD
    # ablation changes only the loss). With kd_bn_mode="harness" teacher/sibling logits are then computed once
    # per (batch, sibling version) instead of once per student step: same values, far fewer forwards.
    shared_round_batches: bool = True
    select_bn_mode: str = "train"  # NB201: batch statistics (code: eval=False)
    amp: bool = True  # bf16 autocast on CUDA; no effect on CPU
    # rank-correlation scoring (SupernetScorer)
    keep_children: bool = True  # keep every stage child so each arch is scored by the child owning it
    score_max_images: int | None = None  # first held-out images a scored arch sees; None: the whole half

    def __post_init__(self) -> None:
        from harness.errors import InputError

        from .smd import SMD_MODES

        check_choices(
            "hepnas",
            self,
            {
                "partition": PARTITIONS,
                "stage_order": STAGE_ORDERS,
                "lr_schedule": LR_SCHEDULES,
                "select_bn_mode": BN_MODES,
                "kd_bn_mode": KD_BN_MODES,
                "batch_sampling": BATCH_SAMPLINGS,
                "smd": SMD_MODES,
                "gm_probe": GM_PROBES,
            },
        )
        splits = tuple(int(s) for s in self.split_epochs)
        object.__setattr__(self, "split_epochs", splits)  # TOML gives lists; keep the frozen config hashable
        object.__setattr__(self, "exclude_ops", tuple(self.exclude_ops))
        if not 1 <= len(splits) <= 4 or any(s < 0 for s in splits) or list(splits) != sorted(splits):
            raise InputError(
                f"hepnas.split_epochs={splits!r}; need 1-4 non-decreasing epochs (one per hierarchy: NB201 has 3, "
                "the DARTS normal cell 4)"
            )
        check_at_least("hepnas", self, 0, ("smd_epochs", "final_epochs", "alpha_warmup_epochs", "public_t_max"))
        check_at_least("hepnas", self, 1, ("batch_size", "gm_batches", "max_sub_supernets"))
        check_eval_fields("hepnas", self.eval_batch_size, self.score_max_images, self.max_steps_per_epoch)
