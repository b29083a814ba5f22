"""GM split: min-cut on constructed distances, cosine distances on constructed gradients, probing side
effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.common.alpha import full_mask
from algorithms.common.gm_split import (
    cosine_distance_matrix,
    default_group0_sizes,
    gm_split_edge,
    min_cut_two_groups,
)
from harness.spaces import get_space

ONE_SHOT = get_space("nb201").one_shot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _block_distance(groups: list[list[int]], n: int, near: float = 0.1, far: float = 0.9) -> np.ndarray:
    d = np.full((n, n), far)
    for g in groups:
        for i in g:
            for j in g:
                d[i, j] = near
    np.fill_diagonal(d, 0.0)
    return d


def test_min_cut_five_ops_known_partition() -> None:
    d = _block_distance([[1, 3], [0, 2, 4]], 5)
    g0, g1, cost = min_cut_two_groups(d)
    assert (g0, g1) == ((1, 3), (0, 2, 4))
    assert cost == pytest.approx(0.1 + 3 * 0.1)


def test_min_cut_seven_ops_sizes_two_or_three() -> None:
    assert default_group0_sizes(7) == (2, 3)
    d = _block_distance([[0, 5, 6], [1, 2, 3, 4]], 7)
    g0, g1, _ = min_cut_two_groups(d)
    assert (g0, g1) == ((0, 5, 6), (1, 2, 3, 4))


def test_min_cut_is_exhaustive_minimum() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((5, 5))
    d = (a + a.T) / 2
    np.fill_diagonal(d, 0)
    g0, g1, cost = min_cut_two_groups(d)
    from itertools import combinations

    best = min(
        sum(d[i, j] for i, j in combinations(p, 2))
        + sum(d[i, j] for i, j in combinations(sorted(set(range(5)) - set(p)), 2))
        for p in combinations(range(5), 2)
    )
    assert cost == pytest.approx(best)
    assert len(g0) == 2 and len(g1) == 3


def test_cosine_distance_on_constructed_gradients() -> None:
    g = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 3.0]])
    d = cosine_distance_matrix(g)
    assert d[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert d[0, 2] == pytest.approx(1.0, abs=1e-6)
    assert d[0, 3] == pytest.approx(2.0, abs=1e-6)
    assert d[0, 0] == pytest.approx(0.0, abs=1e-6)
    # two directions: ops 2 and 4 point along y, ops 0, 1, 3 roughly along x
    g = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [1.0, 0.2], [0.1, 3.0]])
    g0, g1, _ = min_cut_two_groups(cosine_distance_matrix(g))
    assert (g0, g1) == ((2, 4), (0, 1, 3))


def test_gm_probe_on_tiny_supernet_leaves_it_unchanged() -> None:
    from harness.spaces.nb201.supernet import NB201Supernet

    torch.manual_seed(0)
    net = NB201Supernet(num_classes=4, C=4, N=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(8, 3, 16, 16)
    y = torch.randint(0, 4, (8,))
    mask = full_mask(ONE_SHOT)
    base = torch.full((6, 5), 0.2)
    split, forwards = gm_split_edge(net, base, mask, 2, [(x, y), (x, y)], ONE_SHOT.gm_vector)
    assert forwards == 10
    assert split.distance.shape == (5, 5)
    np.testing.assert_allclose(split.distance, split.distance.T, atol=1e-9)
    assert sorted(split.groups[0] + split.groups[1]) == [0, 1, 2, 3, 4]
    assert len(split.groups[0]) == 2
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in net.parameters())


def test_gm_vector_excludes_probed_edge() -> None:
    from harness.spaces.nb201.gm import gm_vector
    from harness.spaces.nb201.supernet import NB201Supernet

    net = NB201Supernet(num_classes=4, C=4, N=1)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    v = gm_vector(net, 0)
    torch.testing.assert_close(ONE_SHOT.gm_vector(net, 0), v)  # the adapter answers the same
    # conv1x1 + conv3x3 slices of the 5 other edges; cells have C, 2C, 4C channels (C=4, N=1)
    cells = sum(5 * (c * c * 1 + c * c * 9) for c in (4, 8, 16))
    reduction = sum(
        p.numel()
        for i, layer in enumerate(net.layers)
        if i not in net.cell_layer_index
        for p in layer.parameters()
    )
    assert v.numel() == cells + reduction
