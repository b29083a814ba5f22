"""Params / FLOPs of the benchmark network: exhaustive analytic check vs the table, sampled build check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from harness.errors import InputError
from harness.spaces.nb201 import NB201Arch, index_codes
from harness.spaces.nb201.cost import count_params_flops, count_params_flops_codes, dataset_shape
from harness.spaces.nb201.network import NB201Network

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# harness data set name -> the table's column suffix
TABLE_SUFFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


@pytest.fixture(scope="module")
def table(shared_nb201):
    cols = ["arch_idx", "arch_str"] + [
        f"{k}_{s}" for s in TABLE_SUFFIX.values() for k in ("params_MB", "flops_M")
    ]
    return pd.read_csv(shared_nb201 / "nb201-consolidated.csv", usecols=cols).sort_values("arch_idx")


@pytest.mark.parametrize("dataset", sorted(TABLE_SUFFIX))
def test_analytic_count_equals_table_for_all_archs(table, dataset):
    shape = dataset_shape(dataset)
    assert table["arch_idx"].tolist() == list(range(15625))
    params, flops = count_params_flops_codes(
        index_codes(), num_classes=shape.num_classes, image_size=shape.image_size
    )
    suffix = TABLE_SUFFIX[dataset]
    np.testing.assert_allclose(params, table[f"params_MB_{suffix}"].to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(flops, table[f"flops_M_{suffix}"].to_numpy(), rtol=0, atol=1e-9)


def test_pinned_value_index_9930():
    arch = NB201Arch.from_index(9930)
    params, _ = count_params_flops(arch, num_classes=10)
    assert round(params, 4) == 1.2885  # shared README pinned value


def test_disconnected_cells_still_count_their_ops(table):
    # the table counts every op of the cell, connected or not: a cell whose output is cut off is not cheaper
    arch = NB201Arch(("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "none", "none", "none"))
    assert not arch.is_connected()
    row = table[table["arch_str"] == arch.to_str()].iloc[0]
    assert count_params_flops(arch, num_classes=10) == pytest.approx(
        (row["params_MB_cifar10"], row["flops_M_cifar10"]), abs=1e-9
    )
    empty = NB201Arch(("none",) * 6)
    assert count_params_flops(arch, num_classes=10)[0] > count_params_flops(empty, num_classes=10)[0]


def test_bad_sizes_raise_input_error():
    with pytest.raises(InputError):
        count_params_flops(NB201Arch(("none",) * 6), num_classes=10, image_size=30)
    with pytest.raises(InputError):
        dataset_shape("mnist")


def _hooked_flops(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of conv and linear layers (linear bias counted once per output), via forward hooks."""
    total = 0

    def conv_hook(mod, inputs, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total += out[0].numel() * mod.in_channels * k // mod.groups

    def linear_hook(mod, inputs, out):
        nonlocal total
        total += mod.in_features * mod.out_features + (mod.out_features if mod.bias is not None else 0)

    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            assert mod.bias is None
            mod.register_forward_hook(conv_hook)
        elif isinstance(mod, nn.Linear):
            mod.register_forward_hook(linear_hook)
    model.eval()
    with torch.no_grad():
        model(x)
    return total


def test_sampled_build_matches_analytic_count():
    rng = np.random.default_rng(0)
    codes = index_codes()
    picks = list(rng.choice(len(codes), size=12, replace=False)) + [0, 9930]
    for n, i in enumerate(picks):
        dataset = sorted(TABLE_SUFFIX)[n % 3]
        shape = dataset_shape(dataset)
        arch = NB201Arch.from_codes(tuple(codes[i]))
        net = NB201Network(arch, num_classes=shape.num_classes)
        params_m, flops_m = count_params_flops(
            arch, num_classes=shape.num_classes, image_size=shape.image_size
        )
        assert sum(p.numel() for p in net.parameters()) == round(params_m * 1e6)
        x = torch.randn(1, 3, shape.image_size, shape.image_size)
        assert _hooked_flops(net, x) == round(flops_m * 1e6)
