"""Read run directories into pandas DataFrames (design.md section 6).

Why a separate reader instead of `harness.records`: reports must work from the files alone (a results folder
copied to a laptop without torch or the harness installed), so this module knows the schema itself. A test
keeps the column lists below equal to those `harness/records.py` writes, so the two definitions cannot drift
silently.

Unknown values stay unknown: empty CSV cells become NaN here and are printed as "n/a" by `tables`, never as 0.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (1,)

SPEC_FILE = "spec.json"
RECORDS_FILE = "records.csv"
ARCHS_FILE = "archs.csv"
RANK_FILE = "rank.csv"

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

#: columns of the `runs` frame (one row per run directory)
RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "run_dir",
    "algorithm",
    "variant",
    "space",
    "search_dataset",
    "eval_datasets",
    "seed",
    "preset",
    "status",
    "git_commit",
    "git_dirty",
    "device",
    "device_name",
    "device_kind",
    "data_identity",
    "oracle_sha256",
    "started_at",
    "finished_at",
    "search_cost_s",
    "simulated_cost_s",
    "trained_test_acc_pct",
    "error",
    "precision",
    "rank_scoring",
)

#: what the run's judge and its space said about the final architecture (spec.json provenance.judge and
#: outcome.final_facts). Kept apart from RUN_COLUMNS because data/runs.csv is written with RUN_COLUMNS only, so a
#: report of NB201 runs stays byte-identical to the one written before these columns existed.
JUDGE_COLUMNS: tuple[str, ...] = (
    "judge_name",
    "judge_kind",
    "judge_label",
    "final_params_m",
    "final_surrogate_percentile",
)

#: judge kind of a learned predictor (DARTS space): its numbers are predictions, never measured accuracies
SURROGATE_JUDGE = "surrogate"

#: the algorithm name of training-from-scratch runs (`nas-harness train`): a judge of other runs' finals,
#: never a method row of its own
TRAIN_JOB = "train"

#: cost metrics the runner writes into records.csv (phase = the cost phase)
COST_METRICS: tuple[str, ...] = ("wall_s", "device_s", "epochs", "steps", "images", "forwards", "peak_mem_mb")

#: directory names never searched for runs (a report written inside the run folder)
_SKIP_DIRS = {"report", "artifacts"}


class RunLoadError(ValueError):
    """A run directory cannot be read: no runs, malformed spec.json, unknown schema_version, wrong columns."""


class CorruptRunError(RunLoadError):
    """One run directory's files are truncated or damaged (spec.json not JSON or lacking keys, a CSV cut
    mid-line, not UTF-8 or not in the schema). `load(..., skip_corrupt=True)` leaves such a run out and names
    it in `RunSet.corrupt`; an unknown schema_version is not corruption and always stops the load."""


@dataclass(frozen=True)
class CorruptRun:
    """A run directory left out of a RunSet, and why."""

    run_dir: Path
    reason: str


@dataclass(frozen=True)
class RunSet:
    """Everything a report needs, as tidy frames; `archs`, `records`, `rank` start with a `run_id` column;
    `runs` has RUN_COLUMNS then JUDGE_COLUMNS."""

    root: Path
    runs: pd.DataFrame
    archs: pd.DataFrame
    records: pd.DataFrame
    rank: pd.DataFrame
    #: run directories left out because their files are damaged (only with `load(..., skip_corrupt=True)`)
    corrupt: tuple[CorruptRun, ...] = ()

    @property
    def ok_runs(self) -> pd.DataFrame:
        """Completed search runs (training-from-scratch runs excluded: see `trained_runs`)."""
        return self.runs[(self.runs["status"] == "ok") & (self.runs["algorithm"] != TRAIN_JOB)]

    @property
    def trained_runs(self) -> pd.DataFrame:
        """Completed training-from-scratch runs: space, search_dataset (= the data set trained and tested on)
        and trained_test_acc_pct; the trained architecture is the run's final row in `archs`."""
        return self.runs[(self.runs["status"] == "ok") & (self.runs["algorithm"] == TRAIN_JOB)]


def discover(root: Path) -> list[Path]:
    """Run directories under `root` (or `root` itself), recognised by their spec.json, sorted."""
    root = Path(root)
    if (root / SPEC_FILE).is_file():
        return [root]
    if not root.is_dir():
        what = "not a folder (give a run directory or a folder of runs)" if root.exists() else "no such directory"
        raise RunLoadError(f"{root}: {what}")
    found = []
    for spec in root.rglob(SPEC_FILE):
        rel = spec.relative_to(root).parts[:-1]
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel):
            continue
        found.append(spec.parent)
    return sorted(found)


def _no_constant(name: str) -> Any:
    """NaN / Infinity are not JSON and the harness never writes them: a spec.json holding one is damaged."""
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def read_spec(run_dir: Path) -> dict[str, Any]:
    """spec.json of a run, checked far enough that `load_run` cannot fail on it: CorruptRunError when it is
    unreadable, not UTF-8, not JSON or lacks a key or an object; RunLoadError for an unknown schema_version."""
    path = Path(run_dir) / SPEC_FILE
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except OSError as exc:
        raise CorruptRunError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise CorruptRunError(f"{path}: damaged (byte {exc.start} is not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise CorruptRunError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise CorruptRunError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise CorruptRunError(f"{path}: expected a JSON object")
    version = doc.get("schema_version")
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        allowed = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise RunLoadError(
            f"{path}: schema_version {version!r} is not supported by this report reader "
            f"(supported: {allowed})"
        )
    for key in ("run_id", "spec", "status"):
        if key not in doc:
            raise CorruptRunError(f"{path}: missing key {key!r}")
    if not isinstance(doc["run_id"], str) or not doc["run_id"] or not isinstance(doc["status"], str):
        raise CorruptRunError(f"{path}: 'run_id' and 'status' must be non-empty strings")
    if not isinstance(doc["spec"], dict) or not isinstance(doc["spec"].get("algorithm"), str):
        raise CorruptRunError(f"{path}: 'spec' must be an object with an 'algorithm'")
    for key in ("provenance", "error", "outcome"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise CorruptRunError(f"{path}: {key!r} must be an object or null")
    extras = (doc.get("outcome") or {}).get("extras")
    if extras is not None and not isinstance(extras, dict):
        raise CorruptRunError(f"{path}: 'outcome.extras' must be an object or null")
    evals = doc["spec"].get("eval_datasets")
    if evals is not None and not (isinstance(evals, list) and all(isinstance(e, str) for e in evals)):
        raise CorruptRunError(f"{path}: 'spec.eval_datasets' must be a list of names")
    return doc


def _check_csv(path: Path, data: bytes, columns: tuple[str, ...]) -> str:
    """The text of a run-record CSV, or CorruptRunError when the harness cannot have written it: empty, cut
    mid-line (every row ends with a newline), not UTF-8, unparseable, another header, or a row with another
    number of fields (pandas would silently pad a short row with n/a)."""
    if not data:
        raise CorruptRunError(f"{path}: empty (truncated; every run record starts with its header line)")
    if not data.endswith(b"\n"):
        raise CorruptRunError(f"{path}: truncated (the last line has no newline)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptRunError(f"{path}: damaged (byte {exc.start} is not UTF-8 text)") from None
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, [])
        if tuple(header) != columns:
            shown = repr(header) if len(repr(header)) <= 80 else repr(header)[:77] + "..."
            raise CorruptRunError(f"{path}: columns {shown} do not match the expected {list(columns)}")
        for row in rows:
            if row and len(row) != len(columns):
                raise CorruptRunError(
                    f"{path} line {rows.line_num}: {len(row)} fields, the schema has {len(columns)}"
                )
    except csv.Error as exc:
        raise CorruptRunError(f"{path}: damaged CSV ({exc})") from None
    return text


def _read_table(path: Path, columns: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in numeric else "object") for c in columns})
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptRunError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = _check_csv(path, data, columns)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    for col in numeric:
        try:
            frame[col] = pd.to_numeric(frame[col], errors="raise")
        except (ValueError, TypeError) as exc:
            raise CorruptRunError(f"{path}: column {col} holds a value that is not a number ({exc})") from None
    return frame


def _device_kind(device: str) -> str:
    text = device.lower()
    if text.startswith("cuda") or "gpu" in text or "nvidia" in text:
        return "gpu"
    if text.startswith("cpu"):
        return "cpu"
    return "unknown"


#: the cost phase the runner writes as the search's total (search phases + simulated training, no rank eval)
TOTAL_COST_PHASE = "search_total"
#: oracle-driven baselines: the benchmark's own (GPU) training time of the archs they queried (not measured)
SIMULATED_COST_PHASE = "simulated_train"


def simulated_cost_s(records: pd.DataFrame) -> float:
    """Benchmark training seconds charged to an oracle-driven run (NaN when there are none)."""
    rows = records[(records["metric"] == "device_s") & (records["phase"] == SIMULATED_COST_PHASE)]
    return float(rows["value"].sum()) if not rows.empty else float("nan")


def search_cost_s(records: pd.DataFrame) -> float:
    """Device seconds the search spent on this run's device: the runner's `search_total` cost row minus
    simulated benchmark training (reported separately: it is the benchmark's GPU time, not this device's).

    Fallback for records without it: the sum of top-level cost phases (cost phases nest by name, "stage1/smd",
    and a parent's time includes its children's, so only phases without '/' count), excluding the harness's
    own rank evaluation and per-stage summary rows (phase "stage", which carry a stage number).
    Returns NaN (n/a) when the run wrote no cost rows.
    """
    rows = records[(records["metric"] == "device_s")]
    if rows.empty:
        return float("nan")
    phases = rows["phase"].fillna("")
    total = rows[phases == TOTAL_COST_PHASE]
    simulated = simulated_cost_s(records)
    simulated = 0.0 if simulated != simulated else simulated
    if not total.empty:
        return float(total["value"].iloc[-1]) - simulated
    top = rows[
        ~phases.str.contains("/", regex=False)
        & ~phases.str.startswith("rank_eval")
        & rows["stage"].isna()
        & (phases != SIMULATED_COST_PHASE)
    ]
    return float(top["value"].sum()) if not top.empty else float("nan")


def precision_of(spec: dict[str, Any]) -> str:
    """"bf16" for a run that opted into autocast (`amp=true`), else "fp32"."""
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    return "bf16" if config.get("amp") is True else "fp32"


def rank_scoring_of(spec: dict[str, Any]) -> str:
    """The BN protocol the run's rank-evaluation scores were taken under, in words (runs written before the
    protocol existed scored in each method's native BN mode)."""
    rank = spec.get("rank_eval") if isinstance(spec.get("rank_eval"), dict) else {}
    if rank.get("bn") == "recalibrate":
        return (
            f"BN recalibrated per architecture on {rank.get('calib_images')} training images "
            f"(batches of {rank.get('calib_batch_size')}), then eval mode"
        )
    return "each method's native BN mode"


def _variant(spec: dict[str, Any]) -> str:
    """The label an ablation gives a run; 'default' when it has none."""
    label = spec.get("variant")
    return str(label) if label not in (None, "") else "default"


def _number(value: object) -> float | None:
    """A finite float from a JSON number; None for anything else (absent, text, bool, NaN), so it prints n/a."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def judge_facts(doc: dict[str, Any]) -> dict[str, Any]:
    """JUDGE_COLUMNS of one spec.json: the judge's name/kind/label and the final architecture's facts.

    Old runs have no `provenance.judge` and no `outcome.final_facts`: their values stay None (n/a), never guessed
    from the space name, so a report cannot call an unlabelled number a surrogate prediction or a ground truth.
    """
    judge = (doc.get("provenance") or {}).get("judge") or {}
    facts = (doc.get("outcome") or {}).get("final_facts") or {}
    if not isinstance(judge, dict):
        judge = {}
    if not isinstance(facts, dict):
        facts = {}
    text = {key: (str(judge[key]) if judge.get(key) not in (None, "") else None) for key in ("name", "kind", "label")}
    return {
        "judge_name": text["name"],
        "judge_kind": text["kind"],
        "judge_label": text["label"],
        "final_params_m": _number(facts.get("params_m")),
        "final_surrogate_percentile": _number(facts.get("surrogate_percentile")),
    }


def load_run(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    doc = read_spec(run_dir)
    spec = doc["spec"]
    prov = doc.get("provenance") or {}
    records = _read_table(
        Path(run_dir) / RECORDS_FILE, RECORDS_COLUMNS, ("stage", "child", "epoch", "step", "value")
    )
    archs = _read_table(
        Path(run_dir) / ARCHS_FILE,
        ARCHS_COLUMNS,
        ("stage", "child", "index", "score", "epochs", "gt_acc", "n_seeds"),
    )
    rank = _read_table(Path(run_dir) / RANK_FILE, RANK_COLUMNS, ("n", "value"))
    device = str(prov.get("device") or "unknown")
    error = doc.get("error") or {}
    outcome = doc.get("outcome") or {}
    run = {
        "run_id": str(doc["run_id"]),
        "run_dir": str(run_dir),
        "algorithm": str(spec["algorithm"]),
        "variant": _variant(spec),
        "space": str(spec.get("space", "nb201")),
        "search_dataset": str(spec.get("search_dataset", "")),
        "eval_datasets": ",".join(spec.get("eval_datasets") or ()),
        "seed": spec.get("seed"),
        "preset": spec.get("preset"),
        "status": str(doc["status"]),
        "git_commit": prov.get("git_commit"),
        "git_dirty": prov.get("git_dirty"),
        "device": device,
        "device_name": prov.get("device_name"),
        "device_kind": _device_kind(device),
        "data_identity": prov.get("data_identity"),
        "oracle_sha256": prov.get("oracle_sha256"),
        "started_at": doc.get("started_at"),
        "finished_at": doc.get("finished_at"),
        "search_cost_s": search_cost_s(records),
        "simulated_cost_s": simulated_cost_s(records),
        "trained_test_acc_pct": (outcome.get("extras") or {}).get("trained_test_acc_pct"),
        "error": (f"{error.get('type')}: {error.get('message')}" if error else None),
        "precision": precision_of(spec),
        "rank_scoring": rank_scoring_of(spec),
        **judge_facts(doc),
    }
    for frame in (records, archs, rank):
        frame.insert(0, "run_id", run["run_id"])
    return run, archs, records, rank


def load(root: Path, *, skip_corrupt: bool = False) -> RunSet:
    """Load every run under `root`. Raises RunLoadError when there is none or one is unreadable.

    `skip_corrupt=True` (the report and check commands): a run whose files are damaged is left out and listed in
    `RunSet.corrupt` instead, so one cut-off folder does not stop a report of the others; RunLoadError only when
    no readable run is left. An unknown schema_version and a duplicated run id still stop the load."""
    root = Path(root)
    dirs = discover(root)
    if not dirs:
        raise RunLoadError(f"{root}: no run directories (no spec.json below it)")
    runs, archs, records, rank = [], [], [], []
    corrupt: list[CorruptRun] = []
    for run_dir in dirs:
        try:
            run, a, r, k = load_run(run_dir)
        except CorruptRunError as exc:
            if not skip_corrupt:
                raise
            corrupt.append(CorruptRun(Path(run_dir), str(exc)))
            continue
        runs.append(run)
        archs.append(a)
        records.append(r)
        rank.append(k)
    if not runs:
        raise RunLoadError(
            f"{root}: no readable run directories ({len(corrupt)} corrupt, e.g. {corrupt[0].reason})"
        )
    runs_frame = pd.DataFrame(runs, columns=[*RUN_COLUMNS, *JUDGE_COLUMNS])
    for col in ("final_params_m", "final_surrogate_percentile"):  # all-None (NB201) would stay object dtype
        runs_frame[col] = pd.to_numeric(runs_frame[col]).astype("float64")
    dupes = runs_frame["run_id"][runs_frame["run_id"].duplicated()]
    if not dupes.empty:
        raise RunLoadError(f"{root}: run id {dupes.iloc[0]} appears in more than one directory")
    return RunSet(
        root=root,
        runs=runs_frame.sort_values(
            ["algorithm", "variant", "search_dataset", "seed"], kind="stable"
        ).reset_index(drop=True),
        archs=pd.concat(archs, ignore_index=True),
        records=pd.concat(records, ignore_index=True),
        rank=pd.concat(rank, ignore_index=True),
        corrupt=tuple(corrupt),
    )
