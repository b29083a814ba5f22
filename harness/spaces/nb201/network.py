"""The fixed-architecture NAS-Bench-201 network, exactly the benchmark's (C=16, N=5 by default).

Used to check params/FLOPs against the table (`inspect`), and as the semantic reference the weight-sharing
supernet is tested against. Cell BN is affine with running stats, as in the benchmark.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.errors import InputError
from harness.spaces.nb201.arch import EDGES, NUM_NODES, NB201Arch
from harness.spaces.nb201.ops import Head, ResidualReduction, Stem, make_op, stage_channels


class NB201Cell(nn.Module):
    """One NB201 cell: node j = sum over incoming edges (j <- i) of op_e(node i); node 3 is the output.

    `none` edges add an exact zero, so they are skipped; a node with no other input is a zero tensor, and ops
    fed by it are still computed (BN of a zero input is not zero in eval mode: the benchmark computes them
    too).
    """

    def __init__(
        self, arch: NB201Arch, channels: int, *, affine: bool = True, track_running_stats: bool = True
    ):
        super().__init__()
        self.arch = arch
        self.edges = nn.ModuleList(
            make_op(op, channels, affine=affine, track_running_stats=track_running_stats) for op in arch.ops
        )

    def forward(self, x: Tensor) -> Tensor:
        nodes: list[Tensor | None] = [x] + [None] * (NUM_NODES - 1)
        for e, (dst, src) in enumerate(EDGES):  # ordered by destination, so sources are complete
            if self.arch.ops[e] == "none":
                continue
            source = nodes[src]
            if source is None:
                source = nodes[src] = torch.zeros_like(x)
            out = self.edges[e](source)
            nodes[dst] = out if nodes[dst] is None else nodes[dst] + out
        result = nodes[-1]
        return torch.zeros_like(x) if result is None else result


class NB201Network(nn.Module):
    """Stem -> [N cells, reduction, N cells, reduction, N cells] -> BN+ReLU -> global pool -> linear."""

    def __init__(
        self,
        arch: NB201Arch,
        *,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(arch, NB201Arch):
            raise InputError(f"NB201Network needs an NB201Arch, got {type(arch).__name__}")
        if num_classes < 1 or C < 1 or N < 1:
            raise InputError(f"num_classes, C and N must be >= 1, got {num_classes}, {C}, {N}")
        self.arch = arch
        self.stem = Stem(C)
        layers: list[nn.Module] = []
        c_prev = C
        for c, reduction in stage_channels(C, N):
            layers.append(
                ResidualReduction(c_prev, c)
                if reduction
                else NB201Cell(arch, c, affine=affine, track_running_stats=track_running_stats)
            )
            c_prev = c
        self.cells = nn.ModuleList(layers)
        self.head = Head(c_prev, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, num_classes]."""
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x)
        return self.head(x)


def load_from_supernet(net: NB201Network, supernet: nn.Module) -> NB201Network:
    """Copy the weights `net`'s arch inherits from an `NB201Supernet` of the same skeleton into `net`."""
    net.stem.load_state_dict(supernet.stem.state_dict())
    net.head.load_state_dict(supernet.head.state_dict())
    for layer, src in zip(net.cells, supernet.layers, strict=True):
        if not isinstance(layer, NB201Cell):
            layer.load_state_dict(src.state_dict())
            continue
        for e, op in enumerate(layer.arch.ops):
            tensors = src.op_tensors(e, op)
            if not tensors:
                continue
            _, conv, bn = layer.edges[e]
            with torch.no_grad():
                conv.weight.copy_(tensors["conv"])
                for key, attr in (("bn_weight", "weight"), ("bn_bias", "bias"), ("bn_mean", "running_mean"),
                                  ("bn_var", "running_var")):
                    if key in tensors and getattr(bn, attr) is not None:
                        getattr(bn, attr).copy_(tensors[key])
    return net


def measure_params_flops(model: nn.Module, image_size: int) -> tuple[float, float]:
    """(params, FLOPs) in millions of a built model: parameter numel, and conv + linear MACs (linear bias
    counted once per output, pooling and BN excluded: the benchmark's rule) from forward hooks on one random
    image."""
    total = 0

    def conv_hook(mod: nn.Conv2d, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total += out[0].numel() * (mod.in_channels // mod.groups) * k + (
            out[0].numel() if mod.bias is not None else 0
        )

    def linear_hook(mod: nn.Linear, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        total += mod.in_features * mod.out_features + (mod.out_features if mod.bias is not None else 0)

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return params / 1e6, total / 1e6
