"""Analytic parameter and FLOP count of the NAS-Bench-201 benchmark network (no torch).

Why analytic: the benchmark's `params_MB_*` / `flops_M_*` columns must be reproduced for all 15,625 cells on
three data sets; building 46,875 torch models would take minutes, a closed form takes milliseconds. A sampled
build test (tests/test_models_nb201_cost.py) checks this formula against real modules and forward hooks.

Counting rules (design.md §9 #10), verified exhaustively against the shared table:
* params: every conv / linear weight, linear bias, and the affine (weight, bias) of every BN; no conv biases
  exist.
* FLOPs: multiply-accumulates of conv and linear layers (linear bias counts one per output); pooling is
  excluded.
* Every cell op is counted whether or not the cell is connected (the benchmark builds all six ops; `none`,
  `skip_connect` and `avg_pool_3x3` have neither params nor counted FLOPs). Disconnected cells count fully.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import InputError
from harness.spaces.nb201.arch import OPS, NB201Arch


@dataclass(frozen=True)
class DatasetShape:
    """What the network needs to know about a data set: classifier width and input resolution."""

    num_classes: int
    image_size: int


NB201_DATASETS: dict[str, DatasetShape] = {
    "cifar10": DatasetShape(10, 32),
    "cifar100": DatasetShape(100, 32),
    "imagenet16-120": DatasetShape(120, 16),
}
"""The benchmark's three data sets (harness names) and their network-relevant shapes."""


def dataset_shape(dataset: str) -> DatasetShape:
    """Shape of a harness data set name; InputError naming the allowed values otherwise."""
    key = dataset.lower() if isinstance(dataset, str) else dataset
    if key not in NB201_DATASETS:
        raise InputError(f"unknown data set {dataset!r}; allowed: {', '.join(NB201_DATASETS)}")
    return NB201_DATASETS[key]


def _check_sizes(num_classes: int, C: int, N: int, image_size: int) -> None:
    if num_classes < 1 or C < 1 or N < 1:
        raise InputError(f"num_classes, C and N must be >= 1, got {num_classes}, {C}, {N}")
    if image_size < 4 or image_size % 4:
        raise InputError(f"image_size must be a multiple of 4 (two stride-2 reductions), got {image_size}")


def count_params_flops_codes(
    codes: np.ndarray, *, num_classes: int, C: int = 16, N: int = 5, image_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised count for op-index rows `codes` [n, 6] (canonical op order). Returns (params_m, flops_m)
    [n]."""
    _check_sizes(num_classes, C, N, image_size)
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[1] != 6 or codes.min(initial=0) < 0 or codes.max(initial=0) >= len(OPS):
        raise InputError(f"codes must be an [n, 6] array of op indices 0..{len(OPS) - 1}")
    conv1, conv3 = OPS.index("nor_conv_1x1"), OPS.index("nor_conv_3x3")
    n1 = (codes == conv1).sum(axis=1)  # 1x1 convs per cell
    n3 = (codes == conv3).sum(axis=1)  # 3x3 convs per cell

    params = 3 * 9 * C + 2 * C  # stem conv + BN
    flops = 3 * 9 * C * image_size**2
    cell_params = np.zeros(len(codes), dtype=np.int64)
    cell_flops = np.zeros(len(codes), dtype=np.int64)
    channels = (C, 2 * C, 4 * C)
    for stage, c in enumerate(channels):
        hw = (image_size >> stage) ** 2
        # N cells per stage; a ReLU-Conv-BN op has k*k*c*c weights and a 2c BN affine
        cell_params += N * (n1 * (c * c + 2 * c) + n3 * (9 * c * c + 2 * c))
        cell_flops += N * (n1 * c * c * hw + n3 * 9 * c * c * hw)
        if stage:  # residual reduction block before stages 2 and 3 (output resolution hw)
            ci = channels[stage - 1]
            params += 9 * ci * c + 2 * c + 9 * c * c + 2 * c + ci * c
            flops += (9 * ci * c + 9 * c * c + ci * c) * hw
    last = channels[-1]
    params += 2 * last + last * num_classes + num_classes  # final BN affine + classifier (weight, bias)
    flops += last * num_classes + num_classes
    return (params + cell_params) / 1e6, (flops + cell_flops) / 1e6


def count_params_flops(
    arch: NB201Arch, *, num_classes: int, C: int = 16, N: int = 5, image_size: int = 32
) -> tuple[float, float]:
    """(params in millions, FLOPs = MACs in millions) of `NB201Network(arch)` for one input image."""
    p, f = count_params_flops_codes(
        np.asarray([arch.codes]), num_classes=num_classes, C=C, N=N, image_size=image_size
    )
    return float(p[0]), float(f[0])
