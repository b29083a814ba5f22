"""Shared test fixtures. The default suite is CPU-only and offline; see the markers in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_NB201 = REPO_ROOT.parent / "shared" / "data" / "nb201"


@pytest.fixture(scope="session")
def shared_nb201() -> Path:
    """The read-only shared NB201 folder (present beside the repository, also in CI)."""
    if not SHARED_NB201.is_dir():
        pytest.skip(f"shared data not found at {SHARED_NB201}")
    return SHARED_NB201


@pytest.fixture(scope="module")
def one_torch_thread():  # type: ignore[no-untyped-def]
    """Tiny tensors: one intra-op thread is faster and avoids OpenMP spinning when cores are shared.

    Opt in per module with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`; restored afterwards.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
