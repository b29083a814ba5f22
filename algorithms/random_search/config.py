"""Settings of the oracle-driven random-search baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Config:
    n_samples: int = 100  # architectures drawn uniformly without replacement from the 15,625
    epochs: Literal[200, 12] = 200  # which benchmark training length answers the (simulated) evaluations
    split: Literal["valid"] = "valid"  # selection uses validation accuracy only, never test (pitfall 13)
    connected_only: bool = False  # redraw disconnected cells (they score chance level)

    def __post_init__(self) -> None:
        if not 1 <= self.n_samples <= 15625:
            raise ValueError(f"n_samples={self.n_samples}; allowed 1..15625")
