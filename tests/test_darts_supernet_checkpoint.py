"""The DARTS supernet's per-cell checkpointing (the memory fix) changes no number: a checkpointed training step
gives bit-identical logits, loss, parameter and alpha gradients, and BN running statistics / counters equal to a
plain one (BN statistics are not updated twice by the recomputation)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from harness.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("space", ["darts", "darts-s5"])
def test_checkpointed_step_equals_plain_step(space):
    one_shot = get_space(space).one_shot
    torch.manual_seed(0)
    plain = one_shot.build_supernet(num_classes=5, C=4, N=1, affine=True, track_running_stats=True)
    plain.checkpoint_cells = False
    ckpt = copy.deepcopy(plain)
    ckpt.checkpoint_cells = True
    x, y = torch.randn(6, 3, 16, 16), torch.randint(0, 5, (6,))
    results = []
    for net in (plain, ckpt):
        alpha = torch.full((one_shot.num_edges, one_shot.num_ops), 0.1).requires_grad_()
        alpha.data += 0.01 * torch.arange(alpha.numel()).view_as(alpha).float() / alpha.numel()
        net.train()
        logits = net(x, torch.softmax(alpha, -1), None)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        results.append((logits.detach(), loss.detach(), alpha.grad.clone(), net))
    (l1, s1, a1, n1), (l2, s2, a2, n2) = results
    assert torch.equal(l1, l2) and torch.equal(s1, s2) and torch.equal(a1, a2)
    for (name, p1), (_, p2) in zip(n1.named_parameters(), n2.named_parameters(), strict=True):
        assert (p1.grad is None) == (p2.grad is None), name
        if p1.grad is not None:
            assert torch.equal(p1.grad, p2.grad), name
    for (name, b1), (_, b2) in zip(n1.named_buffers(), n2.named_buffers(), strict=True):
        assert torch.equal(b1, b2), name


def test_no_grad_forward_does_not_checkpoint():
    one_shot = get_space("darts-s5").one_shot
    net = one_shot.build_supernet(num_classes=3, C=4, N=1, affine=False, track_running_stats=True)
    w = torch.full((one_shot.num_edges, one_shot.num_ops), 1.0 / one_shot.num_ops)
    with torch.no_grad():
        assert net(torch.randn(2, 3, 16, 16), w, None).shape == (2, 3)
