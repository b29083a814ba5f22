"""Atomic file writes: every file nas-harness writes appears whole or not at all.

Why: a report, a baseline or a run record cut short by a crash, a full disk or Ctrl-C must never replace the good
file that was there before, and must leave no half-written file behind. Each writer writes into a temporary file in
the target's own folder (so the final `os.replace` is a rename within one file system, which POSIX makes atomic),
fsyncs it, renames it over the target and fsyncs the folder. On any failure the temporary file is removed and the
previous file is untouched.

Why this lives in `reports`: `reports` may import neither `harness` nor `algorithms` (design.md section 3), while
`harness` may import `reports`; so the one implementation sits here and `harness.records` re-exports it.
Standard library only: `status`, `query` and the readers must start fast.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: permission bits of a new file (mkstemp creates 0600; run records and reports are meant to be shared)
NEW_FILE_MODE = 0o644


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entry list, so that a rename survives a power cut (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _target_mode(path: Path) -> int:
    """The permission bits the written file gets: those of the file it replaces, else NEW_FILE_MODE."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return NEW_FILE_MODE


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder for a writer that needs a file name (matplotlib's savefig,
    pandas' to_csv, torch.save); on a clean exit it is fsynced and renamed over `path`, on an exception removed.

    The temporary name keeps `path`'s suffix, so writers that look at the extension still see it. Creates the
    parent folder when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:  # name the file the user asked for, not our temp name
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # the writer may have replaced the file; fsync what is there now
            os.fsync(fh.fileno())
        os.chmod(tmp, _target_mode(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, os.replace)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically. Newlines are written as given (no translation), so the
    bytes are the same on every platform."""
    atomic_write_bytes(path, text.encode("utf-8"))
