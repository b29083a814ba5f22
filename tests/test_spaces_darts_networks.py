"""DARTS-space networks: published sizes, evaluation-network behaviour, and the supernet contract.

Genotypes come straight from the shared genotypes.json through a local namedtuple, so these tests depend on
nothing but the modules under test (the networks only duck-type genotypes).
"""

from __future__ import annotations

import copy
import json
from collections import namedtuple
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import harness.spaces.darts.network as network_mod
from harness.errors import InputError
from harness.spaces.darts.cost import (
    build_eval_network,
    count_params,
    count_params_madds,
    params_excluding_auxiliary,
)
from harness.spaces.darts.genotype import OPS_DARTS8
from harness.spaces.darts.network import DartsNetworkCIFAR, DartsNetworkImageNet
from harness.spaces.darts.ops import Identity, make_op, make_search_op
from harness.spaces.darts.supernet import (
    CELL_EDGES,
    NUM_EDGES,
    DartsSupernet,
    edge_index,
    genotype_op_weights,
    gm_vector,
    load_into_search_network,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GENOTYPES_JSON = Path(__file__).resolve().parents[2] / "shared" / "data" / "darts" / "genotypes.json"
OPS8 = OPS_DARTS8
OPS_S5 = OPS8[1:]
Geno = namedtuple("Geno", "normal normal_concat reduce reduce_concat")


def _load() -> dict[str, Geno]:
    if not GENOTYPES_JSON.is_file():
        pytest.skip(f"shared data not found at {GENOTYPES_JSON}")
    table = json.loads(GENOTYPES_JSON.read_text(encoding="utf-8"))["genotypes"]
    return {
        name: Geno(
            tuple((op, int(j)) for op, j in g["normal"]),
            (2, 3, 4, 5),
            tuple((op, int(j)) for op, j in g["reduce"]),
            (2, 3, 4, 5),
        )
        for name, g in table.items()
    }


@pytest.fixture(scope="module")
def genos() -> dict[str, Geno]:
    return _load()


# ---------------------------------------------------------------------------------------------- sizes


# (genotype, dataset, expected params M, decimals): published figures and algorithms.md §2.8
PARAMS = [
    ("DARTS_V2", "cifar10", 3.349, 3),
    ("DARTS_V2", "cifar100", 3.401, 3),
    ("DARTS_V2", "imagenet", 4.719, 3),
    ("FEWSHOT_NAS", "cifar10", 3.79, 2),
    ("GM_NAS_DARTS1_ID5", "cifar10", 3.660, 3),
    ("HEP", "cifar10", 2.955, 3),
    ("HEP", "cifar100", 3.007, 3),
    ("HEP", "imagenet", 4.223, 3),
    ("HEP2", "cifar10", 3.246, 3),
    ("HEP2", "cifar100", 3.298, 3),
    ("HEP2", "imagenet", 4.603, 3),
    ("HEP_3", "cifar10", 3.787, 3),
    ("HEP_3", "cifar100", 3.839, 3),
    ("HEP_3", "imagenet", 5.409, 3),
    ("HEP_4", "cifar10", 3.791, 3),
    ("HEP_4", "cifar100", 3.843, 3),
    ("HEP_4", "imagenet", 5.359, 3),
    ("HEP_5", "cifar10", 3.555, 3),
    ("HEP_5", "cifar100", 3.607, 3),
    ("HEP_5", "imagenet", 4.974, 3),
    ("HEP_6", "cifar10", 3.070, 3),
    ("HEP_6", "cifar100", 3.122, 3),
    ("HEP_6", "imagenet", 4.399, 3),
]


@pytest.mark.parametrize(("name", "dataset", "expected", "decimals"), PARAMS)
def test_published_param_counts(genos, name, dataset, expected, decimals):
    assert round(count_params(genos[name], dataset), decimals) == pytest.approx(expected, abs=1e-9)


# ImageNet MAdds of algorithms.md §2.8 (conv + linear, rounded to millions)
MADDS = [("HEP", 483), ("HEP2", 518), ("HEP_3", 597), ("HEP_4", 596), ("HEP_5", 563), ("HEP_6", 495), ("DARTS_V2", 530)]


@pytest.mark.parametrize(("name", "expected"), MADDS)
def test_imagenet_madds(genos, name, expected):
    params_m, madds_m = count_params_madds(genos[name], "imagenet")
    assert round(madds_m) == expected
    assert params_m == pytest.approx(count_params(genos[name], "imagenet"))


def test_cifar_madds_and_class_count(genos):
    p10, m10 = count_params_madds(genos["DARTS_V2"], "cifar10")
    p100, m100 = count_params_madds(genos["DARTS_V2"], "CIFAR100")
    assert round(p10, 3) == 3.349 and 500 < m10 < 560
    # only the classifier differs: 90 more outputs of a 576-wide linear layer
    assert p100 - p10 == pytest.approx(90 * 577 / 1e6)
    assert m100 - m10 == pytest.approx(90 * 576 / 1e6)


def test_auxiliary_head_is_excluded(genos):
    with_aux = build_eval_network(genos["DARTS_V2"], "cifar10", auxiliary=True)
    without = build_eval_network(genos["DARTS_V2"], "cifar10", auxiliary=False)
    total = sum(p.numel() for p in with_aux.parameters())
    aux = sum(p.numel() for p in with_aux.auxiliary_head.parameters())
    assert aux > 0
    assert params_excluding_auxiliary(with_aux) == total - aux == sum(p.numel() for p in without.parameters())


def test_unknown_dataset_is_input_error(genos):
    with pytest.raises(InputError) as err:
        count_params_madds(genos["DARTS_V2"], "imagenet16-120")
    msg = str(err.value)
    assert "\n" not in msg and "cifar10" in msg and "cifar100" in msg and "imagenet" in msg


# --------------------------------------------------------------------------------------- evaluation nets


def test_ops_shapes_and_strides():
    x = torch.randn(2, 4, 8, 8)
    for name in OPS8:
        for stride in (1, 2):
            op = make_op(name, 4, stride, affine=False)
            assert op(x).shape == (2, 4, 8 // stride, 8 // stride), (name, stride)
    assert isinstance(make_op("skip_connect", 4, 1), Identity)
    assert not isinstance(make_op("skip_connect", 4, 2), Identity)
    assert make_op("avg_pool_3x3", 4, 1).count_include_pad is False
    with pytest.raises(ValueError, match="unknown DARTS op"):
        make_op("conv_7x1_1x7", 4, 1)
    pooled = make_search_op("max_pool_3x3", 4, 1)
    assert isinstance(pooled[1], torch.nn.BatchNorm2d) and not pooled[1].affine


def test_cifar_network_forward_and_aux(genos):
    torch.manual_seed(0)
    net = DartsNetworkCIFAR(genos["DARTS_V2"], C=4, layers=3, num_classes=10, auxiliary=True)
    x = torch.randn(2, 3, 32, 32)
    net.train()
    logits, aux = net(x)
    assert logits.shape == (2, 10) and aux is not None and aux.shape == (2, 10)
    net.eval()
    logits, aux = net(x)
    assert logits.shape == (2, 10) and aux is None


def test_drop_path_only_in_training_and_not_on_identity(genos, monkeypatch):
    g = genos["DARTS_V2"]  # normal cell has skip_connect (identity), reduce cell skip_connect from a node
    torch.manual_seed(0)
    net = DartsNetworkCIFAR(g, C=4, layers=3, auxiliary=False, drop_path_prob=0.3)
    calls = []
    real = network_mod.drop_path
    monkeypatch.setattr(network_mod, "drop_path", lambda h, p: calls.append(p) or real(h, p))
    x = torch.randn(2, 3, 16, 16)
    net.eval()
    a, _ = net(x)
    b, _ = net(x)
    assert calls == [] and torch.equal(a, b)
    net.train()
    net(x)
    expected = sum(not isinstance(op, Identity) for cell in net.cells for op in cell.ops)
    identities = sum(isinstance(op, Identity) for cell in net.cells for op in cell.ops)
    assert identities > 0 and len(calls) == expected and set(calls) == {0.3}
    net.drop_path_prob = 0.0
    calls.clear()
    net(x)
    assert calls == []


def test_imagenet_network_shapes_on_meta(genos):
    with torch.device("meta"):
        net = DartsNetworkImageNet(genos["DARTS_V2"], auxiliary=True)
        net.train()
        logits, aux = net(torch.empty(2, 3, 224, 224))
    assert logits.shape == (2, 1000) and aux is not None and aux.shape == (2, 1000)


# ------------------------------------------------------------------------------------------- supernet


def _weights(ops, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(NUM_EDGES, len(ops), generator=gen), dim=-1)


@pytest.mark.parametrize("ops", [OPS8, OPS_S5], ids=["darts8", "s5"])
def test_supernet_forward_shape_and_grad(ops):
    torch.manual_seed(0)
    net = DartsSupernet(num_classes=10, ops=ops, C=4, layers=3)
    w = _weights(ops).requires_grad_(True)
    out = net(torch.randn(2, 3, 8, 8), w, torch.ones(NUM_EDGES, len(ops), dtype=torch.bool))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_supernet_rejects_bad_shapes():
    net = DartsSupernet(num_classes=10, ops=OPS_S5, C=4, layers=3)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="op_weights"):
        net(x, torch.ones(14, 7))
    with pytest.raises(ValueError, match="active_mask"):
        net(x, torch.ones(28, 7), torch.ones(28, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="ops must be"):
        DartsSupernet(num_classes=10, ops=("sep_conv_3x3", "conv_7x1_1x7"))


def test_masked_and_zero_weight_ops_are_never_computed():
    torch.manual_seed(0)
    net = DartsSupernet(num_classes=10, ops=OPS8, C=4, layers=3)
    gen = torch.Generator().manual_seed(1)
    mask = torch.rand(NUM_EDGES, len(OPS8), generator=gen) < 0.5
    w = _weights(OPS8, seed=2)
    w[torch.rand(NUM_EDGES, len(OPS8), generator=gen) < 0.3] = 0.0
    mask[0] = False  # node 0 of every cell: both incoming edges empty -> zero node
    mask[1] = False
    mask[CELL_EDGES] = False
    mask[CELL_EDGES + 1] = False
    calls: dict[tuple[bool, int, int], int] = {}
    for cell in net.cells:
        for e, edge in enumerate(cell.edges):
            for o, op in enumerate(edge.ops):
                key = (cell.reduction, e, o)
                op.register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls.get(key, 0) + 1))
    out = net(torch.randn(2, 3, 8, 8), w, mask)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    n_cells = {False: sum(not c.reduction for c in net.cells), True: sum(c.reduction for c in net.cells)}
    for (reduction, e, o), n in calls.items():
        row = e + (CELL_EDGES if reduction else 0)
        assert mask[row, o] and w[row, o] != 0 and OPS8[o] != "none", (reduction, e, o)
        assert n == n_cells[reduction]
    expected = {
        (red, e, o)
        for red in (False, True)
        for e in range(CELL_EDGES)
        for o in range(len(OPS8))
        if mask[e + (CELL_EDGES if red else 0), o] and w[e + (CELL_EDGES if red else 0), o] != 0 and o != 0
    }
    assert set(calls) == expected


def test_empty_row_equals_zero_weights():
    torch.manual_seed(0)
    net = DartsSupernet(num_classes=10, ops=OPS_S5, C=4, layers=3).eval()
    x = torch.randn(2, 3, 8, 8)
    w = _weights(OPS_S5)
    mask = torch.ones(NUM_EDGES, len(OPS_S5), dtype=torch.bool)
    mask[5] = False
    w0 = w.clone()
    w0[5] = 0.0
    assert torch.allclose(net(x, w, mask), net(x, w0), atol=1e-6)


def test_per_cell_weights_match_shared_rows():
    torch.manual_seed(0)
    net = DartsSupernet(num_classes=10, ops=OPS_S5, C=4, layers=3).eval()
    x = torch.randn(2, 3, 8, 8)
    w = _weights(OPS_S5)
    per_cell = torch.stack([w[CELL_EDGES:] if c.reduction else w[:CELL_EDGES] for c in net.cells])
    assert torch.equal(net(x, w), net(x, per_cell))


@pytest.mark.parametrize(
    ("name", "ops", "layers", "affine"),
    [("DARTS_V2", OPS8, 5, False), ("HEP", OPS_S5, 3, True), ("GM_NAS_DARTS1_ID5", OPS_S5, 3, False)],
)
def test_one_hot_supernet_equals_discrete_network(genos, name, ops, layers, affine):
    g = genos[name]
    torch.manual_seed(0)
    net = DartsSupernet(num_classes=10, ops=ops, C=4, layers=layers, affine=affine)
    if affine:  # non-trivial BN scales, so copying them is tested
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d) and m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
    w = genotype_op_weights(g, ops)
    mask = w > 0
    assert int(w.sum()) == 16
    x = torch.randn(2, 3, 16, 16)
    net.train()
    for _ in range(2):  # non-trivial running stats on the chosen ops
        net(torch.randn(4, 3, 16, 16), _weights(ops), torch.ones_like(mask))
    discrete = load_into_search_network(net, g)
    assert torch.allclose(net(x, w, mask), discrete(x), atol=1e-5)  # train mode: batch statistics
    net.eval()
    discrete.eval()
    ref = discrete(x)
    assert ref.shape == (2, 10)
    assert torch.allclose(net(x, w, mask), ref, atol=1e-5)
    assert torch.allclose(net(x, w), ref, atol=1e-5)  # weight 0 alone also skips


def test_genotype_op_weights_edges(genos):
    g = genos["DARTS_V2"]
    w = genotype_op_weights(g, OPS8)
    for lo, cell in ((0, g.normal), (CELL_EDGES, g.reduce)):
        for t, (op, j) in enumerate(cell):
            assert w[lo + edge_index(t // 2, j), OPS8.index(op)] == 1.0
    with pytest.raises(ValueError, match="not in the supernet's ops"):
        genotype_op_weights(g, ("sep_conv_3x3",))


def _param_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("edge", [3, CELL_EDGES + 1])
def test_gm_vector_layout_and_probed_edge_excluded(edge):
    torch.manual_seed(0)
    net = DartsSupernet(num_classes=10, ops=OPS_S5, C=4, layers=3).train()
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    base = _weights(OPS_S5)
    mask = torch.ones_like(base, dtype=torch.bool)
    probed_red, local = edge >= CELL_EDGES, edge % CELL_EDGES
    all_edges = sum(_param_count(e) for c in net.cells for e in c.edges)
    probed = sum(_param_count(c.edges[local]) for c in net.cells if c.reduction == probed_red)
    assert probed > 0
    vectors = []
    for o in range(len(OPS_S5)):
        net.zero_grad(set_to_none=True)
        w = base.clone()
        w[edge] = 0.0
        w[edge, o] = 1.0
        F.cross_entropy(net(x, w, mask), y).backward()
        v = gm_vector(net, edge)
        assert v.numel() == all_edges - probed
        # the probed edge's gradients do not enter: scribbling on them leaves the vector unchanged
        for c in net.cells:
            if c.reduction == probed_red:
                for p in c.edges[local].parameters():
                    p.grad = torch.full_like(p, 7.0)
        assert torch.equal(gm_vector(net, edge), v)
        vectors.append(v)
    assert len({v.numel() for v in vectors}) == 1
    assert all(v.abs().sum() > 0 for v in vectors)
    # stem, preprocessing and classifier gradients are excluded
    net.stem[0].weight.grad = torch.full_like(net.stem[0].weight, 3.0)
    net.classifier.weight.grad = torch.full_like(net.classifier.weight, 3.0)
    net.cells[0].preprocess1[1].weight.grad = torch.full_like(net.cells[0].preprocess1[1].weight, 3.0)
    assert torch.equal(gm_vector(net, edge), vectors[-1])


def test_gm_vector_missing_grads_are_zeros():
    net = DartsSupernet(num_classes=10, ops=OPS_S5, C=4, layers=3)
    v = gm_vector(net, 0)
    assert v.numel() > 0 and not v.any()
    with pytest.raises(ValueError):
        gm_vector(net, NUM_EDGES)


def test_deepcopied_supernet_is_independent():
    torch.manual_seed(0)
    parent = DartsSupernet(num_classes=10, ops=OPS_S5, C=4, layers=3).eval()
    child = copy.deepcopy(parent)
    x, w = torch.randn(2, 3, 8, 8), _weights(OPS_S5)
    before = parent(x, w)
    assert torch.equal(child(x, w), before)
    parent_ptrs = {p.data_ptr() for p in parent.parameters()} | {b.data_ptr() for b in parent.buffers()}
    assert not parent_ptrs & ({p.data_ptr() for p in child.parameters()} | {b.data_ptr() for b in child.buffers()})
    with torch.no_grad():
        child.cells[0].edges[2].ops[OPS_S5.index("sep_conv_3x3")][0][1].weight.add_(1.0)
    assert not torch.equal(child(x, w), before)
    assert torch.equal(parent(x, w), before)
