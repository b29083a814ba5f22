"""algorithms.common.scoring and .supernet_train on a tiny supernet with synthetic data (CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.common.alpha import full_mask, init_alpha
from algorithms.common.sampling import sample_single_path
from algorithms.common.scoring import batch_statistics_bn, score_single_path
from algorithms.common.supernet_train import train_darts_epoch, train_weights_epoch
from harness.context import make_test_context
from harness.data import BatchStream, fixed_batches, synthetic_search_data
from harness.spaces import get_space
from harness.spaces.nb201 import NB201Arch
from harness.spaces.nb201.supernet import NB201Supernet
from harness.train import AdamConfig, SGDConfig, make_adam, make_sgd


@pytest.fixture(scope="module")
def data():
    return synthetic_search_data("cifar10", n_weight=64, n_held_out=64, seed=0, image_size=16)


def _net(track: bool = True) -> NB201Supernet:
    torch.manual_seed(0)
    return NB201Supernet(num_classes=10, C=2, N=1, track_running_stats=track)


ONE_SHOT = get_space("nb201").one_shot
ARCHS = [NB201Arch.from_codes(c) for c in [(3, 3, 3, 3, 3, 3), (1, 0, 2, 4, 1, 3), (0, 0, 0, 0, 0, 0)]]


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_score_one_score_per_arch_and_no_side_effects(data, bn_mode):
    net = _net()
    net.train()
    before = _state(net)
    batches = fixed_batches(data.held_out, 32)
    scores = score_single_path(ONE_SHOT, net, ARCHS, batches, bn_mode=bn_mode)
    assert scores.shape == (len(ARCHS),)
    assert np.all((scores >= 0) & (scores <= 100))
    assert _same(before, _state(net)), "scoring must not change weights or BN running stats"
    assert net.training, "mode restored"


def test_score_matches_manual_eval_forward(data):
    net = _net()
    batches = fixed_batches(data.held_out, 32)
    arch = ARCHS[1]
    w = torch.nn.functional.one_hot(torch.tensor(arch.codes), 5).float()
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(x, w, w.bool()).argmax(1) == y).sum()) for x, y in batches)
    net.train()
    assert score_single_path(ONE_SHOT, net, [arch], batches, bn_mode="eval")[0] == pytest.approx(100 * correct / 64)


def test_batch_statistics_bn_equals_untracked_forward(data):
    """bn_mode='train' uses batch statistics: same logits as train-mode forward, without touching buffers."""
    net = _net()
    x = data.held_out.images[:32]
    w = torch.nn.functional.one_hot(torch.tensor(ARCHS[1].codes), 5).float()
    before = _state(net)
    with torch.no_grad(), batch_statistics_bn(net):
        a = net(x, w, w.bool())
    assert _same(before, _state(net))
    net.train()
    with torch.no_grad():
        b = net(x, w, w.bool())  # train forward: batch stats, updates buffers
    torch.testing.assert_close(a, b)
    assert not _same(before, _state(net))


def test_train_weights_epoch_counts_logs_and_changes_weights(tmp_path, data):
    ctx = make_test_context(tmp_path, data, seed=0)
    net = _net()
    opt = make_sgd(net.parameters(), SGDConfig())
    gen = ctx.torch_generator("paths")
    stream = BatchStream(data.weight, batch_size=16, generator=ctx.torch_generator("batches"), augment=True)
    before = _state(net)

    def weights():
        w = sample_single_path(ONE_SHOT, full_mask(ONE_SHOT), gen)
        return w, w.bool()

    with ctx.phase("supernet"):
        stats = train_weights_epoch(net, weights, stream, opt, 5.0, ctx, epoch=0)
    assert stats.steps == 4 and stats.images == 64
    assert np.isfinite(stats.loss) and 0 <= stats.acc_pct <= 100
    assert not _same(before, _state(net))
    ctx.close()
    text = (tmp_path / "records.csv").read_text()
    assert "train_loss" in text and "train_acc_pct" in text
    cost = {p.phase: p for p in ctx.meter.phases()}["supernet"]
    assert cost.steps == 4 and cost.images == 64 and cost.epochs == 1


@pytest.mark.parametrize("order", [1, 2])
def test_darts_epoch_moves_alpha_and_weights(tmp_path, data, order):
    ctx = make_test_context(tmp_path, data, seed=0)
    net = _net()
    alpha = init_alpha(ctx.torch_generator("alpha"), shape=(6, 5))
    a0 = alpha.detach().clone()
    w_opt = make_sgd(net.parameters(), SGDConfig())
    a_opt = make_adam([alpha], AdamConfig())
    ws = BatchStream(data.weight, batch_size=16, generator=ctx.torch_generator("w"), augment=True)
    hs = BatchStream(data.held_out, batch_size=32, generator=ctx.torch_generator("h"), augment=True)
    before = _state(net)
    stats = train_darts_epoch(net, alpha, full_mask(ONE_SHOT), ws, hs, w_opt, a_opt, 5.0, ctx, epoch=0, order=order)
    assert stats.steps == 4 and stats.alpha_loss is not None
    assert not torch.equal(alpha.detach(), a0)
    assert not _same(before, _state(net))
    ctx.close()


# ---------------------------------------------------------------------- the rank-scoring protocol (issue 10)
def _manual_recalibrated_score(net, arch, batches, calib):  # type: ignore[no-untyped-def]
    """Reference: a fresh copy of the net, torch-style cumulative BN statistics (momentum=None on every torch BN,
    per-batch momentum 1/t on the fused cells), then an eval-mode forward."""
    import copy

    ref = copy.deepcopy(net)
    w = torch.nn.functional.one_hot(torch.tensor(arch.codes), 5).float()
    layers = [m for m in ref.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    cells = [m for m in ref.modules() if hasattr(m, "running_stat_specs")]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    for c in cells:
        for name, (_, fill) in c.running_stat_specs().items():
            getattr(c, name).fill_(fill)
    ref.train()
    with torch.no_grad():
        for t, (x, _) in enumerate(calib, start=1):
            for c in cells:
                c.momentum = 1.0 / t
            ref(x, w, w.bool())
        ref.eval()
        correct = sum(int((ref(x, w, w.bool()).argmax(1) == y).sum()) for x, y in batches)
    return 100.0 * correct / sum(int(y.shape[0]) for _, y in batches)


@pytest.mark.parametrize("track", [True, False])
def test_recalibrated_scoring_equals_a_fresh_cumulative_recalibration(data, track):
    from algorithms.common.scoring import score_recalibrated

    net = _net(track=True)
    net.train()
    train_weights_epoch_free_state = _state(net)
    batches = fixed_batches(data.held_out, 32)
    calib = fixed_batches(data.weight, 16)
    got = score_recalibrated(ONE_SHOT, net, ARCHS, batches, calib)
    want = [_manual_recalibrated_score(net, a, batches, calib) for a in ARCHS]
    assert got.tolist() == pytest.approx(want, abs=1e-9)
    assert _same(train_weights_epoch_free_state, _state(net)), "recalibration must not change the supernet"
    assert net.training


def test_recalibration_works_on_cells_without_running_statistics(data):
    """Few-shot NAS cells keep no statistics (track_running_stats=False): recalibration gives them temporary ones,
    so the architecture is scored in eval mode, and takes them away again."""
    from algorithms.common.scoring import score_recalibrated

    net = _net(track=False)
    names_before = sorted(n for n, _ in net.named_buffers())
    batches = fixed_batches(data.held_out, 32)
    calib = fixed_batches(data.weight, 16)
    a = score_recalibrated(ONE_SHOT, net, ARCHS, batches, calib)
    assert sorted(n for n, _ in net.named_buffers()) == names_before
    assert all(not c.track_running_stats for c in net.modules() if hasattr(c, "running_stat_specs"))
    batch_stats = score_single_path(ONE_SHOT, net, ARCHS, batches, bn_mode="train")
    assert a.shape == batch_stats.shape and np.all((a >= 0) & (a <= 100))
    b = score_recalibrated(ONE_SHOT, net, ARCHS, batches, calib)
    assert a.tolist() == b.tolist()  # deterministic and free of side effects


def test_score_for_rank_follows_the_context_protocol(tmp_path, data):
    from algorithms.common.scoring import score_for_rank
    from harness.api import ScoringProtocol

    net = _net()
    ctx = make_test_context(tmp_path, data)
    kw = dict(native_bn_mode="train", batch_size=32, max_images=None)
    native = score_for_rank(ONE_SHOT, net, ARCHS, ctx, **kw)
    assert (
        native.tolist()
        == score_single_path(ONE_SHOT, net, ARCHS, fixed_batches(data.held_out, 32), bn_mode="train").tolist()
    )
    ctx.scoring = ScoringProtocol(bn="recalibrate", calib_images=32, calib_batch_size=16)
    recal = score_for_rank(ONE_SHOT, net, ARCHS, ctx, **kw)
    ref = [
        _manual_recalibrated_score(
            net, a, fixed_batches(data.held_out, 32), fixed_batches(data.weight.subset(slice(0, 32)), 16)
        )
        for a in ARCHS
    ]
    assert recal.tolist() == pytest.approx(ref, abs=1e-9)
    ctx.close()


@pytest.mark.parametrize("bn_mode", ["eval", "train"])
def test_scoring_shares_the_stem_and_chunks_eval_batches_exactly(bn_mode):
    """score_single_path runs the stem once per batch and, with running statistics, forwards EVAL_CHUNK images
    at a time: the scores equal a plain loop of whole-batch supernet forwards, one architecture at a time."""
    from algorithms.common.scoring import EVAL_CHUNK

    one_shot = get_space("nb201").one_shot
    torch.manual_seed(0)
    net = NB201Supernet(num_classes=10, C=4, N=1)
    with torch.no_grad():  # non-trivial running statistics
        for name, b in net.named_buffers():
            if name.endswith(("mean", "var", "running_mean", "running_var")):
                b.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    n = 2 * EVAL_CHUNK + 3
    batches = [(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))]
    archs = [one_shot.sample_arch(one_shot.full_mask(), g) for _ in range(4)]
    got = score_single_path(one_shot, net, archs, batches, bn_mode=bn_mode)
    want = []
    with batch_statistics_bn(net) if bn_mode == "train" else torch.no_grad():
        net.train(bn_mode == "train")
        with torch.no_grad():
            for arch in archs:
                w = torch.as_tensor(one_shot.arch_weights(arch))
                logits = net(batches[0][0], w, w.bool())
                want.append(100.0 * int((logits.argmax(1) == batches[0][1]).sum()) / n)
    np.testing.assert_array_equal(got, np.array(want))
