"""HEP-NAS configuration. Defaults = HEP-NAS as released, NB201 values (algorithms.md §2.5): repository
`Jianf-l/hepnas` (commit c61798f) `nasbench201/train_search.py` run with the README command `--edge_crit hep
--split_ckpts 10,20,30 --kd_loss multi_teacher --subnets_training_epochs 10 --batch_size 128` (`--method ws`). The
DARTS-space values (split_epochs 15,25,35,45, smd_epochs 5, final_epochs 15, alpha_warmup_epochs 10,
alpha_sharpen, exclude_ops none, select_bn_mode eval, gm_probe alpha, C=16 with 8 layers) come from the preset's
`[spaces.darts.algorithms.hepnas]` section (`sota/cnn/train_search_ws_edge_final.py`).

Defaults and their public-code source:
    split_epochs (10, 20, 30), smd_epochs 10, batch_size 128    README command (`--split_ckpts`, the SMD epochs,
                                                                  `--batch_size`); final_epochs 0 =
                                                                  `--projection_warmup_epoch 0`
    weight_opt  SGD lr 0.025, momentum 0.9, wd 3e-4, clip 5, lr_min 0.001      argparse defaults
    lr_schedule "public_code"   torch CosineAnnealingLR(T_max = public_t_max, 0 = the last split epoch (30 on
                                NB201; the code's split_ckpts[-1] + projection_warmup_epoch), eta_min = lr_min),
                                stepped once per trained epoch along the whole selected path (supernet epochs,
                                each stage's SMD epochs, final epochs: 60 positions on NB201); children inherit
                                the position (`sub_scheduler.load_state_dict`); periodic past T_max, so the LR
                                climbs back (0.025 again at position 60 on NB201)
    alpha_opt   Adam 3e-4, betas (0.5, 0.999), wd 1e-3, first order; init 1e-3 N(0,1)
    partition "gm", gm_batches 100, gm_probe "one_hot"        `--split_crit grad --hard 1`, 100 probe batches
    smd "both"                  `--kd_loss multi_teacher`
    selection                   `infer(valid_queue, eval=False)`: each child's top-1 over the whole held-out
                                half in batches of the TRAINING batch size (select_batch_size 0 = batch_size,
                                i.e. 128; `valid_queue` shares `--batch_size`), with the training augmentation
                                (select_augment True: `valid_queue` reads train_data with train_transform, crop +
                                flip), BN with batch statistics (select_bn_mode "train"), each child its own
                                shuffled pass (SubsetRandomSampler) drawn from a seeded generator
    shared_round_batches False  each child iterates its own loaders in the SMD rounds (own weight-half and
                                alpha batches, seeded per stage and child)
    data_protocol "train_half"  indices[:split] / indices[split:] with train_portion 0.5 (GM-NAS, HEP-NAS)
    amp False                   fp32 (bf16 autocast is an explicit opt-in on every device)

Harness departures kept as defaults (algorithms.md §9): running statistics are never updated by selection,
teacher and peer forwards (`kd_bn_mode="harness"`; "public" = the code's incidental updates); shuffled epochs
(`batch_sampling="epoch"`; "fresh_iter" = the code's `next(iter(loader))` per step).

Named variants (deliberate departures; each is recorded in the run's spec):
    lr_schedule="path_cosine"   monotone cosine 0.025 -> 0.001 over the selected path (split_epochs[-1] + stages
                                * smd_epochs + final_epochs positions), no periodic climb (§9 #1)
    select_batch_size=512, select_augment=false
                                the previous harness selection: fixed, in-order, un-augmented held-out batches of
                                512 images, the same batches for every child (select_augment=false always means
                                these fixed batches, of select_batch_size)
    shared_round_batches=true   every child of one SMD round replays the same weight-half batches (the SMD
                                ablation then changes only the loss), which enables the teacher/sibling logit
                                cache (kd_bn_mode="harness", smd != none): same values, far fewer forwards
    amp=true                    bf16 autocast of the forwards (CUDA or CPU)
    data_protocol="nb201_official"   AutoDL's NB201 split (algorithms.md §1)
    study switches              smd=none|teacher|mutual, partition=exhaustive, stage_order=reversed|random,
                                kd_bn_mode=public, batch_sampling=fresh_iter

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
LR_SCHEDULES = ("public_code", "path_cosine")
BN_MODES = ("train", "eval")
KD_BN_MODES = ("harness", "public")
BATCH_SAMPLINGS = ("epoch", "fresh_iter")
DATA_PROTOCOLS = ("train_half", "nb201_official")
BOOL_FIELDS = ("augment", "alpha_sharpen", "shared_round_batches", "select_augment", "amp", "keep_children")


@dataclass(frozen=True)
class Config:
    # supernet (TinyNetwork C=16, N=5; cell BN affine=False, track_running_stats=True)
    supernet: SupernetConfig = field(
        default_factory=lambda: SupernetConfig(C=16, N=5, affine=False, track_running_stats=True)
    )
    # data: the seeded 50/50 index split of the training set (train_portion 0.5; checked on real data)
    data_protocol: str = "train_half"
    # schedule
    split_epochs: tuple[int, ...] = (10, 20, 30)
    smd_epochs: int = 10
    final_epochs: int = 0
    batch_size: int = 128
    # Batch size of the rank-scoring forwards (score()). With batch-statistics BN (select_bn_mode="train") the
    # batch composition changes the scores, not only the speed. Selection uses select_batch_size.
    eval_batch_size: int = 512
    max_steps_per_epoch: int = 0  # 0 = full epochs; >0 caps batches per epoch (smoke runs only)
    batch_sampling: str = "epoch"  # "fresh_iter" reproduces the public next(iter(loader))
    augment: bool = True  # crop/flip on weight-half batches and alpha batches (DARTS convention, §9 #9)
    # weight optimizer: SGD lr 0.025 -> 0.001, momentum 0.9, wd 3e-4, grad-clip 5
    weight_opt: SGDConfig = field(
        default_factory=lambda: SGDConfig(
            lr=0.025, lr_min=0.001, momentum=0.9, weight_decay=3e-4, nesterov=False, grad_clip=5.0
        )
    )
    # "public_code": the code's CosineAnnealingLR (T_max below, eta_min = weight_opt.lr_min), one step per trained
    # epoch along the whole selected path, periodic past T_max; "path_cosine": monotone over the selected path
    lr_schedule: str = "public_code"
    public_t_max: int = 0  # 0 = last split epoch (the code's T_max 30 on NB201, 45 on DARTS)
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
    # SMD
    smd: str = "both"
    kd_bn_mode: str = "harness"  # teacher batch stats, peers in select_bn_mode, running stats untouched
    # False (public code): each child draws its own weight-half and alpha batches in every SMD epoch, from
    # generators seeded per stage and child. True (variant): every child of one round replays the same weight-half
    # batches, whatever `smd` is (so the SMD ablation changes only the loss); with kd_bn_mode="harness" the
    # teacher/sibling logits are then computed once per (batch, sibling version): same values, fewer forwards.
    shared_round_batches: bool = False
    # selection (the code's infer(eval=False)): whole held-out half, per child
    select_bn_mode: str = "train"  # NB201: batch statistics (code: eval=False); DARTS space: "eval"
    select_batch_size: int = 0  # 0 = batch_size (the code's valid_queue batch, 128)
    # True: each child its own shuffled pass with crop/flip (seeded per stage and child); False: the fixed,
    # in-order, un-augmented batches of select_batch_size, the same for every child (old harness: 512, false)
    select_augment: bool = True
    amp: bool = False  # explicit opt-in: bf16 autocast of the forwards on the run's device (CUDA or CPU)
    # rank-correlation scoring (SupernetScorer)
    keep_children: bool = True  # keep every stage child so each arch is scored by the child owning it
    score_max_images: int | None = None  # first held-out images a scored arch sees; None: the whole half

    @property
    def selection_batch_size(self) -> int:
        """The batch size selection runs with: select_batch_size, or batch_size when it is 0."""
        return self.select_batch_size or self.batch_size

    @property
    def path_positions(self) -> int:
        """Scheduler positions of the selected path: supernet epochs + every stage's SMD epochs + final epochs."""
        return self.split_epochs[-1] + len(self.split_epochs) * self.smd_epochs + self.final_epochs

    def __post_init__(self) -> None:
        from harness.errors import InputError

        from .smd import SMD_MODES

        check_choices(
            "hepnas",
            self,
            {
                "data_protocol": DATA_PROTOCOLS,
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
        for name in BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise InputError(f"hepnas.{name}={value!r}; allowed: true, false")
        splits = tuple(int(s) for s in self.split_epochs)
        object.__setattr__(self, "split_epochs", splits)  # TOML gives lists; keep the frozen config hashable
        object.__setattr__(self, "exclude_ops", tuple(self.exclude_ops))
        if not 1 <= len(splits) <= 4 or any(s < 0 for s in splits) or list(splits) != sorted(splits):
            raise InputError(
                f"hepnas.split_epochs={splits!r}; need 1-4 non-decreasing epochs (one per hierarchy: NB201 has 3, "
                "the DARTS normal cell 4)"
            )
        check_at_least(
            "hepnas",
            self,
            0,
            ("smd_epochs", "final_epochs", "alpha_warmup_epochs", "public_t_max", "select_batch_size"),
        )
        check_at_least("hepnas", self, 1, ("batch_size", "gm_batches", "max_sub_supernets"))
        check_eval_fields("hepnas", self.eval_batch_size, self.score_max_images, self.max_steps_per_epoch)
