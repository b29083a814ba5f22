"""The fused NB201 supernet equals a plain per-edge DARTS supernet and the benchmark network's cells."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import harness.spaces.nb201.cell_engine as ce
import harness.spaces.nb201.supernet as sn
from harness.spaces.nb201 import EDGES, OPS, NB201Arch
from harness.spaces.nb201.network import NB201Network, load_from_supernet
from harness.spaces.nb201.supernet import FusedCell, NB201Supernet

C, N, B, HW = 4, 1, 4, 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _reference_cell(cell: FusedCell, x, w, mask):
    """Slow per-edge DARTS cell on the fused cell's tensors: node j = sum_e sum_o w[e,o] * op_o(node_i)."""
    nodes = [x]
    for j in (1, 2, 3):
        terms = []
        for e, (dst, src) in enumerate(EDGES):
            if dst != j:
                continue
            for o, op in enumerate(OPS):
                if not mask[e, o] or w[e, o] == 0:
                    continue
                h = nodes[src]
                if op == "none":
                    out = h * 0.0
                elif op == "skip_connect":
                    out = h
                elif op == "avg_pool_3x3":
                    out = F.avg_pool2d(h, 3, 1, 1, count_include_pad=False)
                else:
                    t = cell.op_tensors(e, op)
                    z = F.conv2d(F.relu(h), t["conv"], padding=t["conv"].shape[-1] // 2)
                    z = F.batch_norm(
                        z,
                        t.get("bn_mean"),
                        t.get("bn_var"),
                        t.get("bn_weight"),
                        t.get("bn_bias"),
                        cell.training or not cell.track_running_stats,
                        0.1,
                        1e-5,
                    )
                    out = z
                terms.append(w[e, o] * out)
        nodes.append(sum(terms) if terms else torch.zeros_like(x))
    return nodes[3]


def _reference_forward(net: NB201Supernet, x, w, mask):
    h = net.stem(x)
    i = 0
    for layer in net.layers:
        if isinstance(layer, FusedCell):
            wi, mi = (w[i], mask[i]) if w.dim() == 3 else (w, mask)
            h = _reference_cell(layer, h, wi, mi)
            i += 1
        else:
            h = layer(h)
    return net.head(h)


def _pair(affine=False, track=True):
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=5, C=C, N=N, affine=affine, track_running_stats=track).double()
    if affine:  # non-trivial affine values so the folding of op weights into BN is exercised
        with torch.no_grad():
            for name, p in net.named_parameters():
                if "bn1x1" in name or "bn3x3" in name:
                    p.add_(0.3 * torch.randn_like(p))
    return net, copy.deepcopy(net)


def _mask_cases():
    g = torch.Generator().manual_seed(1)
    full = torch.ones(6, 5, dtype=torch.bool)
    split = full.clone()
    split[1, 2] = False  # drops a 1x1 conv in the middle of source 0's slots: non-contiguous gather path
    split[0, 3] = False
    split[4, 4] = False
    per_cell = torch.rand(3 * N, 6, 5, generator=g) > 0.4
    dead_end = full.clone()
    dead_end[[e for e, (_, src) in enumerate(EDGES) if src == 1]] = False  # node 1 feeds nothing: its in-edges
    return [  # get no gradient while their siblings from node 0 do
        ("full", full, False), ("split", split, False), ("per_cell", per_cell, True), ("dead_end", dead_end, False)
    ]


@pytest.mark.parametrize(("affine", "track"), [(False, True), (True, True), (False, False)])
@pytest.mark.parametrize("case", range(4))
def test_fused_equals_per_edge_reference(affine, track, case):
    name, mask, per_cell = _mask_cases()[case]
    fast, ref = _pair(affine, track)
    torch.manual_seed(2)
    x = torch.randn(B, 3, HW, HW, dtype=torch.float64)
    alpha = torch.randn(*mask.shape, dtype=torch.float64)
    alpha_f, alpha_r = alpha.clone().requires_grad_(), alpha.clone().requires_grad_()

    def weights(a):
        return torch.softmax(a.masked_fill(~mask, float("-inf")), dim=-1)  # exact zeros where masked

    out_f = fast(x, weights(alpha_f), mask)
    out_r = _reference_forward(ref, x, weights(alpha_r), mask)
    torch.testing.assert_close(out_f, out_r)
    out_f.square().sum().backward()
    out_r.square().sum().backward()
    torch.testing.assert_close(alpha_f.grad, alpha_r.grad)
    for (n1, p1), (n2, p2) in zip(fast.named_parameters(), ref.named_parameters(), strict=True):
        assert n1 == n2
        torch.testing.assert_close(p1.grad, p2.grad, msg=lambda m, n=n1: f"{name}: grad of {n}: {m}")
    for (n1, b1), (_, b2) in zip(fast.named_buffers(), ref.named_buffers(), strict=True):
        torch.testing.assert_close(b1, b2, msg=lambda m, n=n1: f"{name}: buffer {n}: {m}")
    fast.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            fast(x, weights(alpha), mask), _reference_forward(ref, x, weights(alpha), mask)
        )


@pytest.mark.parametrize(
    "arch_str",
    [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        # zero node 1
        "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        # disconnected: zero node 2 feeds a conv
        "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
    ],
)
def test_one_hot_supernet_equals_benchmark_network(arch_str):
    arch = NB201Arch.from_str(arch_str)
    torch.manual_seed(0)
    supernet = NB201Supernet(num_classes=5, C=C, N=N, affine=True).double()
    with torch.no_grad():
        for name, p in supernet.named_parameters():
            if "bn" in name:
                p.add_(0.3 * torch.randn_like(p))
    net = NB201Network(arch, num_classes=5, C=C, N=N).double()
    load_from_supernet(net, supernet)
    one_hot = F.one_hot(torch.tensor(arch.codes), 5).double()
    x = torch.randn(B, 3, HW, HW, dtype=torch.float64)
    torch.testing.assert_close(supernet(x, one_hot), net(x))  # train mode, also updates running stats
    supernet.eval()
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(supernet(x, one_hot), net(x))


@pytest.mark.parametrize(("affine", "track"), [(True, True), (False, True), (False, False)])
def test_adapter_fixed_network_equals_one_hot_supernet(affine, track):
    """The space's `build_fixed_network` (NB201Network with affine / track_running_stats, weights loaded by
    `load_from_supernet`) computes what the supernet computes on the arch's single path."""
    from harness.spaces import get_space

    one_shot = get_space("nb201").one_shot
    arch = NB201Arch.from_str(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    )
    torch.manual_seed(0)
    supernet = one_shot.build_supernet(num_classes=5, C=C, N=N, affine=affine, track_running_stats=track)
    assert isinstance(supernet, NB201Supernet)
    supernet = supernet.double()
    with torch.no_grad():
        for name, p in supernet.named_parameters():
            if "bn" in name:
                p.add_(0.3 * torch.randn_like(p))
        supernet(torch.randn(B, 3, HW, HW, dtype=torch.float64), torch.ones(6, 5, dtype=torch.float64))
    net = one_shot.build_fixed_network(
        arch, supernet, num_classes=5, C=C, N=N, affine=affine, track_running_stats=track
    )
    assert isinstance(net, NB201Network) and next(net.parameters()).dtype == torch.float64
    w = torch.as_tensor(one_shot.arch_weights(arch), dtype=torch.float64)
    x = torch.randn(B, 3, HW, HW, dtype=torch.float64)
    supernet.eval()
    net.eval()
    with torch.no_grad():  # eval: running stats (copied from the supernet) or batch stats when untracked
        torch.testing.assert_close(supernet(x, w), net(x))
    supernet.train()
    net.train()
    torch.testing.assert_close(supernet(x, w), net(x))


@pytest.mark.parametrize("shape", [(3, 4, 1, 1), (2, 3, 1, 5), (2, 3, 5, 7), (4, 2, 8, 8)])
def test_tap_sums_give_the_3x3_conv_batch_mean(shape):
    """The engine centres 3x3 conv outputs through the conv's bias: mean = (W . tap sums) / n."""
    g = torch.Generator().manual_seed(0)
    r = torch.randn(*shape, generator=g, dtype=torch.float64)
    weight = torch.randn(5, shape[1], 3, 3, generator=g, dtype=torch.float64)
    n = r.numel() // shape[1]
    mean = weight.view(5, -1) @ ce.tap_sums_3x3(r.sum(0)).view(-1) / n
    torch.testing.assert_close(mean, F.conv2d(r, weight, padding=1).mean((0, 2, 3)))


def test_blocked_passes_match_whole_tensor_passes(monkeypatch):
    """The image-blocked skip / pool / ReLU / BN passes give the same cell as one chunk per tensor."""
    torch.manual_seed(0)
    cell = FusedCell(4, affine=True, track_running_stats=False).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(5, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.softmax(torch.randn(6, 5, dtype=torch.float64), -1).requires_grad_()
    plans = sn._make_plan(tuple(tuple(True for _ in OPS) for _ in EDGES))

    def run():
        out = cell(x, w, plans)
        return (out, *torch.autograd.grad((out * out.detach().cos()).sum(), [x, w, *cell.parameters()]))

    monkeypatch.setattr(ce, "CHUNK_BYTES", 1)  # one image per chunk
    blocked = run()
    monkeypatch.setattr(ce, "CHUNK_BYTES", 1 << 40)  # the whole batch in one chunk
    whole = run()
    for a, b in zip(blocked, whole, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (2, 3, 1, 4), (2, 3, 4, 1), (3, 2, 5, 7), (1, 2, 32, 32)])
def test_engine_box_sum_matches_torch(shape):
    x = torch.randn(*shape, dtype=torch.float64)
    out, rows = torch.empty_like(x), torch.empty_like(x)
    ce._box_sum_into(x, out, rows)
    torch.testing.assert_close(out, F.avg_pool2d(x, 3, 1, 1, count_include_pad=True, divisor_override=1))


def test_fused_engine_accepts_channels_last_activations():
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=5, C=C, N=1).double()
    x = torch.randn(4, 3, HW, HW, dtype=torch.float64)
    w = torch.softmax(torch.randn(6, 5, dtype=torch.float64), -1)
    ref = net(x, w)
    seen = []
    net.layers[0].register_forward_pre_hook(lambda mod, args: seen.append(args[0].is_contiguous()))
    out = net(x.contiguous(memory_format=torch.channels_last), w)  # the stem passes the layout on
    assert seen == [False]  # the first cell got channels-last activations
    torch.testing.assert_close(out, ref)


def test_avg_pool_matches_torch():
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(sn.avg_pool_3x3(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))


def _count_calls(monkeypatch, engine):
    """Count cell conv MACs (convolutions of stacked cell weights) and shared pools during one forward, in
    the autograd engine (conv2d / avg_pool_3x3 of supernet.py) or the fused engine (cell_engine.conv /
    _elementwise_forward)."""
    stats = {"conv1x1_edges": 0, "conv3x3_edges": 0, "conv_calls": 0, "pools": 0}

    def count_conv(w):
        stats[f"conv{w.shape[-1]}x{w.shape[-1]}_edges"] += w.shape[0] // w.shape[1]  # stacked edges
        stats["conv_calls"] += 1

    if engine == "autograd":
        real_conv, real_pool = F.conv2d, sn.avg_pool_3x3

        def conv(x, w, *args, **kwargs):
            if "padding" in kwargs:  # the fused cell's call style (nn.Conv2d passes padding positionally)
                count_conv(w)
            return real_conv(x, w, *args, **kwargs)

        def pool(x):
            stats["pools"] += 1
            return real_pool(x)

        monkeypatch.setattr(sn.F, "conv2d", conv)
        monkeypatch.setattr(sn, "avg_pool_3x3", pool)
    else:
        real_conv, real_elementwise, real_1x1 = ce.conv, ce._elementwise_forward, ce._conv1x1_batch_stats_forward

        def engine_conv(r, w, kernel, bias=None):
            count_conv(w)
            return real_conv(r, w, kernel, bias)

        def engine_1x1(r, r_sum, w, *args):  # batch statistics: 1x1 groups never call `conv`
            count_conv(w)
            return real_1x1(r, r_sum, w, *args)

        def engine_elementwise(xs, plan, *args, **kwargs):  # one blocked pool per source with pool edges
            stats["pools"] += bool(plan.pool)
            return real_elementwise(xs, plan, *args, **kwargs)

        monkeypatch.setattr(ce, "conv", engine_conv)
        monkeypatch.setattr(ce, "_conv1x1_batch_stats_forward", engine_1x1)
        monkeypatch.setattr(ce, "_elementwise_forward", engine_elementwise)
    return stats


@pytest.mark.parametrize("engine", sn.ENGINES)
def test_masked_and_zero_weight_ops_are_not_computed(monkeypatch, engine):
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=5, C=C, N=2)
    x = torch.randn(2, 3, HW, HW)
    stats = _count_calls(monkeypatch, engine)
    with sn.engine(engine), torch.no_grad():
        net(x, torch.ones(6, 5))
    # per cell: 6 edges of each conv kind, fused into one call per (source node, kind); one pool per source
    n = net.num_cells
    assert stats == {"conv1x1_edges": 6 * n, "conv3x3_edges": 6 * n, "conv_calls": 6 * n, "pools": 3 * n}
    stats.update(conv1x1_edges=0, conv3x3_edges=0, conv_calls=0, pools=0)
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[:, 1] = True  # skip everywhere
    mask[2, 3] = True  # one 3x3 conv on edge 2
    w = torch.ones(6, 5)
    w[5, 1] = 0.0  # exactly-zero weight: skip on edge 5 is not computed either
    with sn.engine(engine), torch.no_grad():
        net(x, w, mask)
    assert stats == {"conv1x1_edges": 0, "conv3x3_edges": n, "conv_calls": n, "pools": 0}


def test_masked_op_weights_get_zero_gradient_and_none_is_free():
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=5, C=C, N=1)
    mask = torch.rand(6, 5) > 0.3
    w = torch.rand(6, 5).requires_grad_()
    net(torch.randn(2, 3, HW, HW), w, mask).sum().backward()
    assert torch.all(w.grad[~mask] == 0)
    assert torch.all(w.grad[:, 0] == 0)  # `none` contributes an exact zero
    assert torch.any(w.grad[mask & (torch.arange(5) > 0)] != 0)


def test_deepcopy_and_state_dict_round_trip():
    torch.manual_seed(0)
    parent = NB201Supernet(num_classes=5, C=C, N=1)
    x = torch.randn(2, 3, HW, HW)
    w = torch.softmax(torch.randn(3, 6, 5), -1)
    parent(x, w)  # populate plan cache and running stats
    parent.eval()
    child = copy.deepcopy(parent)
    fresh = NB201Supernet(num_classes=5, C=C, N=1)
    fresh.load_state_dict(parent.state_dict())
    fresh.eval()
    with torch.no_grad():
        ref = parent(x, w)
        torch.testing.assert_close(child(x, w), ref)
        torch.testing.assert_close(fresh(x, w), ref)
        child.cell(0).conv3x3.add_(1.0)  # children own their weights
        assert not torch.equal(child(x, w), ref)
        torch.testing.assert_close(parent(x, w), ref)
    assert set(parent.state_dict()) == set(fresh.state_dict())


def test_bad_shapes_raise():
    net = NB201Supernet(num_classes=5, C=C, N=1)
    x = torch.randn(2, 3, HW, HW)
    with pytest.raises(ValueError):
        net(x, torch.ones(5, 5))
    with pytest.raises(ValueError):
        net(x, torch.ones(6, 5), torch.ones(3, 6, 5, dtype=torch.bool))


def test_cpu_training_is_bit_reproducible():
    def run():
        torch.manual_seed(3)
        net = NB201Supernet(num_classes=5, C=C, N=1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        g = torch.Generator().manual_seed(4)
        for _ in range(3):
            x = torch.randn(4, 3, HW, HW, generator=g)
            y = torch.randint(0, 5, (4,), generator=g)
            w = F.one_hot(torch.randint(0, 5, (6,), generator=g), 5).float()
            opt.zero_grad()
            F.cross_entropy(net(x, w), y).backward()
            opt.step()
        return net.state_dict()

    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _engine_run(net, x, y, alpha, mask, engine, wanted):
    with sn.engine(engine):
        a = alpha.clone().requires_grad_("alpha" in wanted)
        out = net(x, torch.softmax(a.masked_fill(~mask, float("-inf")), dim=-1), mask)
        loss = F.cross_entropy(out, y)
        inputs = ([a] if "alpha" in wanted else []) + (list(net.parameters()) if "params" in wanted else [])
        grads = torch.autograd.grad(loss, inputs)
    return out.detach(), grads, [b.clone() for b in net.buffers()]


@pytest.mark.parametrize("wanted", [("alpha", "params"), ("alpha",), ("params",)])
@pytest.mark.parametrize(("affine", "track"), [(False, True), (True, False)])
def test_fused_engine_matches_autograd_engine_in_fp32(wanted, affine, track):
    """fp32, as training runs: outputs, every gradient asked for and the running statistics agree within 1e-5
    (relative to each tensor's largest entry); an architecture step (alpha only) works without weight grads."""
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=5, C=4, N=1, affine=affine, track_running_stats=track)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 5, (8,))
    alpha = torch.randn(6, 5)
    for mask in (torch.ones(6, 5, dtype=torch.bool), _mask_cases()[1][1]):
        ref = _engine_run(copy.deepcopy(net).train(), x, y, alpha, mask, "autograd", wanted)
        got = _engine_run(copy.deepcopy(net).train(), x, y, alpha, mask, "fused", wanted)
        for a, b in zip([ref[0], *ref[1], *ref[2]], [got[0], *got[1], *got[2]], strict=True):
            scale = max(float(a.abs().max()), 1e-6) if a.is_floating_point() else 1.0
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5 * scale)


def test_fused_engine_backward_twice_is_refused():
    net = NB201Supernet(num_classes=5, C=4, N=1)
    loss = net(torch.randn(2, 3, 8, 8), torch.softmax(torch.randn(6, 5), -1)).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()
