"""train: training one architecture from scratch, the honest judge (`nas-harness train`).

Not a search algorithm: a job with the same run machinery (run directory, records, checkpoints with resume,
cost, provenance), registered in `harness.registry.JOBS`, so `compare` never runs it as a method.
"""

from __future__ import annotations

from algorithms.train.config import Config, NetworkConfig
from algorithms.train.job import TrainFromScratch

__all__ = ["Config", "NetworkConfig", "TrainFromScratch"]
