"""NB201 models: benchmark-exact fixed networks, the fused weight-sharing supernet, params/FLOPs counts.

Torch-backed names are loaded lazily so that `harness.models.nb201_cost` (pure numpy) can be used by
torch-free modules; `from harness.models import NB201Supernet` imports torch on first use.
"""

from __future__ import annotations

from typing import Any

from harness.models.nb201_cost import (
    NB201_DATASETS,
    count_params_flops,
    count_params_flops_codes,
    dataset_shape,
)

_LAZY = {
    "NB201Network": "harness.models.nb201_network",
    "NB201Cell": "harness.models.nb201_network",
    "NB201Supernet": "harness.models.nb201_supernet",
}

__all__ = [
    "NB201_DATASETS",
    "NB201Cell",
    "NB201Network",
    "NB201Supernet",
    "count_params_flops",
    "count_params_flops_codes",
    "dataset_shape",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.models' has no attribute {name!r}")
