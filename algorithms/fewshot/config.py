"""Few-shot NAS configuration. Defaults = the published NB201 budgets (algorithms.md §4): one-shot supernet
600 epochs, each sub-supernet 300, SGD nesterov 0.9, lr 0.025 -> 0.001 cosine, wd 1e-4, no gradient clipping (the
public code has none), batch 48, C=16, N=5, affine=False, track_running_stats off (the README passes 0).

Data (`data_protocol`): "train_half" (default: weights on the weight half, candidates scored on the held-out half of
the training set, so test images are never touched during search, algorithms.md §9 #11) or "public" (the released
code: weights on all 50k training images, candidates scored on the 10k test images, as its score files were made;
use it only to compare with those files). Shared groups and names as every supernet
algorithm (algorithms/common/config.py): `--set supernet.C=8`, `--set weight_opt.lr=0.05`, `--set
eval_batch_size=256`, `--set score_max_images=1024`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.common.config import SupernetConfig, check_at_least, check_choices, check_eval_fields
from harness.train import SGDConfig

SAMPLE_PER = ("cell", "network")
INNER_SEARCHES = ("random",)
BN_MODES = ("eval", "train")
BATCH_SAMPLINGS = ("epoch", "fresh_iter")
DATA_PROTOCOLS = ("train_half", "public")


@dataclass(frozen=True)
class Config:
    # C=16, N=5, affine off, track_running_stats off (the README passes 0)
    supernet: SupernetConfig = field(
        default_factory=lambda: SupernetConfig(C=16, N=5, affine=False, track_running_stats=False)
    )
    oneshot_epochs: int = 600
    child_epochs: int = 300
    batch_size: int = 48
    eval_batch_size: int = 512  # scoring forwards only
    max_steps_per_epoch: int = 0  # 0 = full epochs; >0 caps batches per epoch (smoke runs only)
    batch_sampling: str = "epoch"
    augment: bool = True
    # SGD nesterov 0.9, lr 0.025 -> 0.001 cosine (per supernet), wd 1e-4, no clipping (public code)
    weight_opt: SGDConfig = field(
        default_factory=lambda: SGDConfig(
            lr=0.025, lr_min=0.001, momentum=0.9, weight_decay=1e-4, nesterov=True, grad_clip=0.0
        )
    )
    data_protocol: str = "train_half"  # "public": weights on the whole train set, scores on the test set
    sample_per: str = "cell"  # public code: an independent op per edge for every cell
    reject_disconnected: bool = False  # public code: no connectivity check
    split_edge: int = 0  # NB201 e0 (1<-0), one sub-supernet per op
    exclude_ops: tuple[str, ...] = ()  # ops masked out from the start; DARTS space: ("none",), 7 sub-supernets
    inner_search: str = "random"
    candidates_per_child: int = (
        100  # distinct random archs scored inside each child; 0 = every arch of the region
    )
    score_bn_mode: str = "eval"  # proxy: single-path held-out top-1, BN in eval mode
    score_max_images: int | None = None  # first held-out images a scored arch sees; None: the whole half
    amp: bool = False  # opt-in bf16 autocast (recorded in the spec); default fp32 on every device

    def __post_init__(self) -> None:
        from harness.errors import InputError

        check_choices(
            "fewshot",
            self,
            {
                "sample_per": SAMPLE_PER,
                "inner_search": INNER_SEARCHES,
                "score_bn_mode": BN_MODES,
                "batch_sampling": BATCH_SAMPLINGS,
                "data_protocol": DATA_PROTOCOLS,
            },
        )
        object.__setattr__(self, "exclude_ops", tuple(self.exclude_ops))
        if self.split_edge < 0:
            raise InputError(f"fewshot.split_edge={self.split_edge}; allowed: an edge index >= 0 (NB201: 0..5)")
        check_at_least("fewshot", self, 0, ("oneshot_epochs", "child_epochs", "candidates_per_child"))
        check_at_least("fewshot", self, 1, ("batch_size",))
        check_eval_fields("fewshot", self.eval_batch_size, self.score_max_images, self.max_steps_per_epoch)
