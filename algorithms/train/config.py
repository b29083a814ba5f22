"""Training-from-scratch settings. Defaults = the DARTS evaluation protocol (repository quark0/darts,
`cnn/train.py --auxiliary --cutout`; algorithms.md §2.7 and §5): 600 epochs, batch 96, SGD lr 0.025 cosine to 0,
momentum 0.9, wd 3e-4, cutout 16, auxiliary weight 0.4, drop-path 0.2 linearly ramped, grad clip 5, C=36 with
20 layers (N=6 normal cells per stage). Other spaces' published recipes are preset sections
(`[spaces.<space>.algorithms.train]`, e.g. NB201's 200-epoch recipe in `paper.toml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import InputError
from harness.train import SGDConfig


@dataclass(frozen=True)
class NetworkConfig:
    """The evaluation network: C channels in the first stage, N cells per stage (DARTS: layers = 3N + 2),
    with an auxiliary head where the space has one."""

    C: int = 36
    N: int = 6
    auxiliary: bool = True

    def __post_init__(self) -> None:
        if self.C < 1 or self.N < 1:
            raise InputError(f"train network C={self.C}, N={self.N}; both must be >= 1")


@dataclass(frozen=True)
class Config:
    arch: str = ""  # the architecture to train, in the run space's text form (required)
    epochs: int = 600
    batch_size: int = 96
    weight_opt: SGDConfig = field(
        default_factory=lambda: SGDConfig(
            lr=0.025, lr_min=0.0, momentum=0.9, weight_decay=3e-4, nesterov=False, grad_clip=5.0
        )
    )
    network: NetworkConfig = field(default_factory=NetworkConfig)
    auxiliary_weight: float = 0.4
    drop_path: float = 0.2  # final drop-path probability, ramped linearly from 0 over the epochs
    cutout: int = 16  # cutout square side in pixels (0 = off)
    label_smoothing: float = 0.0
    eval_batch_size: int = 256
    max_steps_per_epoch: int = 0  # 0 = full epochs; > 0 caps the training batches per epoch (smoke runs)
    eval_max_images: int = 0  # 0 = the whole test set; > 0 = its first images (smoke runs)
    data_protocol: str = "train_test"  # train on the whole training set, measure on the test set (the only one)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise InputError(
                f"train epochs={self.epochs}, batch_size={self.batch_size}, eval_batch_size="
                f"{self.eval_batch_size}; all must be >= 1"
            )
        for name in ("drop_path", "label_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise InputError(f"train {name}={value}; allowed: 0 <= value < 1")
        if not self.auxiliary_weight >= 0.0:
            raise InputError(f"train auxiliary_weight={self.auxiliary_weight}; allowed: >= 0")
        if self.data_protocol != "train_test":
            raise InputError(f"train data_protocol={self.data_protocol!r}; allowed: train_test")
        if self.cutout < 0 or self.max_steps_per_epoch < 0 or self.eval_max_images < 0:
            raise InputError("train cutout, max_steps_per_epoch and eval_max_images must be >= 0")
