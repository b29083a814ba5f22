"""HEP-NAS: hierarchical edge partitioning + search-space mutual distillation (algorithms.md §2)."""

from __future__ import annotations

from .config import Config
from .search import HepNas

__all__ = ["Config", "HepNas"]
