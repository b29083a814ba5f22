"""darts: DARTS (Liu et al., ICLR 2019), first and second order, on NB201 (algorithms.md §5)."""

from __future__ import annotations

from algorithms.darts.config import Config
from algorithms.darts.search import Darts

__all__ = ["Config", "Darts"]
