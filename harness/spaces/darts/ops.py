"""The DARTS primitives as torch modules (algorithms.md §1), shared by the evaluation networks and the supernet.

Why one module for both: the one-hot supernet must equal the discrete network op for op, so both build their
ops here. Semantics follow the DARTS reference operations (repository quark0/darts, `cnn/operations.py`, read
for behaviour, not copied):

* every conv is bias-free and wrapped ReLU -> conv -> BN;
* `sep_conv_kxk`: two stacked (ReLU, depthwise k x k, pointwise 1x1, BN) blocks, only the first strided;
* `dil_conv_kxk`: ReLU, depthwise k x k with dilation 2, pointwise 1x1, BN;
* `max_pool_3x3` / `avg_pool_3x3`: 3x3, padding 1, the cell's stride; average pooling does not count padding;
* `skip_connect`: identity at stride 1, `FactorizedReduce` at stride 2;
* `none`: a zero tensor, subsampled at stride 2 (so shapes still match).

Every op takes `affine` (BN scale/shift; False inside search supernets) and `track_running_stats`.
`make_search_op` adds what the DARTS search cell (`model_search.py` MixedOp) adds: a non-affine BN after each
pooling op, so a pooled path is normalised like the conv paths.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.spaces.darts.genotype import OPS_DARTS8

OP_NAMES: tuple[str, ...] = OPS_DARTS8
"""Every primitive `make_op` knows, in the DARTS order (OPS_DARTS8 of the genotype module)."""


def _bn(channels: int, affine: bool, track_running_stats: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, affine=affine, track_running_stats=track_running_stats)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k x k, no bias) -> BN; the cell preprocessing uses it as a 1x1 channel adapter."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            _bn(c_out, affine, track_running_stats),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise dilated k x k conv -> pointwise 1x1 conv -> BN."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            _bn(c_out, affine, track_running_stats),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable blocks; the first carries the stride, the second keeps the shape."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            DilConv(
                c_in, c_in, kernel_size, stride, padding, 1, affine=affine, track_running_stats=track_running_stats
            ),
            DilConv(c_in, c_out, kernel_size, 1, padding, 1, affine=affine, track_running_stats=track_running_stats),
        )


class Identity(nn.Module):
    """`skip_connect` at stride 1. A class of its own so drop-path can recognise (and spare) it."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class Zero(nn.Module):
    """The `none` op: zeros of the op's output shape (spatially subsampled at stride 2)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing half the pixels: ReLU, two 1x1 stride-2 convs on the input and on
    the input shifted by one pixel, channel concat, BN. `c_out` must be even."""

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(c_out, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(
    name: str, channels: int, stride: int, *, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    """The primitive `name` on `channels` channels with `stride` (1, or 2 on reduction-cell input edges)."""
    kw = {"affine": affine, "track_running_stats": track_running_stats}
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(channels, channels, **kw)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        k = 3 if name == "sep_conv_3x3" else 5
        return SepConv(channels, channels, k, stride, k // 2, **kw)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        k = 3 if name == "dil_conv_3x3" else 5
        return DilConv(channels, channels, k, stride, 2 * (k // 2), 2, **kw)
    raise ValueError(f"unknown DARTS op {name!r}; known: {', '.join(OP_NAMES)}")


def make_search_op(
    name: str, channels: int, stride: int, *, affine: bool = False, track_running_stats: bool = True
) -> nn.Module:
    """An op as the search supernet holds it: `make_op`, plus a non-affine BN after pooling ops (DARTS
    MixedOp). The discrete search network builds its ops with this too, so the two agree exactly."""
    op = make_op(name, channels, stride, affine=affine, track_running_stats=track_running_stats)
    if "pool" in name:
        return nn.Sequential(op, _bn(channels, False, track_running_stats))
    return op


def preprocess(
    c_in: int, c_out: int, reduction_prev: bool, *, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    """Cell input adapter for c_{k-2}: FactorizedReduce after a reduction cell (resolution must halve),
    otherwise a 1x1 ReLUConvBN. (c_{k-1} always takes the 1x1 ReLUConvBN.)"""
    if reduction_prev:
        return FactorizedReduce(c_in, c_out, affine=affine, track_running_stats=track_running_stats)
    return ReLUConvBN(c_in, c_out, 1, 1, 0, affine=affine, track_running_stats=track_running_stats)


def drop_path(x: Tensor, drop_prob: float) -> Tensor:
    """Zero whole samples with probability `drop_prob` and rescale the rest by 1/keep (out of place)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask
