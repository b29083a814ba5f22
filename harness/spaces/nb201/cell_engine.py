"""The fused NB201 cell's arithmetic on CPU: one forward for every BN mode, and a hand-written backward.

Why by hand: the autograd graph of a fused cell (harness/spaces/nb201/supernet.py) spends more time on memory
traffic than on its convolutions (issue 14: convolutions ran at about 60 % of this CPU's FMA peak, the rest of the
step was BatchNorm passes, out-of-place node sums, zero-filled slice gradients and the cat behind `split`). This
module computes the same function with fewer passes over the activations:

- BN is applied where its output is consumed. With batch statistics, a 3x3 conv returns centred values z: its
  batch mean comes from the input's tap sums (`tap_sums_3x3`, from r.sum(0)) and is passed as the conv's bias,
  and the variance is one read of z (row norms, `channel_sums_of_squares`). One (edge, conv) contributes
  `z_centred * a + shift` with per-channel `a = scale * invstd`; each conv-output chunk is added to its
  destination node in one `addcmul_` (the per-channel shifts of an affine BN, once per node when it is complete).
  No BN output tensor is ever written. With running statistics (eval), `a` and `b` are constants and are folded
  into the conv weights and a conv bias instead.
- 1x1 convolutions are batched matrix products (MKL GEMM; oneDNN's NCHW 1x1 kernels were 2-12x slower here).
  With batch statistics their output is never written: convolving the centred input gives centred outputs,
  their variance comes from the input's C x C Gram matrix, each edge's BN output is accumulated into its node
  by an in-place GEMM, and the backward needs C x C GEMMs only (`_conv1x1_batch_stats_forward`).
- Node sums are accumulated in place into tensors this module allocated (never into the cell input).
- The elementwise passes (skip and pool edges, ReLU, the BN and ReLU backward) are blocked over images,
  `CHUNK_BYTES` per thread: a chunk is read from memory once and every pass over it runs in L2. The pool's row
  pass is one GEMM with a 0/1 band matrix (`_box_sum_into`).
- The backward runs the sources in reverse order (node j's gradient is complete once every edge leaving it has
  been processed), computes BN's backward as `dz = a * g + c1 * z_centred + c0` from two per-channel sums per
  chunk (sum g is shared by all chunks entering the same node; working on centred values avoids the
  cancellation of sum g z - mean sum g) and writes it over z (dead by then), adds the 1x1 input gradient into
  the 3x3's with in-place GEMMs, pools the gradient of all pool edges of a source in one adjoint pass (the
  zero-padded 3x3 box sum is self-adjoint), and reduces op-weight gradients with dot products, written into the
  [E, O] gradient with one `index_put_` (`OpWeightGrads`).
- Conv weight gradients are computed only when the autograd engine will use them: an architecture step
  (`torch.autograd.grad(loss, [alpha])`) needs the input and op-weight gradients only (checked with the engine's
  own `_will_engine_execute_node` on a view of each weight; without that private API every gradient is
  computed).

The result equals the autograd formulation up to float rounding (summation order of node sums and BN
statistics): tests/test_models_supernet.py checks it in fp64 against a per-edge reference cell and in fp32
against the autograd engine at 1e-5 (C=4, N=1, batch 8). Larger fp32 steps at initialisation are
ill-conditioned, so two correct fp32 computations can differ far more: for one C=8 N=1 step at batch 64
(32x32), the gradients of this engine and of the autograd engine were 6e-6 and 6.5e-3 from an fp64 computation
(relative to each gradient's largest entry); with the input scaled by 1 + 1e-4 noise, 1e-5 and 1e-5, or 1e-2
and 9e-4. Neither engine is systematically closer to fp64.

Used on CPU in fp32 (and fp64, which the tests use) without autocast; other devices and autocast keep the
autograd formulation (`FusedCell.forward` chooses).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.spaces.nb201.arch import OPS

_SKIP, _CONV1, _CONV3, _POOL = (
    OPS.index(n) for n in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
)
BN_EPS = 1e-5


@dataclass(frozen=True)
class CellTensors:
    """What one cell's arithmetic reads: stacked conv weights [6, C, C, k, k], optional BN affine [6, C],
    optional running statistics [6, C] and how BN normalises."""

    conv1x1: Tensor
    conv3x3: Tensor
    gamma1: Tensor | None
    beta1: Tensor | None
    gamma3: Tensor | None
    beta3: Tensor | None
    mean1: Tensor | None
    var1: Tensor | None
    mean3: Tensor | None
    var3: Tensor | None
    batch_stats: bool
    """True: normalise with the batch's statistics (training, or no running statistics kept)."""
    update_running: bool
    """True: also update the running statistics (training with running statistics)."""
    momentum: float

    def conv(self, kernel: int) -> Tensor:
        return self.conv1x1 if kernel == 1 else self.conv3x3

    def affine(self, kernel: int) -> tuple[Tensor | None, Tensor | None]:
        return (self.gamma1, self.beta1) if kernel == 1 else (self.gamma3, self.beta3)

    def running(self, kernel: int) -> tuple[Tensor | None, Tensor | None]:
        return (self.mean1, self.var1) if kernel == 1 else (self.mean3, self.var3)


def _rows(t: Tensor, group) -> Tensor:  # noqa: ANN001 - a supernet._ConvGroup
    """The group's slots of a stacked [6, ...] tensor: a view when contiguous, else a gathered copy."""
    if group.contiguous:
        a = group.slots[0]
        return t[a : a + len(group.slots)]
    return t.index_select(0, group.index(t.device))


def _add_rows(t: Tensor, group, value: Tensor) -> None:  # noqa: ANN001 - a supernet._ConvGroup
    """t[group's slots] += value, in place (the inverse direction of `_rows`)."""
    if group.contiguous:
        a = group.slots[0]
        t[a : a + len(group.slots)] += value
    else:
        t.index_add_(0, group.index(t.device), value)


CHUNK_BYTES = 512 * 1024
"""Bytes of one batch chunk in the blocked elementwise passes: a chunk, its temporaries and its result fit in
a core's L2 cache (2 MB on the CPU of issue 14), so the passes after the first read the chunk from L2 instead of
L3 or memory. At C=16, 32x32 the unblocked 3x3 box sum ran 2.8x slower (4.2 ms vs 1.5 ms for 64 images, one
thread) because every one of its passes streamed 4 MB tensors through L3."""


def images_per_chunk(x: Tensor) -> int:
    """Images of `x` [B, ...] per blocked chunk (at least one): `CHUNK_BYTES` per intra-op thread, since the
    threads split each elementwise pass between their cores' caches."""
    per_image = max(x.numel() // max(x.shape[0], 1) * x.element_size(), 1)
    return max(CHUNK_BYTES * torch.get_num_threads() // per_image, 1)


def chunks(t: Tensor, step: int) -> tuple[Tensor, ...]:
    """Views of `t` in blocks of `step` images (`t` itself when it is one block: no split call)."""
    return (t,) if step >= t.shape[0] else t.split(step)


_BAND_CACHE: dict[tuple, Tensor] = {}


def _band3(n: int, like: Tensor) -> Tensor:
    """[n, n] matrix with ones on the main diagonal and the two next to it: right-multiplying rows of length n
    by it gives each entry plus its in-row neighbours (a zero-padded 3-tap sum)."""
    key = (n, like.dtype, like.device)
    band = _BAND_CACHE.get(key)
    if band is None:
        i = torch.arange(n)
        band = _BAND_CACHE[key] = ((i.view(-1, 1) - i.view(1, -1)).abs() <= 1).to(like.device, like.dtype)
    return band


def _box_sum_into(x: Tensor, out: Tensor, rows: Tensor) -> None:
    """out = zero-padded 3x3 box sum of x, stride 1 (the numerator of the NB201 average pool; self-adjoint),
    with `rows` (contiguous, shaped like x) as scratch.

    Along rows, one GEMM with a 0/1 band matrix: shifted adds along the last axis ran 2-4x slower (their inner
    loops are only W - 1 elements long: 31, 15 and 7 here) and the border column copy alone cost as much as a
    full pass. Along columns, shifted adds of whole rows (contiguous runs of (H - 1) * W), written straight into
    the result. Equal to F.avg_pool2d(x, 3, 1, 1, divisor_override=1) up to float rounding (tested); on the CPU of
    issue 14 it was bit-identical to the shifted-add form it replaced (MKL adds the three 0/1-weighted taps in
    order)."""
    w = x.shape[-1]
    torch.mm(x.reshape(-1, w), _band3(w, x), out=rows.view(-1, w))
    torch.add(rows[..., 1:, :], rows[..., :-1, :], out=out[..., 1:, :])
    out[..., :1, :].copy_(rows[..., :1, :])
    out[..., :-1, :] += rows[..., 1:, :]


def conv(r: Tensor, weight: Tensor, kernel: int, bias: Tensor | None = None) -> Tensor:
    """Stride-1 'same' convolution of NCHW `r` with `weight` [O, C, k, k]. A 1x1 convolution is a batched
    matrix product W @ r_b: on CPU, oneDNN's NCHW 1x1 kernels ran 2-12x slower than MKL's GEMM on these shapes
    (issue 14 measurements; worst at C=16, 32x32 with 48 outputs)."""
    if kernel == 1:
        b, c, h, w = r.shape
        out = torch.bmm(weight.view(1, weight.shape[0], c).expand(b, -1, -1), r.reshape(b, c, h * w))
        if bias is not None:
            out += bias.view(1, -1, 1)
        return out.view(b, weight.shape[0], h, w)
    return F.conv2d(r, weight, bias, padding=kernel // 2)


def conv_backward(
    dz: Tensor, r: Tensor, weight: Tensor, kernel: int, need_input: bool, need_weight: bool
) -> tuple[Tensor | None, Tensor | None]:
    """(d r, d weight) of `conv` without bias, given d z."""
    if kernel == 1:
        b, c, h, w = r.shape
        o = weight.shape[0]
        dz3 = dz.reshape(b, o, h * w)
        r3 = r.reshape(b, c, h * w)
        w_t = weight.view(1, o, c).transpose(1, 2).expand(b, -1, -1)
        g_in = torch.bmm(w_t, dz3).view(b, c, h, w) if need_input else None
        g_w = torch.bmm(dz3, r3.transpose(1, 2)).sum(0).view(o, c, 1, 1) if need_weight else None
        return g_in, g_w
    g_in, g_w, _ = torch.ops.aten.convolution_backward(
        dz, r, weight, None, [1, 1], [kernel // 2, kernel // 2], [1, 1], False, [0, 0], 1,
        [need_input, need_weight, False],
    )
    return g_in, g_w


def _channel_sums(t: Tensor) -> Tensor:
    return t.sum(dim=(0, 2, 3))


def channel_dots(g: Tensor, z: Tensor) -> Tensor:
    """Per-channel sum of g * z over (batch, height, width), blocked over images (`CHUNK_BYTES`) so that the
    product is a temporary in L2 rather than a tensor as large as g."""
    step = images_per_chunk(g)
    total = None
    for g_i, z_i in zip(chunks(g, step), chunks(z, step), strict=True):
        part = _channel_sums(g_i * z_i)
        total = part if total is None else total.add_(part)
    assert total is not None
    return total


def channel_sums_of_squares(z: Tensor) -> Tensor:
    """Per-channel sum of z**2 over (batch, height, width), z [B, C, H, W] contiguous.

    Why a norm: row norms over the contiguous H*W axis read z once and write nothing; `square(z).sum(...)`
    writes a temporary as large as z and ran 4x slower on CPU (2.0 ms vs 0.5 ms for 64x48x32x32, one thread).
    It is also slightly more accurate than squaring first (1e-7 vs 2e-7 relative in fp32)."""
    b, c = z.shape[:2]
    return torch.linalg.vector_norm(z.view(b, c, -1), dim=-1).square_().sum(0)


_TAP_READS_CACHE: dict[tuple, Tensor] = {}


def _tap_reads(n: int, device: torch.device) -> Tensor:
    """[3, n] float64: which of n input rows (or columns) the taps at offsets -1, 0, +1 of a stride-1,
    padding-1 3x3 convolution read: all but the last, all, all but the first."""
    key = (n, device)
    reads = _TAP_READS_CACHE.get(key)
    if reads is None:
        reads = torch.ones(3, n, dtype=torch.float64)
        reads[0, -1] = 0.0
        reads[2, 0] = 0.0
        reads = _TAP_READS_CACHE[key] = reads.to(device)
    return reads


def tap_sums_3x3(r_batch_sum: Tensor) -> Tensor:
    """[C, 3, 3] float64: for each channel and tap (ky, kx) of a stride-1, padding-1 3x3 convolution, the sum of
    the input values that tap reads over all images and output positions, from `r_batch_sum` = r.sum(0)
    [C, H, W].

    A tap offset by dy = ky - 1 reads every input row except the last (dy = -1) or the first (dy = +1), and
    likewise for columns, so each tap sum is rows^T . r_batch_sum . columns (`_tap_reads`). Hence the
    per-channel mean of the convolution's output is (W . S) / n for weights W: the conv can be given -mean as
    its bias and return centred values, with no pass over its output (see `_conv_group_forward`)."""
    _, h, w = r_batch_sum.shape
    dev = r_batch_sum.device
    return _tap_reads(h, dev) @ r_batch_sum.double() @ _tap_reads(w, dev).t()


@dataclass
class _GroupSave:
    group: object  # supernet._ConvGroup
    kernel: int
    z: Tensor | None  # centred conv output z - mean [B, kC, H, W] (batch statistics only)
    invstd: Tensor  # [kC]
    a: Tensor  # [kC] per-channel multiplier of z
    weight: Tensor  # the [k*C, C, kk, kk] conv weight used
    rc: Tensor | None = None  # 1x1 with batch statistics: the centred ReLU output r - mean(r) [B, C, H, W]
    gram: Tensor | None = None  # 1x1 with batch statistics: sum over images of rc rc^T [C, C]


@dataclass
class _SourceSave:
    xs: Tensor
    r: Tensor | None
    pooled: Tensor | None
    groups: list[_GroupSave]


@dataclass(frozen=True)
class _KernelGrads:
    """Where one conv kind's parameter gradients accumulate in a cell backward (None: not wanted)."""

    conv: Tensor | None
    gamma: Tensor | None
    beta: Tensor | None


_INV_COUNT_CACHE: dict[tuple, Tensor] = {}


def inv_pool_count(h: int, w: int, like: Tensor) -> Tensor:
    """[1, 1, h, w] reciprocal of the number of in-image taps of a padded 3x3 window
    (count_include_pad=False)."""
    key = (h, w, like.device, like.dtype)
    inv = _INV_COUNT_CACHE.get(key)
    if inv is None:
        rows = torch.full((h,), 3.0, dtype=torch.float64)
        rows[0] -= 1
        rows[-1] -= 1
        cols = torch.full((w,), 3.0, dtype=torch.float64)
        cols[0] -= 1
        cols[-1] -= 1
        inv = _INV_COUNT_CACHE[key] = (
            (1.0 / torch.outer(rows, cols)).view(1, 1, h, w).to(like.device, like.dtype)
        )
    return inv


def _inv_count(like: Tensor) -> Tensor:
    h, w = like.shape[-2:]
    return inv_pool_count(h, w, like)


def cell_forward(
    x: Tensor, w: Tensor, plans: tuple, t: CellTensors, *, channels: int, save: bool
) -> tuple[Tensor, list[_SourceSave] | None]:
    """The cell's output node (and, with `save`, what the backward needs). No autograd: call under no_grad or
    from the autograd Function."""
    c = channels
    nodes: list[Tensor | None] = [x, None, None, None]
    pending: list[Tensor | None] = [None, None, None, None]  # per-channel shift still to add, per node
    saves: list[_SourceSave] | None = [] if save else None
    for src, plan in enumerate(plans):
        if plan.empty:
            if saves is not None:
                saves.append(_SourceSave(x, None, None, []))
            continue
        xs = nodes[src]
        if xs is None:  # a node with no computed input is zero; ops fed by it still run (BN(0) != 0 in eval)
            xs = nodes[src] = torch.zeros_like(x)
        elif pending[src] is not None:
            xs.add_(pending[src].view(1, c, 1, 1))
            pending[src] = None
        has_conv = plan.conv1 is not None or plan.conv3 is not None
        pooled, r, r_sum = _elementwise_forward(xs, plan, w, nodes, relu=has_conv, relu_sum=t.batch_stats)
        group_saves: list[_GroupSave] = []
        if has_conv:
            assert r is not None
            for group, kernel, op in ((plan.conv1, 1, _CONV1), (plan.conv3, 3, _CONV3)):
                if group is None:
                    continue
                gs = _conv_group_forward(r, r_sum, w, group, kernel, op, t, c, nodes, pending)
                group_saves.append(gs)
        if saves is not None:
            saves.append(_SourceSave(xs, r, pooled, group_saves))
    out = nodes[3]
    if out is None:
        return torch.zeros_like(x), saves
    if pending[3] is not None:
        out.add_(pending[3].view(1, c, 1, 1))
    return out, saves


def _elementwise_forward(
    xs: Tensor, plan, w: Tensor, nodes: list[Tensor | None], *, relu: bool, relu_sum: bool  # noqa: ANN001
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """A source's skip and pool edges added into their nodes, and (with `relu`) the ReLU that its conv edges
    read, with `relu_sum` also r.sum(0) [C, H, W]; returns (pooled, r, r_sum).

    Blocked over images (`CHUNK_BYTES`): each chunk of xs is read once from memory and pooled, scaled into every
    destination and rectified while it sits in L2, instead of one pass over whole tensors per edge. A node that
    does not exist yet is written by its first term (no zero fill)."""
    pooled = torch.empty_like(xs) if plan.pool else None
    r = torch.empty_like(xs) if relu else None
    step = images_per_chunk(xs)
    xs_c = chunks(xs, step)
    pooled_c = None if pooled is None else chunks(pooled, step)
    terms: list[tuple[tuple[Tensor, ...], tuple[Tensor, ...], Tensor, bool]] = []  # (node, term, weight, first)
    for edges, op, term in ((plan.skip, _SKIP, xs_c), (plan.pool, _POOL, pooled_c)):
        for e, dst in edges:
            first = nodes[dst] is None
            if first:
                nodes[dst] = torch.empty_like(xs)
            terms.append((chunks(nodes[dst], step), term, w[e, op], first))  # type: ignore[arg-type]
    if not terms and r is None:
        return None, None, None
    rows = torch.empty_like(xs_c[0]) if pooled is not None else None
    r_c = None if r is None else chunks(r, step)
    inv = _inv_count(xs)
    r_sum = None
    for i, x_i in enumerate(xs_c):
        if pooled_c is not None:
            assert rows is not None
            p_i = pooled_c[i]
            _box_sum_into(x_i, p_i, rows[: p_i.shape[0]])
            p_i.mul_(inv)
        for node_c, term_c, weight, first in terms:
            if first:
                torch.mul(term_c[i], weight, out=node_c[i])
            else:
                node_c[i].addcmul_(term_c[i], weight)
        if r_c is not None:
            r_i = torch.clamp_min(x_i, 0, out=r_c[i])
            if relu_sum:
                r_sum = r_i.sum(0) if r_sum is None else r_sum.add_(r_i.sum(0))
    return pooled, r, r_sum


def _conv_group_forward(
    r: Tensor,
    r_sum: Tensor | None,
    w: Tensor,
    group,  # noqa: ANN001 - supernet._ConvGroup
    kernel: int,
    op: int,
    t: CellTensors,
    c: int,
    nodes: list[Tensor | None],
    pending: list[Tensor | None],
) -> _GroupSave:
    k = len(group.slots)
    weight = _rows(t.conv(kernel), group).reshape(k * c, c, kernel, kernel)
    scale = w.reshape(-1).index_select(0, group.channel_weight_index(op, w.shape[1], c, w.device))  # [kC]
    gamma, beta = t.affine(kernel)
    shift = None
    if gamma is not None:
        assert beta is not None
        shift = _rows(beta, group).reshape(-1) * scale
        scale = _rows(gamma, group).reshape(-1) * scale
    running_mean, running_var = t.running(kernel)
    if t.batch_stats and kernel == 1:
        assert r_sum is not None
        return _conv1x1_batch_stats_forward(r, r_sum, weight, group, scale, shift, t, c, nodes, pending)
    if t.batch_stats:
        assert r_sum is not None
        n = r.numel() // c
        mean = (weight.view(k * c, -1).double() @ tap_sums_3x3(r_sum).view(-1)).div_(n).to(r.dtype)
        z = conv(r, weight, kernel, -mean)  # centred: conv(r) - its batch mean
        var = channel_sums_of_squares(z) / n
        invstd = torch.rsqrt(var + BN_EPS)
        a = scale * invstd
        b = shift  # BN's output is z_centred * a + shift
        if t.update_running:
            assert running_mean is not None and running_var is not None
            _update_running(running_mean, running_var, group, mean, var * (n / max(n - 1, 1)), t.momentum, c)
        for j, dst in enumerate(group.dsts):
            zc = z[:, j * c : (j + 1) * c]
            aj = a[j * c : (j + 1) * c].view(1, c, 1, 1)
            bj = None if b is None else b[j * c : (j + 1) * c]
            acc = nodes[dst]
            if acc is None:
                nodes[dst] = zc * aj if bj is None else torch.addcmul(bj.view(1, c, 1, 1), zc, aj)
            else:
                acc.addcmul_(zc, aj)
                if bj is not None:
                    pending[dst] = bj if pending[dst] is None else pending[dst] + bj
        return _GroupSave(group, kernel, z, invstd, a, weight)
    # running statistics: BN is a per-channel affine map, folded into the conv
    assert running_mean is not None and running_var is not None
    mean = _rows(running_mean, group).reshape(-1)
    invstd = torch.rsqrt(_rows(running_var, group).reshape(-1) + BN_EPS)
    a = scale * invstd
    b = -mean * a if shift is None else shift - mean * a
    y = conv(r, weight * a.view(-1, 1, 1, 1), kernel, b)
    for j, dst in enumerate(group.dsts):  # chunks are disjoint views of y, which nothing else reads
        yc = y[:, j * c : (j + 1) * c]
        acc = nodes[dst]
        nodes[dst] = yc if acc is None else acc.add_(yc)
    return _GroupSave(group, kernel, None, invstd, a, weight)


def _conv1x1_batch_stats_forward(
    r: Tensor,
    r_sum: Tensor,
    weight: Tensor,
    group,  # noqa: ANN001 - supernet._ConvGroup
    scale: Tensor,
    shift: Tensor | None,
    t: CellTensors,
    c: int,
    nodes: list[Tensor | None],
    pending: list[Tensor | None],
) -> _GroupSave:
    """A 1x1 conv group with batch statistics, without materialising its output.

    A 1x1 convolution is linear per pixel, so W (r - mean r) = z - mean z: convolving the centred input gives
    centred outputs, and their per-channel variance is the quadratic form w_o^T G w_o / n of the centred input's
    Gram matrix G = sum rc rc^T (one C x C GEMM). Each edge's BN output (a * W) rc is then accumulated straight
    into its destination node by one in-place batched GEMM."""
    b, _, h, w = r.shape
    n = b * h * w
    w2 = weight.view(-1, c)  # [kC, C]
    mean_r = r_sum.sum((1, 2)) / n
    rc4 = r - mean_r.view(1, c, 1, 1)
    rc = rc4.view(b, c, h * w)
    gram = torch.bmm(rc, rc.transpose(1, 2)).sum(0)  # [C, C]
    mean = w2 @ mean_r
    var = ((w2.double() @ gram.double()) * w2.double()).sum(1).div_(n).to(r.dtype)
    invstd = torch.rsqrt(var + BN_EPS)
    a = scale * invstd
    if t.update_running:
        assert t.mean1 is not None and t.var1 is not None
        _update_running(t.mean1, t.var1, group, mean, var * (n / max(n - 1, 1)), t.momentum, c)
    wa_all = w2 * a.view(-1, 1)  # [kC, C]: the BN scale folded into each edge's 1x1 weights
    for j, dst in enumerate(group.dsts):
        wa = wa_all[j * c : (j + 1) * c].expand(b, c, c)
        acc = nodes[dst]
        if acc is None or not acc.is_contiguous():
            term = torch.bmm(wa, rc).view(b, c, h, w)
            nodes[dst] = term if acc is None else acc.add_(term)
        else:
            acc.view(b, c, h * w).baddbmm_(wa, rc)
        if shift is not None:
            bj = shift[j * c : (j + 1) * c]
            pending[dst] = bj if pending[dst] is None else pending[dst] + bj
    return _GroupSave(group, 1, None, invstd, a, weight, rc4, gram)


def _update_running(
    running_mean: Tensor, running_var: Tensor, group, mean: Tensor, var_unbiased: Tensor, momentum: float, c: int  # noqa: ANN001
) -> None:
    k = len(group.slots)
    if group.contiguous:
        s = group.slots[0]
        running_mean[s : s + k].lerp_(mean.view(k, c), momentum)
        running_var[s : s + k].lerp_(var_unbiased.view(k, c), momentum)
    else:
        idx = group.index(running_mean.device)
        new_mean = running_mean.index_select(0, idx).lerp_(mean.view(k, c), momentum)
        new_var = running_var.index_select(0, idx).lerp_(var_unbiased.view(k, c), momentum)
        running_mean.index_copy_(0, idx, new_mean)
        running_var.index_copy_(0, idx, new_var)


def _will_run(node: object) -> bool:
    """Whether the autograd engine will execute `node` in the current backward (True when unknown)."""
    if node is None:
        return False
    check = getattr(torch._C, "_will_engine_execute_node", None)
    if check is None:
        return True
    try:
        return bool(check(node))
    except RuntimeError:
        return True


class FusedCellFunction(torch.autograd.Function):
    """Batch-statistics cell forward with the hand-written backward described in the module docstring.

    Inputs: x, op weights w [6, 5], views of conv1x1 and conv3x3 (views so that the backward can ask the engine
    whether their gradients are wanted), the four BN affine tensors (or None), then non-tensor arguments."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,  # noqa: ANN001
        x: Tensor,
        w: Tensor,
        conv1x1: Tensor,
        conv3x3: Tensor,
        gamma1: Tensor | None,
        beta1: Tensor | None,
        gamma3: Tensor | None,
        beta3: Tensor | None,
        plans: tuple,
        tensors: CellTensors,
        channels: int,
    ) -> Tensor:
        t = CellTensors(
            conv1x1, conv3x3, gamma1, beta1, gamma3, beta3, tensors.mean1, tensors.var1, tensors.mean3,
            tensors.var3, True, tensors.update_running, tensors.momentum,
        )
        out, saves = cell_forward(x, w, plans, t, channels=channels, save=True)
        ctx.saves, ctx.plans, ctx.tensors, ctx.channels = saves, plans, t, channels
        ctx.save_for_backward(w)
        return out

    @staticmethod
    def backward(ctx, g_out: Tensor):  # noqa: ANN001, ANN205
        (w,) = ctx.saved_tensors
        saves: list[_SourceSave] | None = ctx.saves
        if saves is None:
            raise RuntimeError("backward through a fused NB201 cell ran twice; retain_graph is not supported")
        plans, t, c = ctx.plans, ctx.tensors, ctx.channels
        need = ctx.needs_input_grad
        need_x, need_w = need[0], need[1]
        nexts = ctx.next_functions
        need_conv = {1: need[2] and _will_run(nexts[2][0]), 3: need[3] and _will_run(nexts[3][0])}
        need_affine = {1: need[4] or need[5], 3: need[6] or need[7]}
        gw = OpWeightGrads(w) if need_w else None
        sinks = {
            k: _KernelGrads(
                torch.zeros_like(t.conv(k)) if need_conv[k] else None,
                torch.zeros_like(t.affine(k)[0]) if need_affine[k] else None,
                torch.zeros_like(t.affine(k)[1]) if need_affine[k] else None,
            )
            for k in (1, 3)
        }
        grads: list[Tensor | None] = [None, None, None, g_out.contiguous()]
        sums_g: dict[int, Tensor] = {}
        for src in (2, 1, 0):
            plan, sv = plans[src], saves[src]
            if plan.empty:
                continue
            need_input = need_x or src > 0
            gx = _elementwise_backward(plan, sv, grads, w, gw, need_input)
            g_r: Tensor | None = None  # gradient w.r.t. the ReLU output, plus `g_r_shift` per channel
            g_r_shift: Tensor | None = None
            for gs in sorted(sv.groups, key=lambda gs: -gs.kernel):  # 3x3 first: the 1x1 GEMMs add into it
                g_r, shift = _conv_group_backward(
                    gs, grads, sums_g, sv.r, w, t, c, gw, sinks[gs.kernel], need_input, g_r
                )
                if shift is not None:
                    g_r_shift = shift if g_r_shift is None else g_r_shift + shift
            if g_r is not None:
                assert sv.r is not None
                gx = _relu_backward(g_r, g_r_shift, sv.r, gx)
            grads[src] = gx
        ctx.saves = None
        gx0 = grads[0] if need_x else None
        g_w = None if gw is None else gw.tensor()
        s1, s3 = sinks[1], sinks[3]
        return gx0, g_w, s1.conv, s3.conv, s1.gamma, s1.beta, s3.gamma, s3.beta, None, None, None


def _relu_backward(g_r: Tensor, shift: Tensor | None, r: Tensor, gx: Tensor | None) -> Tensor:
    """gx + (g_r + shift) * (r > 0), written over g_r (a temporary of the backward) and into gx when given;
    blocked over images so that g_r, r and gx are each read once."""
    step = images_per_chunk(g_r)
    shift4 = None if shift is None else shift.view(1, -1, 1, 1)
    g_chunks = chunks(g_r, step)
    gx_chunks = g_chunks if gx is None else chunks(gx, step)
    for g_i, r_i, gx_i in zip(g_chunks, chunks(r, step), gx_chunks, strict=True):
        if shift4 is not None:
            g_i.add_(shift4)
        torch.ops.aten.threshold_backward.grad_input(g_i, r_i, 0, grad_input=g_i)
        if gx is not None:
            gx_i.add_(g_i)
    return g_r if gx is None else gx


class OpWeightGrads:
    """d loss / d op weights of one cell backward, collected as small tensors and written into the [E, O]
    gradient with one `index_put_` (instead of one indexed copy per (edge, op))."""

    def __init__(self, like: Tensor) -> None:
        self.like = like
        self.index: list[int] = []
        self.values: list[Tensor] = []

    def set(self, e: int, op: int, value: Tensor) -> None:
        self.index.append(e * self.like.shape[1] + op)
        self.values.append(value.view(1))

    def set_many(self, entries: list[tuple[int, int]], values: Tensor) -> None:
        self.index.extend(e * self.like.shape[1] + op for e, op in entries)
        self.values.append(values.view(-1))

    def tensor(self) -> Tensor:
        gw = torch.zeros_like(self.like)
        if self.values:
            index = torch.tensor(self.index, dtype=torch.long, device=gw.device)
            gw.view(-1).index_put_((index,), torch.cat(self.values), accumulate=True)
        return gw


def _elementwise_backward(
    plan, sv: _SourceSave, grads: list[Tensor | None], w: Tensor, gw: OpWeightGrads | None, need_input: bool  # noqa: ANN001
) -> Tensor | None:
    """Backward of a source's skip and pool edges (`node_dst += w[e, op] * term`): the op weights' gradients
    <g_dst, term> (into gw) and the gradient w.r.t. the source, sum_e w[e, skip] g_dst + pool^T(sum_e w[e, pool]
    g_dst) (None when nothing flows).

    Blocked over images like `_elementwise_forward`: each chunk of every gradient, of xs and of the pooled
    tensor is read once; the dot products are summed per chunk, then over chunks."""
    skip = [(e, grads[dst]) for e, dst in plan.skip if grads[dst] is not None]
    pool = [(e, grads[dst]) for e, dst in plan.pool if grads[dst] is not None]
    if not skip and not pool:
        return None
    xs, pooled = sv.xs, sv.pooled
    step = images_per_chunk(xs)

    def split(t: Tensor) -> tuple[Tensor, ...]:
        return chunks(t, step)

    skip_c = [(w[e, _SKIP], split(g)) for e, g in skip]
    pool_c = [(w[e, _POOL], split(g)) for e, g in pool]
    xs_c = split(xs)
    pooled_c = split(pooled) if pool else None
    dots: list[Tensor] = []
    gx = torch.empty_like(xs) if need_input else None
    gx_c = split(gx) if gx is not None else None
    scratch = torch.empty_like(xs[:step]) if pool and need_input else None
    rows = torch.empty_like(xs[:step]) if scratch is not None else None
    box = torch.empty_like(xs[:step]) if scratch is not None and skip else None
    inv = _inv_count(xs)
    for i, x_i in enumerate(xs_c):
        if gw is not None:
            dots.extend(torch.dot(g_c[i].reshape(-1), x_i.reshape(-1)) for _, g_c in skip_c)
            if pooled_c is not None:
                p_i = pooled_c[i].reshape(-1)
                dots.extend(torch.dot(g_c[i].reshape(-1), p_i) for _, g_c in pool_c)
        if gx_c is None:
            continue
        gx_i = gx_c[i]
        n = gx_i.shape[0]
        for k, (weight, g_c) in enumerate(skip_c):
            if k == 0:
                torch.mul(g_c[i], weight, out=gx_i)
            else:
                gx_i.addcmul_(g_c[i], weight)
        if scratch is not None:
            assert rows is not None
            pg = scratch[:n]
            for k, (weight, g_c) in enumerate(pool_c):
                if k == 0:
                    torch.mul(g_c[i], weight, out=pg)
                else:
                    pg.addcmul_(g_c[i], weight)
            pg.mul_(inv)
            if box is None:
                _box_sum_into(pg, gx_i, rows[:n])
            else:
                _box_sum_into(pg, box[:n], rows[:n])
                gx_i += box[:n]
    if gw is not None:
        entries = [(e, _SKIP) for e, _ in skip] + [(e, _POOL) for e, _ in pool]
        gw.set_many(entries, torch.stack(dots).view(len(xs_c), len(entries)).sum(0))
    return gx


def _conv_group_backward(
    gs: _GroupSave,
    grads: list[Tensor | None],
    sums_g: dict[int, Tensor],
    r: Tensor | None,
    w: Tensor,
    t: CellTensors,
    c: int,
    gw: OpWeightGrads | None,
    sinks: _KernelGrads,
    need_input: bool,
    into: Tensor | None,
) -> tuple[Tensor | None, Tensor | None]:
    """BN + conv backward of one conv group. Returns the gradient w.r.t. the group's ReLU output added to
    `into` (a temporary of the backward, or None), and a per-channel shift still to be added to it (or None)."""
    group, kernel = gs.group, gs.kernel
    if gs.rc is not None:
        return _conv1x1_batch_stats_backward(
            gs, grads, sums_g, w, t, c, gw, sinks, need_input, into
        )
    z = gs.z
    assert z is not None and r is not None
    n = z.numel() // z.shape[1]
    active, g_c = _active_grads(group, grads)
    if not active:
        return into, None
    z_c = [z[:, j * c : (j + 1) * c] for j in active]
    sum_gz = torch.stack([channel_dots(g, zc) for g, zc in zip(g_c, z_c, strict=True)])
    sum_g = _sums_of_grads(group, active, grads, sums_g)
    c1, c0 = _bn_group_grads(gs, active, sum_gz, sum_g, n, w, t, gw, sinks, c)
    if not need_input and sinks.conv is None:
        return into, None
    dz = z  # written over z chunk by chunk (dz = a * g + c1 * zc + c0, blocked over images): z is dead once read
    step = images_per_chunk(z)
    for i, (j, g, zc) in enumerate(zip(active, g_c, z_c, strict=True)):
        a4 = gs.a[j * c : (j + 1) * c].view(1, c, 1, 1)
        c0_4, c1_4 = c0[i].view(1, c, 1, 1), c1[i].view(1, c, 1, 1)
        for z_i, g_i in zip(chunks(zc, step), chunks(g, step), strict=True):
            z_i.mul_(c1_4).add_(c0_4)  # (torch.addcmul(..., out=z_i) ran 2-4x slower on these strided views)
            z_i.addcmul_(g_i, a4)
    for j in range(len(group.dsts)):
        if j not in active:
            dz[:, j * c : (j + 1) * c].zero_()
    k = len(group.slots)
    g_in, g_weight = conv_backward(dz, r, gs.weight, kernel, need_input, sinks.conv is not None)
    if sinks.conv is not None:
        assert g_weight is not None
        _add_rows(sinks.conv, group, g_weight.view(k, c, c, kernel, kernel))
    if not need_input:
        return into, None
    assert g_in is not None
    return (g_in if into is None else into.add_(g_in)), None


def _active_grads(group, grads: list[Tensor | None]) -> tuple[list[int], list[Tensor]]:  # noqa: ANN001
    """The positions in `group` of the edges whose destination has a gradient, and those gradients."""
    active, g_c = [], []
    for j, dst in enumerate(group.dsts):
        g = grads[dst]
        if g is not None:
            active.append(j)
            g_c.append(g)
    return active, g_c


def _sums_of_grads(group, active: list[int], grads: list[Tensor | None], sums_g: dict[int, Tensor]) -> Tensor:  # noqa: ANN001
    """[len(active), C]: per-channel sums of the gradients of the active edges' destinations (cached per
    destination: every conv group entering a node shares them)."""
    rows = []
    for j in active:
        dst = group.dsts[j]
        sum_g = sums_g.get(dst)
        if sum_g is None:
            g = grads[dst]
            assert g is not None
            sum_g = sums_g[dst] = _channel_sums(g)
        rows.append(sum_g)
    return torch.stack(rows)


def _bn_group_grads(
    gs: _GroupSave,
    active: list[int],
    sum_gz: Tensor,
    sum_g: Tensor,
    n: int,
    w: Tensor,
    t: CellTensors,
    gw: OpWeightGrads | None,
    sinks: _KernelGrads,
    c: int,
) -> tuple[Tensor, Tensor]:
    """BN backward of a conv group's active edges, all at once, from their per-channel sums [len(active), C]
    (sum g * z_centred, sum g): the op-weight and BN-affine gradients (into gw and `sinks`) and (c1, c0)
    of dz = a * g + c1 * z_centred + c0, i.e. dz = a * (g - sum_g / n - xhat * g_xhat / n) with
    xhat = z_centred * invstd."""
    group, kernel = gs.group, gs.kernel
    op = _CONV1 if kernel == 1 else _CONV3
    k = len(group.slots)
    invstd, a = gs.invstd.view(k, c), gs.a.view(k, c)
    if len(active) < k:
        invstd, a = invstd[active], a[active]
    g_xhat = invstd * sum_gz  # d loss / d scale, per channel
    gamma, beta = t.affine(kernel)
    slots = [group.slots[j] for j in active]
    edges = [group.edges[j] for j in active]
    if gw is not None:
        if gamma is not None:
            assert beta is not None
            values = (g_xhat * gamma[slots]).sum(1) + (sum_g * beta[slots]).sum(1)
        else:
            values = g_xhat.sum(1)
        gw.set_many([(e, op) for e in edges], values)
    if sinks.gamma is not None:
        assert sinks.beta is not None
        edge_w = w[edges, op].view(-1, 1)
        slot_index = torch.tensor(slots, dtype=torch.long, device=sinks.gamma.device)
        sinks.gamma.index_add_(0, slot_index, g_xhat * edge_w)
        sinks.beta.index_add_(0, slot_index, sum_g * edge_w)
    return (a * invstd * g_xhat).mul_(-1.0 / n), (a * sum_g).mul_(-1.0 / n)


def _conv1x1_batch_stats_backward(
    gs: _GroupSave,
    grads: list[Tensor | None],
    sums_g: dict[int, Tensor],
    w: Tensor,
    t: CellTensors,
    c: int,
    gw: OpWeightGrads | None,
    sinks: _KernelGrads,
    need_input: bool,
    into: Tensor | None,
) -> tuple[Tensor | None, Tensor | None]:
    """Backward of `_conv1x1_batch_stats_forward` with C x C GEMMs instead of per-pixel passes; returns like
    `_conv_group_backward` (the input gradient's per-channel term is the shift when it is added into `into`).

    With P = sum_b g rc^T (chunk j's output gradient against the centred input): sum g * z_centred = rowsum(W_j *
    P); d W_j = sum dz r^T = a * P + c1 * (W_j G) (sum dz = 0 per channel and sum rc = 0 drop the other terms);
    d r = sum_j W_j^T (a_j g_j + c1_j z_centred_j + c0_j) = sum_j (a_j W_j)^T g_j + (sum_j W_j^T c1_j W_j) rc +
    sum_j W_j^T c0_j."""
    group = gs.group
    assert gs.rc is not None and gs.gram is not None
    b, _, h, w_ = gs.rc.shape
    hw = h * w_
    n = b * hw
    rc, gram = gs.rc.view(b, c, hw), gs.gram
    k = len(group.slots)
    active, g_c = _active_grads(group, grads)
    if not active:
        return into, None
    w3 = gs.weight.view(k, c, c)
    a = gs.a.view(k, c)
    if len(active) < k:
        w3, a = w3[active], a[active]
    g3s = [g.reshape(b, c, hw) for g in g_c]
    rc_t = rc.transpose(1, 2)
    p = torch.stack([torch.bmm(g3, rc_t).sum(0) for g3 in g3s])  # [k', C_out, C_in]
    c1, c0 = _bn_group_grads(
        gs, active, (w3 * p).sum(2), _sums_of_grads(group, active, grads, sums_g), n, w, t, gw, sinks, c
    )
    if sinks.conv is not None:
        g_w3 = a.unsqueeze(2) * p + c1.unsqueeze(2) * (w3 @ gram)
        if len(active) < k:
            g_w3 = torch.zeros(k, c, c, dtype=p.dtype, device=p.device).index_copy_(
                0, torch.tensor(active, device=p.device), g_w3
            )
        _add_rows(sinks.conv, group, g_w3.view(k, c, c, 1, 1))
    if not need_input:
        return into, None
    w3_t = w3.transpose(1, 2)
    m = (w3_t @ (c1.unsqueeze(2) * w3)).sum(0)  # sum_j W_j^T c1_j W_j  [C, C]
    bias = (w3_t @ c0.unsqueeze(2)).sum(0).view(c)  # sum_j W_j^T c0_j
    wa_t = (a.unsqueeze(2) * w3).transpose(1, 2)  # (a_j W_j)^T
    if into is None or not into.is_contiguous():
        dr = torch.baddbmm(bias.view(1, c, 1), m.expand(b, c, c), rc)
        shift = None
    else:
        dr = into.view(b, c, hw).baddbmm_(m.expand(b, c, c), rc)
        shift = bias
    for wt, g3 in zip(wa_t, g3s, strict=True):
        dr.baddbmm_(wt.expand(b, c, c), g3)
    dr4 = dr.view(b, c, h, w_)
    if into is not None and dr4.data_ptr() != into.data_ptr():
        return into.add_(dr4), None
    return dr4, shift
