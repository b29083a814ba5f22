"""Parameter and multiply-add counts of DARTS-space evaluation networks (algorithms.md §2.8).

Why built networks and hooks instead of a closed form: the counts must match published figures (DARTS_V2
3.349 M / 4.719 M, GM-NAS 3.660 M, few-shot NAS 3.79 M), and those come from the built reference networks;
counting the same modules leaves no formula to drift. The networks are built on torch's `meta` device, so
nothing is allocated or initialised and the one forward pass only propagates shapes: a 224x224 ImageNet
count takes milliseconds.

Counting rules:
* params: every parameter outside the auxiliary head (conv and linear weights, linear biases, BN affine),
  the convention of the published figures;
* MAdds: multiply-accumulates of conv and linear layers for one image, conv = output elements x
  (in_channels / groups) x kh x kw, linear = in_features x out_features (no bias term); BN, pooling, ReLU,
  additions and the auxiliary head are excluded (it does not run at inference).

Torch is imported inside the functions (models are typed `Any` here for that reason): this module is light
to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import InputError


@dataclass(frozen=True)
class EvalSetting:
    """The evaluation network of a data set (algorithms.md §2.7)."""

    C: int
    layers: int
    num_classes: int
    image_size: int
    imagenet: bool


EVAL_SETTINGS: dict[str, EvalSetting] = {
    "cifar10": EvalSetting(C=36, layers=20, num_classes=10, image_size=32, imagenet=False),
    "cifar100": EvalSetting(C=36, layers=20, num_classes=100, image_size=32, imagenet=False),
    "imagenet": EvalSetting(C=48, layers=14, num_classes=1000, image_size=224, imagenet=True),
}
"""Data set name -> evaluation network: CIFAR C36 L20 at 32x32, ImageNet C48 L14 at 224x224."""


def eval_setting(dataset: str) -> EvalSetting:
    """The setting of `dataset` (case-insensitive); InputError naming the allowed values otherwise."""
    key = dataset.lower() if isinstance(dataset, str) else dataset
    if key not in EVAL_SETTINGS:
        raise InputError(f"unknown data set {dataset!r} for DARTS-space costs; allowed: {', '.join(EVAL_SETTINGS)}")
    return EVAL_SETTINGS[key]


def build_eval_network(genotype: Any, dataset: str, *, device: str = "meta", auxiliary: bool = True) -> Any:
    """The evaluation network of `genotype` for `dataset`, built on `device` (default: meta, no memory)."""
    import torch

    from harness.spaces.darts.network import DartsNetworkCIFAR, DartsNetworkImageNet

    s = eval_setting(dataset)
    cls = DartsNetworkImageNet if s.imagenet else DartsNetworkCIFAR
    with torch.device(device):
        return cls(genotype, C=s.C, layers=s.layers, num_classes=s.num_classes, auxiliary=auxiliary)


def params_excluding_auxiliary(model: Any) -> int:
    """Number of parameter elements outside the auxiliary head."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("auxiliary_head."))


def count_params(genotype: Any, dataset: str) -> float:
    """Parameters of the evaluation network in millions, auxiliary head excluded (no forward pass)."""
    return params_excluding_auxiliary(build_eval_network(genotype, dataset)) / 1e6


def count_madds(model: Any, image_size: int) -> int:
    """Conv + linear multiply-accumulates of one forward pass of one `image_size` RGB image (eval mode)."""
    import torch
    from torch import nn

    total = 0

    def conv_hook(m: nn.Conv2d, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.empty(1, 3, image_size, image_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def count_params_madds(genotype: Any, dataset: str) -> tuple[float, float]:
    """(params in millions, auxiliary head excluded; conv + linear MAdds in millions for one image) of the
    evaluation network of `genotype` for `dataset` in {cifar10, cifar100, imagenet}."""
    s = eval_setting(dataset)
    model = build_eval_network(genotype, dataset)
    return params_excluding_auxiliary(model) / 1e6, count_madds(model, s.image_size) / 1e6
