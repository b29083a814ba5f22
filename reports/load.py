"""Read run directories into pandas DataFrames (design.md section 6).

Why a separate reader instead of `harness.records`: reports must work from the files alone (a results folder
copied to a laptop without torch or the harness installed), so this module knows the schema itself. A test
keeps the column lists below equal to those `harness/records.py` writes, so the two definitions cannot drift
silently.

Unknown values stay unknown: empty CSV cells become NaN here and are printed as "n/a" by `tables`, never as 0.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class RunSet:
    """Everything a report needs, as tidy frames; `archs`, `records`, `rank` start with a `run_id` column;
    `runs` has RUN_COLUMNS then JUDGE_COLUMNS."""

    root: Path
    runs: pd.DataFrame
    archs: pd.DataFrame
    records: pd.DataFrame
    rank: pd.DataFrame

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
        raise RunLoadError(f"{root}: no such directory")
    found = []
    for spec in root.rglob(SPEC_FILE):
        rel = spec.relative_to(root).parts[:-1]
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel):
            continue
        found.append(spec.parent)
    return sorted(found)


def read_spec(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / SPEC_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunLoadError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise RunLoadError(f"{path}: expected a JSON object")
    version = doc.get("schema_version")
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        allowed = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise RunLoadError(
            f"{path}: schema_version {version!r} is not supported by this report reader "
            f"(supported: {allowed})"
        )
    for key in ("run_id", "spec", "status"):
        if key not in doc:
            raise RunLoadError(f"{path}: missing key {key!r}")
    if not isinstance(doc["spec"], dict) or "algorithm" not in doc["spec"]:
        raise RunLoadError(f"{path}: 'spec' must be an object with an 'algorithm'")
    return doc


def _read_table(path: Path, columns: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in numeric else "object") for c in columns})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if tuple(frame.columns) != columns:
        raise RunLoadError(f"{path}: columns {list(frame.columns)} do not match the expected {list(columns)}")
    for col in numeric:
        frame[col] = pd.to_numeric(frame[col], errors="raise")
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
        **judge_facts(doc),
    }
    for frame in (records, archs, rank):
        frame.insert(0, "run_id", run["run_id"])
    return run, archs, records, rank


def load(root: Path) -> RunSet:
    """Load every run under `root`. Raises RunLoadError when there is none or one is unreadable."""
    root = Path(root)
    dirs = discover(root)
    if not dirs:
        raise RunLoadError(f"{root}: no run directories (no spec.json below it)")
    runs, archs, records, rank = [], [], [], []
    for run_dir in dirs:
        run, a, r, k = load_run(run_dir)
        runs.append(run)
        archs.append(a)
        records.append(r)
        rank.append(k)
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
    )
