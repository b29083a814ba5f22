"""Leave a module's buffers exactly as they were.

Why: the fused supernet cells call F.batch_norm themselves, so switching BatchNorm modules to eval mode does not
stop a no-grad forward from updating running statistics. Scoring, probing and unrolled alpha steps that must not
change the supernet restore every buffer instead (`restored_buffers`).

`untouched_batch_statistics` is the cheaper way for the common case of a train-mode forward that must not change
the running statistics (HEP-NAS teacher, sibling and selection forwards, several per training step): instead of
copying every buffer before and after, it switches `track_running_stats` off on every module that honours it
(torch's BatchNorm and the fused cells), so their train-mode forward passes no running buffers to F.batch_norm
and writes nothing. The output is the same: train-mode batch normalisation uses the batch statistics either
way. Buffers of any other module are saved and restored as by `restored_buffers`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def restored_buffers(module: nn.Module) -> Iterator[None]:
    """Every buffer of `module` (running means/vars, counters) is put back on exit."""
    saved = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in saved:
                b.copy_(s)


@contextlib.contextmanager
def untouched_batch_statistics(module: nn.Module) -> Iterator[None]:
    """Inside: `module` in train mode (BN normalises with batch statistics) and no buffer of it changes (module
    docstring). Train/eval modes and `track_running_stats` flags are restored on exit; no tensor is copied unless
    a module that does not declare `track_running_stats = True` owns buffers."""
    modules = list(module.modules())
    modes = [m.training for m in modules]
    switched: list[nn.Module] = []
    saved = []
    for m in modules:
        if getattr(m, "track_running_stats", None) is True:
            switched.append(m)
        else:
            saved += [(b, b.detach().clone()) for b in m.buffers(recurse=False)]
    try:
        module.train(True)
        for m in switched:
            m.track_running_stats = False
        yield
    finally:
        for m in switched:
            m.track_running_stats = True
        for m, t in zip(modules, modes, strict=True):  # each module's own flag (m.train(t) would recurse)
            m.training = t
        if saved:
            with torch.no_grad():
                for b, s in saved:
                    b.copy_(s)
