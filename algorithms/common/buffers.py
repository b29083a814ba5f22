"""Leave a module's buffers exactly as they were.

Why: the fused supernet cells call F.batch_norm themselves, so switching BatchNorm modules to eval mode does not
stop a no-grad forward from updating running statistics. Scoring, probing and unrolled alpha steps that must not
change the supernet restore every buffer instead.
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
