"""CIFAR download into the user's --data-root: official URL, progress bar, md5 check, atomic extract.

Only CIFAR-10/100 can be fetched (ImageNet16 needs an image-net.org account). Offline, or when the download
fails, an InputError says where to put the files. Nothing is downloaded unless a loader finds files missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from harness.data.loaders import CIFAR10_DIR, CIFAR100_DIR, available, dataset_dir, missing_message
from harness.errors import InputError

#: dataset -> (URL, archive md5, folder inside the archive); https://www.cs.toronto.edu/~kriz/cifar.html
ARCHIVES: dict[str, tuple[str, str, str]] = {
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        CIFAR10_DIR,
    ),
    "cifar100": (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        CIFAR100_DIR,
    ),
}
_CHUNK = 1 << 20


def _progress(done: int, total: int | None, stream: IO[str]) -> None:
    if total:
        frac = done / total
        bar = "#" * int(30 * frac)
        stream.write(f"\r  [{bar:<30}] {done / 1e6:6.1f}/{total / 1e6:.1f} MB")
    else:
        stream.write(f"\r  {done / 1e6:6.1f} MB")
    stream.flush()


def _fetch(url: str, dest: Path, *, timeout: float) -> str:
    """Stream `url` into `dest`; return its md5. A progress bar goes to stderr when stderr is a TTY."""
    md5 = hashlib.md5()
    show = sys.stderr.isatty()
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as out:
        length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
        total = int(length) if length else None
        done = 0
        if show:
            sys.stderr.write(f"downloading {url}\n")
        while True:
            chunk = resp.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            md5.update(chunk)
            done += len(chunk)
            if show:
                _progress(done, total, sys.stderr)
        if show:
            sys.stderr.write("\n")
    return md5.hexdigest()


def _safe_extract(archive: Path, into: Path) -> None:
    """Extract regular files and folders only, refusing absolute paths, '..' and links."""
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            parts = Path(m.name).parts
            if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
                raise InputError(f"{archive}: unsafe archive member {m.name!r}")
        tar.extractall(into, members=members)  # noqa: S202 - members checked above


def download_cifar(dataset: str, root: Path, *, timeout: float = 30.0) -> Path:
    """Fetch and extract `dataset` into `root`; returns its folder. Atomic: the folder appears complete or not
    at all (extracted into a temp folder inside root, then os.replace)."""
    if dataset not in ARCHIVES:
        raise InputError(missing_message(dataset, root))
    url, md5, folder = ARCHIVES[dataset]
    root = Path(root).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--data-root {root}: cannot create it ({err.strerror})") from err
    tmp = Path(tempfile.mkdtemp(prefix=f".{dataset}-download-", dir=root))
    try:
        archive = tmp / Path(url).name
        try:
            got = _fetch(url, archive, timeout=timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            raise InputError(f"{missing_message(dataset, root)}; download failed: {reason}") from err
        if got != md5:
            raise InputError(f"{url}: md5 {got} does not match the official {md5}; not extracted")
        extract = tmp / "extract"
        extract.mkdir()
        _safe_extract(archive, extract)
        if not (extract / folder).is_dir():
            raise InputError(f"{url}: archive has no {folder}/ folder")
        target = root / folder
        if target.exists():  # an incomplete folder may hold the user's own files: never delete it
            raise InputError(
                f"{target} exists but lacks files of {dataset}; complete or move it, then re-run "
                f"({missing_message(dataset, root)})"
            )
        os.replace(extract / folder, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_dataset(dataset: str, root: Path, *, download: bool = True) -> None:
    """Make sure `root` holds `dataset` in a readable layout; downloads CIFAR when absent and `download` is set."""
    if available(dataset, root):
        return
    if not download or dataset not in ARCHIVES:
        raise InputError(missing_message(dataset, root))
    download_cifar(dataset, root)
    if dataset_dir(dataset, root) is None:
        raise InputError(missing_message(dataset, root))
