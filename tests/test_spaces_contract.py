"""The space contract, run over every registered space (harness.spaces.base).

For each space: the text form round-trips, samples are valid, a mutation changes exactly one decision; with a
one-shot adapter, a one-hot supernet forward equals the fixed network built from the same architecture (tiny
network, train and eval mode), derived architectures are valid and inside the region, the GM vector has one
layout for every probe; with an enumeration, index <-> architecture round-trips; the judge has an identity and
answers its targets; with a trainer, the evaluation network gives logits of the right shape.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import registry
from harness.errors import InputError
from harness.spaces import get_space
from harness.spaces.base import CAPABILITIES, CapabilityMissing, SearchSpace

SPACES = sorted(registry.SPACES)


@pytest.fixture(params=SPACES)
def space(request) -> SearchSpace:
    return get_space(request.param)


def _samples(space: SearchSpace, n: int = 25, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [space.values.sample(rng) for _ in range(n)]


def test_registry_resolves_every_space(space):
    assert space.name in registry.SPACES
    assert {"values", "judge"} <= space.capabilities or space.judge.kind == "none"
    assert space.capabilities <= set(CAPABILITIES)


def test_text_form_round_trips_and_samples_are_valid(space):
    for arch in _samples(space):
        assert space.values.is_valid(arch)
        text = arch.to_str()
        assert space.values.parse(text) == arch
        assert hash(arch) == hash(space.values.parse(text))


def test_mutation_changes_exactly_one_decision(space):
    rng = np.random.default_rng(1)
    for arch in _samples(space, 40, seed=2):
        child = space.values.mutate(arch, rng)
        assert space.values.is_valid(child) and child != arch
        before, after = space.values.decisions(arch), space.values.decisions(child)
        assert len(before) == len(after)
        assert sum(a != b for a, b in zip(before, after, strict=True)) == 1


def test_garbage_text_is_refused_with_one_line(space):
    for bad in ("", "not an architecture", "{", "|x~0|"):
        with pytest.raises(InputError) as info:
            space.values.parse(bad)
        assert "\n" not in str(info.value)


def test_missing_capability_is_refused_by_name(space):
    for capability in CAPABILITIES:
        if capability in space.capabilities:
            assert space.require(capability, "test") is not None
        else:
            with pytest.raises(CapabilityMissing, match=capability):
                space.require(capability, "test")


def test_one_shot_equivalence_derivation_and_regions(space, one_torch_thread):
    if space.one_shot is None:
        pytest.skip(f"{space.name} has no one-shot adapter")
    import torch

    one_shot = space.one_shot
    full = one_shot.full_mask()
    assert full.shape == (one_shot.num_edges, one_shot.num_ops) == (len(one_shot.edge_names), len(one_shot.ops))
    assert one_shot.region_size(full) > 1
    for h in one_shot.hierarchies:
        assert all(0 <= e < one_shot.num_edges for e in h)
    rng = np.random.default_rng(3)
    for arch in _samples(space, 5, seed=4):
        assert one_shot.in_region(arch, full)
        w = one_shot.arch_weights(arch)
        assert set(np.unique(w)) <= {0.0, 1.0} and (w.sum(axis=1) <= 1).all()
        assert one_shot.region_size(w.astype(bool) | ~w.any(axis=1, keepdims=True)) >= 1
    for _ in range(5):
        probs = rng.dirichlet(np.ones(one_shot.num_ops), size=one_shot.num_edges)
        derived = one_shot.derive(probs, full)
        assert space.values.is_valid(derived) and one_shot.in_region(derived, full)

    torch.manual_seed(0)
    kw = dict(num_classes=5, C=4, N=1, affine=True, track_running_stats=True)
    supernet = one_shot.build_supernet(**kw).double()
    with torch.no_grad():
        for name, p in supernet.named_parameters():
            if "bn" in name or p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    for arch in _samples(space, 3, seed=5):
        fixed = one_shot.build_fixed_network(arch, supernet, **kw).double()
        w = torch.as_tensor(one_shot.arch_weights(arch), dtype=torch.float64)
        supernet.train(), fixed.train()
        torch.testing.assert_close(supernet(x, w, w.bool()), fixed(x))
        supernet.eval(), fixed.eval()
        with torch.no_grad():
            torch.testing.assert_close(supernet(x, w, w.bool()), fixed(x))


def test_gm_vector_layout_is_the_same_for_every_probe(space, one_torch_thread):
    if space.one_shot is None:
        pytest.skip(f"{space.name} has no one-shot adapter")
    import torch
    import torch.nn.functional as F

    one_shot = space.one_shot
    torch.manual_seed(0)
    net = one_shot.build_supernet(num_classes=3, C=4, N=1, affine=False, track_running_stats=True)
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([0, 2])
    edge = one_shot.hierarchies[0][0]
    lengths = set()
    for op in range(one_shot.num_ops):
        w = torch.full((one_shot.num_edges, one_shot.num_ops), 1.0 / one_shot.num_ops)
        w[edge] = 0.0
        w[edge, op] = 1.0
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, w, w > 0), y).backward()
        lengths.add(int(one_shot.gm_vector(net, edge).numel()))
    assert len(lengths) == 1 and lengths.pop() > 0


def test_enumeration_round_trips(space):
    if space.enumeration is None:
        pytest.skip(f"{space.name} is not enumerable")
    enum = space.enumeration
    for i in (0, 1, enum.num_archs // 2, enum.num_archs - 1):
        assert enum.index(enum.from_index(i)) == i
    assert len(enum.arch_set("all")) == enum.num_archs


def test_judge_identity_and_targets(space):
    judge = space.judge
    assert judge.kind in ("benchmark", "surrogate", "none") and judge.label
    if judge.kind == "none":
        assert judge.targets(("cifar10",)) == ()
        return
    assert len(judge.sha256) == 64
    targets = judge.targets(space.datasets)
    assert targets
    arch = _samples(space, 1)[0]
    for dataset, split in targets:
        values, n_seeds = judge.accuracy([arch], dataset=dataset, split=split)
        assert values.shape == (1,) and np.isfinite(values).all() and n_seeds.shape == (1,)
    if judge.kind == "surrogate":
        assert "not a measured accuracy" in judge.label


def test_trainer_builds_the_evaluation_network(space, one_torch_thread):
    if space.trainer is None:
        pytest.skip(f"{space.name} has no trainer")
    import torch

    net = space.trainer.build_network(_samples(space, 1)[0], num_classes=7, C=4, N=1, auxiliary=True)
    space.trainer.set_drop_path(net, 0.1)
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 7)
