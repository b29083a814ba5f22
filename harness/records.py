"""Run-record schema: column constants, atomic writers, CSV appenders and readers (design.md section 6).

Why one module: the runner writes and `status` / `reports` read the same files; keeping the column lists, the
schema version and the value formatting here means there is exactly one definition to keep in step. Reports do
not import this module (they read files only); a test keeps `reports/load.py`'s columns equal to these.

Files of a run directory:
  spec.json    {schema_version, run_id, spec, provenance, status, started_at, finished_at, error, resume}
  records.csv  RECORDS_COLUMNS, long format, one scalar per row (empty cell = n/a)
  archs.csv    ARCHS_COLUMNS, one row per (role, arch, eval_dataset, split)
  rank.csv     RANK_COLUMNS, one row per (owner, eval_dataset, split, arch_set, metric)

No torch here: `status` and `reports` must start fast.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)

SPEC_FILE = "spec.json"
RECORDS_FILE = "records.csv"
ARCHS_FILE = "archs.csv"
RANK_FILE = "rank.csv"
LOCK_FILE = ".lock"
ARTIFACTS_DIR = "artifacts"

RECORDS_COLUMNS: tuple[str, ...] = ("phase", "stage", "child", "epoch", "step", "metric", "value")
ARCHS_COLUMNS: tuple[str, ...] = (
    "role",
    "stage",
    "child",
    "arch",
    "index",
    "score",
    "score_name",
    "eval_dataset",
    "split",
    "epochs",
    "gt_acc",
    "n_seeds",
)
RANK_COLUMNS: tuple[str, ...] = ("owner", "eval_dataset", "split", "arch_set", "n", "metric", "value")

ARCH_ROLES = ("final", "stage_pick", "child", "candidate", "rank_eval")
STATUSES = ("running", "ok", "failed", "interrupted")
COST_METRICS = ("wall_s", "device_s", "epochs", "steps", "images", "forwards", "peak_mem_mb")
#: cost metrics that measure time or memory and therefore differ between two otherwise identical runs
NONDETERMINISTIC_COST_METRICS = ("wall_s", "device_s", "peak_mem_mb")


def format_value(value: Any) -> str:
    """One CSV cell. None and NaN -> "" (n/a); bools -> 1/0; ints as ints; floats via repr (round-trips)."""
    if value is None:
        return ""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value)
    return str(value)


def csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([format_value(v) for v in values])
    return buf.getvalue()


def header_line(columns: Sequence[str]) -> str:
    return csv_line(list(columns))


# --------------------------------------------------------------------------------------------- atomic writers
def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: temp file in the same directory, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; run records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
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


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomic JSON (sorted keys, 2-space indent, trailing newline, NaN refused)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
    """Write a whole CSV atomically. Rows are sequences in column order or mappings keyed by column."""
    parts = [header_line(columns)]
    for row in rows:
        parts.append(csv_line(_row_values(columns, row)))
    atomic_write_text(path, "".join(parts))


def _row_values(columns: Sequence[str], row: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    if isinstance(row, Mapping):
        unknown = set(row) - set(columns)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; allowed: {', '.join(columns)}")
        return [row.get(c) for c in columns]
    if len(row) != len(columns):
        raise ValueError(f"row has {len(row)} values, expected {len(columns)}")
    return list(row)


class CsvAppender:
    """Appends rows to a CSV, writing the header when the file is new, flushing after each call.

    The file is opened in binary append mode so that `tell()` is a byte offset the runner can truncate back to
    on resume (records written after the last checkpoint are dropped, so a resumed run equals an uninterrupted
    one).
    """

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = open(self.path, "ab")  # noqa: SIM115 - long-lived handle, closed in close()
        if new:
            self._fh.write(header_line(self.columns).encode("utf-8"))
            self._fh.flush()

    def append(self, rows: Iterable[Sequence[Any] | Mapping[str, Any]], *, flush: bool = True) -> None:
        data = "".join(csv_line(_row_values(self.columns, r)) for r in rows)
        if data:
            self._fh.write(data.encode("utf-8"))
            if flush:
                self._fh.flush()

    def flush(self) -> None:
        self._fh.flush()

    def tell(self) -> int:
        self._fh.flush()
        return self._fh.tell()

    def truncate(self, offset: int) -> None:
        """Drop everything after byte `offset` (never the header)."""
        self._fh.flush()
        header = len(header_line(self.columns).encode("utf-8"))
        self._fh.truncate(max(int(offset), header))
        self._fh.seek(0, os.SEEK_END)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> CsvAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------- readers
def read_csv(path: Path, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Rows as dicts of strings ("" = n/a). With `columns`, the header must equal them (else InputError)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if columns is not None and tuple(reader.fieldnames or ()) != tuple(columns):
            raise InputError(
                f"{path}: columns {reader.fieldnames} do not match the schema ({', '.join(columns)})"
            )
        return list(reader)


def read_records(run_dir: Path) -> list[dict[str, str]]:
    return read_csv(Path(run_dir) / RECORDS_FILE, RECORDS_COLUMNS)


def read_archs(run_dir: Path) -> list[dict[str, str]]:
    return read_csv(Path(run_dir) / ARCHS_FILE, ARCHS_COLUMNS)


def read_rank(run_dir: Path) -> list[dict[str, str]]:
    return read_csv(Path(run_dir) / RANK_FILE, RANK_COLUMNS)


def check_schema_version(version: Any, *, where: str = "spec.json") -> int:
    """Return the version if this code can read it; refuse unknown versions with InputError (exit 2)."""
    if not isinstance(version, int) or isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        allowed = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise InputError(f"{where}: schema_version {version!r} is not supported; allowed: {allowed}")
    return version


def migrate_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring an older spec.json document up to SCHEMA_VERSION (no older versions exist yet)."""
    check_schema_version(doc.get("schema_version"))
    return doc


def read_spec(run_dir: Path) -> dict[str, Any]:
    """spec.json of a run directory, schema-checked. InputError when missing, unparsable or of unknown
    version."""
    path = Path(run_dir) / SPEC_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not a run directory (no spec.json)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a JSON object")
    check_schema_version(doc.get("schema_version"), where=str(path))
    return migrate_spec(doc)


def find_run_dirs(root: Path) -> list[Path]:
    """`root` itself if it is a run directory, else every directory below it holding a spec.json (sorted)."""
    root = Path(root)
    if (root / SPEC_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise InputError(f"{root}: no such directory")
    return sorted(p.parent for p in root.rglob(SPEC_FILE) if p.is_file())


def parse_optional_float(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def parse_optional_int(cell: str) -> int | None:
    return None if cell == "" else int(float(cell))
