"""Training utilities shared by every algorithm: optimizers, LR schedules, the weight step, evaluation,
atomic checkpoints, devices, autocast and seeds.

Why one module: every search spends its time in the same SGD step; keeping clip/step/schedule/seed handling in
one place makes a CPU run reproducible bit for bit from its seed and keeps algorithms from drifting apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from harness.errors import InputError


@dataclass(frozen=True)
class SGDConfig:
    """Weight optimizer (DARTS / GM-NAS / HEP-NAS defaults: algorithms.md)."""

    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    nesterov: bool = False
    grad_clip: float = 5.0  # <= 0: no clipping

    def __post_init__(self) -> None:
        _check_finite("weight_opt", self, ("lr", "lr_min", "momentum", "weight_decay", "grad_clip"))
        _check_range("weight_opt", self, ("lr", "lr_min", "weight_decay"), 0.0, None)
        _check_range("weight_opt", self, ("momentum",), 0.0, 1.0)


@dataclass(frozen=True)
class AdamConfig:
    """Architecture-parameter optimizer (DARTS defaults)."""

    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        _check_finite("alpha_opt", self, ("lr", "weight_decay"))
        _check_range("alpha_opt", self, ("lr", "weight_decay"), 0.0, None)
        if len(self.betas) != 2 or not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in self.betas):
            raise InputError(f"alpha_opt.betas={tuple(self.betas)!r}; allowed: two numbers in [0, 1)")


def _check_finite(group: str, cfg: object, names: tuple[str, ...]) -> None:
    """InputError naming the first field that is not a finite number (nan / inf are typos, never settings)."""
    for name in names:
        value = getattr(cfg, name)
        if not math.isfinite(value):
            raise InputError(f"{group}.{name}={value!r}; allowed: a finite number")


def _check_range(group: str, cfg: object, names: tuple[str, ...], low: float, high: float | None) -> None:
    """InputError naming the first field outside [low, high) (high None: no upper bound)."""
    for name in names:
        value = getattr(cfg, name)
        if value < low or (high is not None and value >= high):
            allowed = f">= {low}" if high is None else f"in [{low}, {high})"
            raise InputError(f"{group}.{name}={value!r}; allowed: {allowed}")


def make_sgd(params: Iterable[Tensor], cfg: SGDConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
    )


def make_adam(params: Iterable[Tensor], cfg: AdamConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def path_cosine_lr(epoch: int, total_epochs: int, lr: float, lr_min: float) -> float:
    """Cosine from `lr` (epoch 0) to `lr_min` (epoch total_epochs) over the whole selected path; monotone.

    Epochs past the end stay at lr_min (no periodic climb: algorithms.md section 9, item 1).
    """
    if total_epochs < 1:
        raise ValueError("total_epochs must be >= 1")
    t = min(max(epoch, 0), total_epochs) / total_epochs
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t))


def public_code_lr(epoch: int, t_max: int, lr: float, lr_min: float) -> float:
    """The public code's schedule: torch CosineAnnealingLR's closed form, stepped past T_max, so it is
    periodic (period 2*T_max) and rises again after T_max. Used only with lr_schedule="public_code"."""
    if t_max < 1:
        raise ValueError("t_max must be >= 1")
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / t_max))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def sgd_step(
    loss: Tensor, optimizer: torch.optim.Optimizer, params: Iterable[Tensor], grad_clip: float
) -> None:
    """backward, clip the global grad norm to `grad_clip` (<= 0: no clipping), step; zero_grad is caller's."""
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], grad_clip)
    optimizer.step()


@torch.no_grad()
def accuracy_pct(forward: Callable[[Tensor], Tensor], batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Top-1 accuracy (%) of `forward(x) -> logits` over the batches; raises on an empty iterable."""
    correct = 0
    total = 0
    for x, y in batches:
        logits = forward(x)
        correct += int((logits.argmax(dim=1) == y).sum().item())
        total += int(y.shape[0])
    if total == 0:
        raise ValueError("accuracy over zero images is undefined")
    return 100.0 * correct / total


def atomic_save(obj: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, os.replace: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def load_checkpoint(path: Path, map_location: torch.device | str | None = "cpu") -> dict[str, Any]:
    """torch.load with weights_only=True: tensors, containers and plain values, never arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    obj = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(obj, dict):
        raise InputError(f"checkpoint {path} does not hold a dict")
    return obj


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available else cpu; "cpu"; "cuda" / "cuda:N" (InputError when CUDA is missing)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine; use auto or cpu")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    raise InputError(f"--device {name!r}: allowed values are auto, cpu, cuda, cuda:N")


def autocast(device: torch.device | str, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on `device` (CUDA or CPU) when `enabled` (a run's explicit `amp=true`), else a no-op.

    Why opt-in: fp32 is every method's published numerics; bf16 changes results (and must never touch DARTS'
    second-order step, see algorithms.common.bilevel), so a run says so in its spec."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def channels_last(obj: Any, device: torch.device | str) -> Any:
    """Module or 4-d tensor to channels-last memory format on CUDA (faster convs); unchanged on CPU."""
    if torch.device(device).type != "cuda":
        return obj
    if isinstance(obj, Tensor):
        return obj.contiguous(memory_format=torch.channels_last) if obj.dim() == 4 else obj
    return obj.to(memory_format=torch.channels_last)


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed from (seed, purpose), stable across processes and platforms (sha256, not hash())."""
    digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def torch_generator(seed: int, purpose: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator seeded with derive_seed(seed, purpose)."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))


def set_deterministic(seed: int) -> None:
    """Seed python, numpy and torch global RNGs; on CPU-only use, ask torch for deterministic algorithms.

    warn_only=True so an op without a deterministic kernel warns instead of failing a run; CUDA runs are not
    promised bit-for-bit (torch's cuDNN defaults are kept: heuristic algorithm choice, non-deterministic
    backward kernels allowed). The README lists the GPU sources of nondeterminism.
    """
    random.seed(seed)
    np.random.seed(derive_seed(seed, "numpy-global") % (2**32))
    torch.manual_seed(derive_seed(seed, "torch-global"))
    if not torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
