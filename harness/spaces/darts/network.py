"""Fixed DARTS-space networks built from a genotype: the CIFAR / ImageNet evaluation networks and the discrete
network on the search supernet's skeleton.

Why three classes on one cell: the evaluation networks (algorithms.md §2.7: C36/L20 on CIFAR, C48/L14 on
ImageNet) are what published parameter counts and final trainings refer to, while `DartsSearchNetwork` is the
genotype cut out of the search supernet (same stem, non-affine preprocessing, pool + BN ops, no auxiliary
head). Loading a supernet's weights into it proves that a one-hot supernet forward is exactly that
architecture (tests/test_spaces_darts_networks.py).

Skeleton (repository quark0/darts, `cnn/model.py`, read for behaviour, not copied): a cell takes the two
previous cell outputs c_{k-2}, c_{k-1}, adapts them to C channels (FactorizedReduce for c_{k-2} right after a
reduction cell, a 1x1 ReLUConvBN otherwise), computes 4 nodes, each the sum of two ops on earlier states, and
concatenates the genotype's `concat` nodes. Reduction cells sit at layers//3 and 2*layers//3, double C and
stride 2 on the ops that read the cell inputs. The auxiliary head reads the output of cell 2*layers//3 in
training only. Drop-path (training only) drops the output of every non-identity op of a node.

Genotypes are duck-typed: anything with `.normal`, `.reduce` (8 (op, input) pairs each, two per node in node
order) and `.normal_concat`, `.reduce_concat` works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from harness.spaces.darts.ops import Identity, drop_path, make_op, make_search_op, preprocess

OpFactory = Callable[[str, int, int], nn.Module]
"""(op name, channels, stride) -> module."""


def reduction_layers(layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells of a `layers`-cell network."""
    return (layers // 3, 2 * layers // 3)


def _pairs(cell: Any) -> tuple[tuple[str, int], ...]:
    pairs = tuple((str(op), int(j)) for op, j in cell)
    if not pairs or len(pairs) % 2:
        raise ValueError(f"a genotype cell needs two (op, input) pairs per node, got {len(pairs)} pairs")
    for k in range(len(pairs) // 2):
        for _, j in pairs[2 * k : 2 * k + 2]:
            if not 0 <= j < k + 2:
                raise ValueError(f"node {k} cannot read input {j} (allowed 0..{k + 1})")
    return pairs


class GenotypeCell(nn.Module):
    """One discrete cell: preprocessing, two ops per node, concat of the genotype's nodes.

    `ops[2k]`, `ops[2k+1]` are node k's ops in genotype order; `indices` the states they read (0/1 = cell inputs,
    j >= 2 = node j-2). `op_factory` builds an op from (name, channels, stride); `affine` / `track_running_stats`
    apply to the preprocessing.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, int]],
        concat: Sequence[int],
        c_prev_prev: int,
        c_prev: int,
        C: int,
        *,
        reduction: bool,
        reduction_prev: bool,
        op_factory: OpFactory,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = preprocess(
            c_prev_prev, C, reduction_prev, affine=affine, track_running_stats=track_running_stats
        )
        self.preprocess1 = preprocess(c_prev, C, False, affine=affine, track_running_stats=track_running_stats)
        self.indices = tuple(j for _, j in pairs)
        self.concat = tuple(int(c) for c in concat)
        steps = len(pairs) // 2
        if not self.concat or any(not 0 <= c < steps + 2 for c in self.concat):
            raise ValueError(f"concat {self.concat} must name states 0..{steps + 1}")
        self.steps = steps
        self.multiplier = len(self.concat)
        self.ops = nn.ModuleList(op_factory(name, C, 2 if reduction and j < 2 else 1) for name, j in pairs)

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float = 0.0) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(self.steps):
            outs = []
            for t in (2 * k, 2 * k + 1):
                op = self.ops[t]
                h = op(states[self.indices[t]])
                if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob)
                outs.append(h)
            states.append(outs[0] + outs[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


def _eval_op(name: str, channels: int, stride: int) -> nn.Module:
    return make_op(name, channels, stride, affine=True)


class _CellStack(nn.Module):
    """Builds the cells of a network and runs them; shared by the three network classes."""

    def _build_cells(
        self,
        genotype: Any,
        *,
        C: int,
        layers: int,
        c_prev_prev: int,
        c_prev: int,
        reduction_prev: bool,
        op_factory: OpFactory,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> tuple[int, int]:
        """Fill `self.cells`; returns (channels out of the last cell, channels out of cell 2*layers//3)."""
        normal, reduce = _pairs(genotype.normal), _pairs(genotype.reduce)
        reductions = reduction_layers(layers)
        self.cells = nn.ModuleList()
        c_curr, c_aux = C, 0
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            cell = GenotypeCell(
                reduce if reduction else normal,
                genotype.reduce_concat if reduction else genotype.normal_concat,
                c_prev_prev,
                c_prev,
                c_curr,
                reduction=reduction,
                reduction_prev=reduction_prev,
                op_factory=op_factory,
                affine=affine,
                track_running_stats=track_running_stats,
            )
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == reductions[1]:
                c_aux = c_prev
        return c_prev, c_aux


class AuxiliaryHeadCIFAR(nn.Module):
    """Auxiliary classifier on the 8x8 output of cell 2*layers//3 (CIFAR)."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class AuxiliaryHeadImageNet(nn.Module):
    """Auxiliary classifier on the 14x14 output of cell 2*layers//3 (ImageNet). As in the reference code's
    published experiments, there is no BN after the 768-channel conv."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),  # 14x14 -> 5x5
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNetworkCIFAR(_CellStack):
    """The CIFAR evaluation network. `forward(x) -> (logits, aux_logits or None)`; the auxiliary head runs in
    training only. `drop_path_prob` is a plain attribute (training schedules ramp it per epoch)."""

    def __init__(
        self,
        genotype: Any,
        *,
        C: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        auxiliary: bool = True,
        drop_path_prob: float = 0.0,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        self.layers, self.auxiliary, self.drop_path_prob = layers, auxiliary, drop_path_prob
        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_last, c_aux = self._build_cells(
            genotype,
            C=C,
            layers=layers,
            c_prev_prev=c_stem,
            c_prev=c_stem,
            reduction_prev=False,
            op_factory=_eval_op,
        )
        self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_last, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        aux_at = reduction_layers(self.layers)[1]
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == aux_at and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux


class DartsNetworkImageNet(_CellStack):
    """The ImageNet (224x224) evaluation network: 3-conv stem down to 28x28, first cell reading a 56x56 and a
    28x28 input (so it starts with `reduction_prev=True`), 7x7 average pool. Same forward contract as CIFAR."""

    def __init__(
        self,
        genotype: Any,
        *,
        C: int = 48,
        layers: int = 14,
        num_classes: int = 1000,
        auxiliary: bool = True,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.layers, self.auxiliary, self.drop_path_prob = layers, auxiliary, drop_path_prob
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        c_last, c_aux = self._build_cells(
            genotype, C=C, layers=layers, c_prev_prev=C, c_prev=C, reduction_prev=True, op_factory=_eval_op
        )
        self.auxiliary_head = AuxiliaryHeadImageNet(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AvgPool2d(7)
        self.classifier = nn.Linear(c_last, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        aux_at = reduction_layers(self.layers)[1]
        logits_aux = None
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == aux_at and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux


class DartsSearchNetwork(_CellStack):
    """The genotype on the search supernet's skeleton: stem 3x3 conv (stem_multiplier*C) + BN, preprocessing
    and ops with the supernet's `affine` / `track_running_stats`, a non-affine BN after pooling ops, global
    average pool, linear classifier; no auxiliary head, no drop-path. `forward(x) -> logits`.

    Fill it from a trained supernet with `harness.spaces.darts.supernet.load_into_search_network`.
    """

    def __init__(
        self,
        genotype: Any,
        *,
        C: int,
        layers: int,
        num_classes: int,
        stem_multiplier: int = 3,
        affine: bool = False,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.layers = layers

        def op_factory(name: str, channels: int, stride: int) -> nn.Module:
            return make_search_op(name, channels, stride, affine=affine, track_running_stats=track_running_stats)

        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_last, _ = self._build_cells(
            genotype,
            C=C,
            layers=layers,
            c_prev_prev=c_stem,
            c_prev=c_stem,
            reduction_prev=False,
            op_factory=op_factory,
            affine=affine,
            track_running_stats=track_running_stats,
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_last, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))
