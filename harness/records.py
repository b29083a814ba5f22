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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError
from reports.atomic import atomic_path as atomic_path  # re-exported: the one atomic-write implementation
from reports.atomic import atomic_write_bytes as atomic_write_bytes
from reports.atomic import atomic_write_text as atomic_write_text

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
# One implementation for the whole project (reports may not import harness, so it lives in reports.atomic):
# temp file in the target's folder, fsync, os.replace, fsync of the folder; the temp file is removed on failure.
# (imported above: atomic_write_text, atomic_write_bytes, atomic_path)


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
class CorruptRunError(InputError):
    """A run directory's file is truncated, damaged or not in the schema (`status` shows the run as `corrupt`;
    `report` and `check` leave it out with a warning). Unknown schema versions are not corruption: they raise a
    plain InputError."""


#: columns that hold numbers (an empty cell = n/a) and their kind; any other text there means the file is damaged
RECORDS_NUMERIC: dict[str, type] = {"stage": int, "child": int, "epoch": int, "step": int, "value": float}
ARCHS_NUMERIC: dict[str, type] = {
    "stage": int,
    "child": int,
    "index": int,
    "score": float,
    "epochs": int,
    "gt_acc": float,
    "n_seeds": int,
}
RANK_NUMERIC: dict[str, type] = {"n": int, "value": float}


def read_csv(
    path: Path,
    columns: Sequence[str] | None = None,
    *,
    numeric: Mapping[str, type] | None = None,
    partial_tail_ok: bool = False,
) -> list[dict[str, str]]:
    """Rows as dicts of strings ("" = n/a); a missing file has no rows.

    With `columns` the file is a run record, and anything the harness would never write raises CorruptRunError
    naming the file: bytes that are not UTF-8, a header other than `columns`, a row with another number of
    fields, a cell of a `numeric` column that is not a number of its kind (int or float), or a last line
    without its newline (every row is written whole, so a missing newline means the file was cut).
    `partial_tail_ok` drops an unfinished last line instead: a live writer may be in the middle of it."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptRunError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if columns is not None and partial_tail_ok:
        data = data[: data.rfind(b"\n") + 1]
        if not data:
            return []
    elif columns is not None and not data:
        raise CorruptRunError(f"{path}: empty (truncated; every run record starts with its header line)")
    elif columns is not None and not data.endswith(b"\n"):
        raise CorruptRunError(f"{path}: truncated (the last line has no newline)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptRunError(f"{path}: damaged (byte {exc.start} is not UTF-8 text)") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CorruptRunError(f"{path}: damaged CSV ({exc})") from None
    header = rows[0] if rows else []
    if columns is None:
        return [dict(zip(header, r, strict=False)) for r in rows[1:] if r]
    if tuple(header) != tuple(columns):
        raise CorruptRunError(
            f"{path}: columns {_short(header, 80)} do not match the schema ({', '.join(columns)})"
        )
    check = [(i, c, numeric[c]) for i, c in enumerate(columns) if c in (numeric or {})]
    out: list[dict[str, str]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(columns):
            raise CorruptRunError(f"{path} line {line}: {len(row)} fields, the schema has {len(columns)}")
        for i, name, kind in check:
            if row[i] != "" and not _is_number(row[i], kind):
                what = "an integer" if kind is int else "a number"
                raise CorruptRunError(f"{path} line {line}: {name} {_short(row[i])} is not {what}")
        out.append(dict(zip(columns, row, strict=True)))
    return out


def _is_number(cell: str, kind: type) -> bool:
    """`cell` parses as a float; for `int` also finite and integral ("3" or "3.0", as parse_optional_int reads)."""
    try:
        value = float(cell)
    except ValueError:
        return False
    return kind is not int or value.is_integer()


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_records(run_dir: Path, *, partial_tail_ok: bool = False) -> list[dict[str, str]]:
    return read_csv(
        Path(run_dir) / RECORDS_FILE, RECORDS_COLUMNS, numeric=RECORDS_NUMERIC, partial_tail_ok=partial_tail_ok
    )


def read_archs(run_dir: Path) -> list[dict[str, str]]:
    return read_csv(Path(run_dir) / ARCHS_FILE, ARCHS_COLUMNS, numeric=ARCHS_NUMERIC)


def read_rank(run_dir: Path) -> list[dict[str, str]]:
    return read_csv(Path(run_dir) / RANK_FILE, RANK_COLUMNS, numeric=RANK_NUMERIC)


CHECKPOINT_MANIFEST = "artifacts/checkpoints.json"  # written by harness.context (byte length of records.csv)


def resume_point(run_dir: Path) -> str:
    """Where a resume of this (unfinished) run starts, in words: the newest checkpoint and the last epoch logged
    before it (from records.csv, cut at the byte length the checkpoint recorded), or "the start"."""
    try:
        manifest = json.loads((Path(run_dir) / CHECKPOINT_MANIFEST).read_text(encoding="utf-8"))
        name, entry = max(manifest.items(), key=lambda kv: float(kv[1].get("saved_at", 0.0)))
        head = (Path(run_dir) / RECORDS_FILE).read_bytes()[: int(entry["records_bytes"])].decode("utf-8")
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return "the start (no checkpoint)"
    rows = list(csv.DictReader(io.StringIO(head)))
    last = next((r for r in reversed(rows) if r.get("epoch") not in (None, "")), None)
    if last is None:
        return f"checkpoint {name!r}"
    where = " ".join(f"{k} {last[k]}" for k in ("stage", "child") if last.get(k) not in (None, ""))
    return f"checkpoint {name!r}, after {last.get('phase')} epoch {last['epoch']}" + (f" ({where})" if where else "")


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
    """spec.json of a run directory, schema-checked. InputError when missing or of unknown version;
    CorruptRunError (an InputError) when unreadable, not UTF-8, not JSON or not an object."""
    path = Path(run_dir) / SPEC_FILE
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise InputError(f"{path}: not a run directory (no spec.json)") from None
    except OSError as exc:
        raise CorruptRunError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise CorruptRunError(f"{path}: damaged (byte {exc.start} is not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise CorruptRunError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except _NonJsonConstant as exc:
        raise CorruptRunError(f"{path}: not valid JSON ({exc} is not a JSON value)") from None
    except RecursionError:
        raise CorruptRunError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise CorruptRunError(f"{path}: expected a JSON object")
    check_schema_version(doc.get("schema_version"), where=str(path))
    return migrate_spec(doc)


class _NonJsonConstant(ValueError):
    pass


def _no_constant(name: str) -> Any:
    """NaN / Infinity are not JSON and the harness never writes them (allow_nan=False): refuse them on read."""
    raise _NonJsonConstant(name)


#: spec.json keys every run has (the runner writes them first, before any other file)
REQUIRED_SPEC_KEYS: tuple[str, ...] = ("run_id", "spec", "status")
#: spec.json keys that, when present and not null, must be JSON objects
OBJECT_SPEC_KEYS: tuple[str, ...] = ("provenance", "error", "outcome", "resume")


def validate_run_spec(doc: Mapping[str, Any], path: Path) -> None:
    """CorruptRunError naming the first key a readable run's spec.json lacks or holds in the wrong type (a file
    edited by hand or written by something else), so that readers never fail later on a `.get` of a list."""
    for key in REQUIRED_SPEC_KEYS:
        if key not in doc:
            raise CorruptRunError(f"{path}: missing key {key!r}")
    if not isinstance(doc["run_id"], str) or not doc["run_id"]:
        raise CorruptRunError(f"{path}: 'run_id' must be a non-empty string")
    if doc["status"] not in STATUSES:
        raise CorruptRunError(f"{path}: status {_short(doc['status'])} is not one of {', '.join(STATUSES)}")
    spec = doc["spec"]
    if not isinstance(spec, dict) or not isinstance(spec.get("algorithm"), str):
        raise CorruptRunError(f"{path}: 'spec' must be an object with an 'algorithm' string")
    for key in OBJECT_SPEC_KEYS:
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise CorruptRunError(f"{path}: {key!r} must be an object or null")
    judge = (doc.get("provenance") or {}).get("judge")
    if judge is not None and not isinstance(judge, dict):
        raise CorruptRunError(f"{path}: 'provenance.judge' must be an object or null")
    extras = (doc.get("outcome") or {}).get("extras")
    if extras is not None and not isinstance(extras, dict):
        raise CorruptRunError(f"{path}: 'outcome.extras' must be an object or null")


def read_run_spec(run_dir: Path) -> dict[str, Any]:
    """`read_spec` plus `validate_run_spec`: the spec.json of a run that readers can summarise."""
    doc = read_spec(run_dir)
    validate_run_spec(doc, Path(run_dir) / SPEC_FILE)
    return doc


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
    """An int from a numeric cell ("3" or "3.0"); None for an empty one."""
    return None if cell == "" else int(float(cell))
