"""Few-shot NAS (Zhao et al., ICML 2021): edge-wise exhaustive split of a one-shot supernet (algorithms.md
§4)."""

from __future__ import annotations

from .config import Config
from .search import FewShot

__all__ = ["Config", "FewShot"]
