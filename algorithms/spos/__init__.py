"""spos: single-path one-shot NAS with uniform sampling (Guo et al., ECCV 2020) and its random-search
form RSPS (Li & Talwalkar), on NB201 (algorithms.md §6)."""

from __future__ import annotations

from algorithms.spos.config import Config
from algorithms.spos.search import Spos

__all__ = ["Config", "Spos"]
