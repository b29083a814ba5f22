"""Provenance of a run: code version, package versions, device, determinism flags and input hashes.

Why: a number is only as trustworthy as our ability to say what produced it. Everything here goes into
`spec.json["provenance"]`; nothing here is part of the run id (the same spec on another machine is the same
run). Every probe degrades gracefully: no git, no CUDA or a missing package gives null / "n/a", never a crash.
No torch at module level (torch details are read only when the caller already has torch loaded).
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("nas-harness", "torch", "numpy", "pandas", "scipy")


def git_info(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """{"git_commit": sha or None, "git_dirty": bool or None}; None when git or the repository is missing."""

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "n/a"
    return versions


def device_info(device: Any = None) -> dict[str, Any]:
    """Device name, CUDA and cuDNN versions, determinism flags (reads torch only if already imported)."""
    info: dict[str, Any] = {
        "device": str(device) if device is not None else "n/a",
        "device_name": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cuda": None,
        "deterministic": None,
    }
    torch = sys.modules.get("torch")
    if torch is None:
        return info
    info["torch_threads"] = torch.get_num_threads()
    info["deterministic"] = {
        "use_deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available():
        index = device.index if getattr(device, "index", None) is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info["device_name"] = torch.cuda.get_device_name(index)
        info["cuda"] = {
            "version": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "capability": f"{props.major}.{props.minor}",
            "memory_gb": round(props.total_memory / 2**30, 1),
        }
    return info


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def collect(device: Any = None) -> dict[str, Any]:
    """The machine/code part of provenance (input hashes are added by the runner)."""
    return {**git_info(), "versions": package_versions(), **device_info(device), "argv": list(sys.argv)}
