"""The NAS-Bench-201 operations and macro-skeleton blocks, as used by the benchmark network.

Semantics follow the benchmark (NB201 paper; read in D-X-Y/AutoDL-Projects `cell_operations.py` and
`tiny_network.py`, not copied): ReLU-Conv-BN ops without conv bias, 3x3 average pooling with
`count_include_pad=False`, `none` = zero, `skip_connect` = identity (cells keep channels and resolution), and
a ResNet basic block with stride 2 and an AvgPool + 1x1-conv shortcut between stages. The supernet
(`nb201_supernet.py`) reuses the skeleton blocks and re-implements the cell ops in fused form.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k x k, no bias) -> BN: the benchmark's `nor_conv_*` op and reduction-block halves."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class AvgPool3x3(nn.AvgPool2d):
    """3x3 average pooling, stride 1, padding 1, padded zeros not counted (benchmark semantics)."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)


class Identity(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Zero(nn.Module):
    """The `none` op. Cells skip it entirely (it adds an exact zero); kept so every edge has a module."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)


def make_op(name: str, channels: int, *, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """One cell op on `channels` channels (stride 1; NB201 cells never change shape)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine, track_running_stats=track_running_stats)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine, track_running_stats=track_running_stats)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    raise ValueError(f"unknown NB201 op {name!r}")


class ResidualReduction(nn.Module):
    """Between stages: ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN, plus shortcut AvgPool(2,2) -> Conv1x1 (no BN).

    BN here is always affine with running stats, in the benchmark network and in the search supernets alike.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def stage_channels(C: int, N: int) -> list[tuple[int, bool]]:
    """The macro skeleton as (channels, is_reduction) per layer: N cells, reduction, N cells, reduction, N
    cells."""
    layers: list[tuple[int, bool]] = []
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage:
            layers.append((c, True))
        layers.extend((c, False) for _ in range(N))
    return layers


class Stem(nn.Sequential):
    """3x3 conv (no bias) + BN from RGB to C channels."""

    def __init__(self, C: int) -> None:
        super().__init__(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))


class Head(nn.Module):
    """Final BN + ReLU (NASLib once missed it, design §9 #11), global average pool, linear classifier."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.lastact(x).mean(dim=(2, 3)))
