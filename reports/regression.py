"""Regression baselines: write one from a run set, compare a run set against one, and render a readable diff.

Why a baseline holds seed means (not per-run values): a run set may be re-run with the same seeds on another
machine; the mean per (space, search dataset, algorithm, variant) is what a table reports, so it is what CI
guards. Only "worse than tolerance" fails: lower final-arch accuracy, lower Kendall τ, or a search cost above
the ceiling. Values that are n/a in the baseline are not checked; a value present in the baseline but n/a now
fails."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports import aggregate as agg
from reports.atomic import atomic_write_text
from reports.load import RunSet

BASELINE_FORMAT = "nas-harness-baseline"
BASELINE_VERSION = 1
#: acc_pct, tau: absolute drops allowed; cost: ceiling = max(cost * cost_factor, cost + cost_slack_s),
#: the slack keeping second-long smoke costs from failing on a busy machine
DEFAULT_TOLERANCES: dict[str, float] = {
    "acc_pct": 0.01,
    "tau": 0.01,
    "cost_factor": 5.0,
    "cost_slack_s": 60.0,
}


def cost_ceiling(cost_s: float, tol: dict[str, float]) -> float:
    return max(cost_s * tol["cost_factor"], cost_s + tol["cost_slack_s"])


TAU_SELECTOR = {"owner": "all", "eval_dataset": "cifar10", "split": "test", "arch_set": "all"}
ENTRY_KEYS = ("space", "search_dataset", "algorithm", "variant")


class BaselineError(ValueError):
    """The baseline file is missing, not JSON, or not in the expected shape (CLI exit 2)."""


@dataclass(frozen=True)
class Comparison:
    entry: str  # "nb201/cifar10/hepnas/default"
    quantity: str  # "acc cifar10/test", "kendall_tau", "search_cost_s", "runs"
    baseline: float | None
    current: float | None
    limit: float | None
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class CheckResult:
    comparisons: tuple[Comparison, ...]
    tolerances: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: things that do not fail the check but make it weaker (e.g. another seed count than the baseline's)
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.comparisons)

    @property
    def failures(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if not c.ok)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _entry_name(e: dict[str, Any]) -> str:
    return "/".join(str(e[k]) for k in ENTRY_KEYS)


def current_values(rs: RunSet) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per group: n, accuracy means per 'dataset/split', τ mean (TAU_SELECTOR) and search-cost mean."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    ok = rs.ok_runs
    for key, part in ok.groupby(list(ENTRY_KEYS), sort=True):
        out[tuple(str(k) for k in key)] = {
            "n": int(len(part)),
            "accuracy_pct": {},
            "kendall_tau": None,
            "search_cost_s": _num(part["search_cost_s"].mean()),
        }
    acc = agg.final_accuracy(rs)
    for row in acc.itertuples(index=False):
        key = tuple(str(getattr(row, k)) for k in ENTRY_KEYS)
        if key in out and row.n > 0:
            out[key]["accuracy_pct"][f"{row.eval_dataset}/{row.split}"] = _num(row.mean)
    rank = agg.rank_metrics(rs)
    if not rank.empty:
        sel = rank[
            (rank["metric"] == "kendall_tau")
            & (rank["owner"] == TAU_SELECTOR["owner"])
            & (rank["eval_dataset"] == TAU_SELECTOR["eval_dataset"])
            & (rank["split"] == TAU_SELECTOR["split"])
            & (rank["arch_set"] == TAU_SELECTOR["arch_set"])
        ]
        for row in sel.itertuples(index=False):
            key = tuple(str(getattr(row, k)) for k in ENTRY_KEYS)
            if key in out and row.n > 0:
                out[key]["kendall_tau"] = _num(row.mean)
    return out


def make_baseline(rs: RunSet, tolerances: dict[str, float] | None = None) -> dict[str, Any]:
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    entries = []
    for key, values in current_values(rs).items():
        cost = values["search_cost_s"]
        entries.append(
            {
                **dict(zip(ENTRY_KEYS, key, strict=True)),
                "n": values["n"],
                "accuracy_pct": dict(sorted(values["accuracy_pct"].items())),
                "kendall_tau": values["kendall_tau"],
                "search_cost_s": cost,
                "cost_ceiling_s": None if cost is None else cost_ceiling(cost, tol),
            }
        )
    ok = rs.ok_runs
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "about": "Seed means of final-architecture ground-truth accuracy (%), Kendall tau-b "
        f"({TAU_SELECTOR}) and search device seconds per group; `nas-harness check` fails when a run set "
        "is worse than these by more than the tolerances (acc_pct, tau: absolute; cost: above "
        "cost_ceiling_s = max(search_cost_s * cost_factor, search_cost_s + cost_slack_s)). "
        "null = n/a, not checked.",
        "source": {
            "runs": sorted(ok["run_id"].tolist()),
            "git_commits": sorted({str(c) for c in ok["git_commit"].dropna()}),
            "devices": sorted({str(d) for d in ok["device"].dropna()}),
            "presets": sorted({str(p) for p in ok["preset"].dropna()}),
        },
        "tolerances": tol,
        "entries": entries,
    }


def write_baseline(baseline: dict[str, Any], path: Path) -> None:
    """Write the baseline atomically (a failed write leaves the previous baseline whole)."""
    atomic_write_text(Path(path), json.dumps(baseline, indent=2, sort_keys=True, allow_nan=False) + "\n")


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise BaselineError(f"{path}: malformed baseline: {what}")


def _is_num_or_null(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x)))


def read_baseline(path: Path) -> dict[str, Any]:
    """Parse and validate a baseline file; BaselineError (one line) on anything unexpected."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read baseline file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: baseline is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise BaselineError(f"{path}: baseline is not valid JSON (nested too deeply)") from None
    _require(isinstance(doc, dict), path, "expected a JSON object")
    _require(doc.get("format") == BASELINE_FORMAT, path, f"'format' must be {BASELINE_FORMAT!r}")
    _require(
        doc.get("version") == BASELINE_VERSION,
        path,
        f"'version' {doc.get('version')!r} is not supported (supported: {BASELINE_VERSION})",
    )
    tol = doc.get("tolerances")
    _require(
        isinstance(tol, dict) and set(DEFAULT_TOLERANCES) <= set(tol),
        path,
        f"'tolerances' must hold {', '.join(DEFAULT_TOLERANCES)}",
    )
    _require(
        all(_is_num_or_null(tol[k]) and tol[k] is not None and tol[k] >= 0 for k in DEFAULT_TOLERANCES),
        path,
        "tolerances must be non-negative numbers",
    )
    entries = doc.get("entries")
    _require(isinstance(entries, list) and len(entries) > 0, path, "'entries' must be a non-empty list")
    for i, e in enumerate(entries):
        _require(isinstance(e, dict), path, f"entries[{i}] is not an object")
        for k in ENTRY_KEYS:
            _require(isinstance(e.get(k), str), path, f"entries[{i}].{k} must be a string")
        _require(
            isinstance(e.get("accuracy_pct"), dict), path, f"entries[{i}].accuracy_pct must be an object"
        )
        _require(
            all(_is_num_or_null(v) for v in e["accuracy_pct"].values()),
            path,
            f"entries[{i}].accuracy_pct values must be numbers or null",
        )
        for k in ("kendall_tau", "search_cost_s", "cost_ceiling_s"):
            _require(_is_num_or_null(e.get(k)), path, f"entries[{i}].{k} must be a number or null")
        n = e.get("n")
        _require(
            n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 0),
            path,
            f"entries[{i}].n must be a non-negative integer",
        )
    return doc


def is_baseline_file(path: Path) -> bool:
    """True when `path` holds a JSON object in the baseline format (one `baseline -o` may replace); False for
    anything else, which is the user's file and is never overwritten."""
    try:
        doc = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("format") == BASELINE_FORMAT


def parse_tolerances(text: str) -> dict[str, float]:
    """'acc_pct=0.5,tau=0.05,cost_factor=3' (or one number = acc_pct) -> dict; ValueError on a bad item."""
    out: dict[str, float] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, _, value = item.rpartition("=") if "=" in item else ("acc_pct", "=", item)
        name = name.strip()
        if name not in DEFAULT_TOLERANCES:
            raise ValueError(
                f"--tolerance {item!r}: unknown name {name!r}; allowed: {', '.join(DEFAULT_TOLERANCES)}"
            )
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"--tolerance {item!r}: {value!r} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"--tolerance {item!r}: must be a non-negative number")
        out[name] = number
    return out


def check(rs: RunSet, baseline: dict[str, Any], overrides: dict[str, float] | None = None) -> CheckResult:
    tol = {**{k: float(baseline["tolerances"][k]) for k in DEFAULT_TOLERANCES}, **(overrides or {})}
    current = current_values(rs)
    comps: list[Comparison] = []
    for e in baseline["entries"]:
        key = tuple(e[k] for k in ENTRY_KEYS)
        name = _entry_name(e)
        cur = current.get(key)
        if cur is None:
            comps.append(
                Comparison(name, "runs", _num(e.get("n")), None, None, False, "no ok runs for this entry")
            )
            continue
        for quantity, base in sorted(e["accuracy_pct"].items()):
            base = _num(base)
            if base is None:
                continue
            now = cur["accuracy_pct"].get(quantity)
            limit = base - tol["acc_pct"]
            if now is None:
                comps.append(Comparison(name, f"acc {quantity}", base, None, limit, False, "n/a now"))
            else:
                comps.append(Comparison(name, f"acc {quantity}", base, now, limit, now >= limit))
        base_tau = _num(e.get("kendall_tau"))
        if base_tau is not None:
            now = cur["kendall_tau"]
            limit = base_tau - tol["tau"]
            comps.append(
                Comparison(
                    name,
                    "kendall_tau",
                    base_tau,
                    now,
                    limit,
                    now is not None and now >= limit,
                    "" if now is not None else "n/a now",
                )
            )
        base_cost = _num(e.get("search_cost_s"))
        ceiling = _num(e.get("cost_ceiling_s"))
        if overrides and {"cost_factor", "cost_slack_s"} & set(overrides) and base_cost is not None:
            ceiling = cost_ceiling(base_cost, tol)
        if ceiling is not None:
            now = cur["search_cost_s"]
            comps.append(
                Comparison(
                    name,
                    "search_cost_s",
                    base_cost,
                    now,
                    ceiling,
                    now is not None and now <= ceiling,
                    "" if now is not None else "n/a now",
                )
            )
    known = {tuple(e[k] for k in ENTRY_KEYS) for e in baseline["entries"]}
    notes = tuple(f"not in the baseline (not checked): {'/'.join(k)}" for k in current if k not in known)
    return CheckResult(tuple(comps), tol, notes, seed_count_warnings(current, baseline))


def seed_count_warnings(current: dict[tuple[str, ...], dict[str, Any]], baseline: dict[str, Any]) -> tuple[str, ...]:
    """One warning per group whose number of ok runs (seeds) differs from the baseline's: a mean over other
    seeds can pass or fail by chance, so the comparison is weaker than it looks."""
    out = []
    for e in baseline["entries"]:
        cur = current.get(tuple(e[k] for k in ENTRY_KEYS))
        n_base = e.get("n")
        if cur is not None and isinstance(n_base, int) and cur["n"] != n_base:
            out.append(
                f"{_entry_name(e)}: {cur['n']} seed(s) in this run set, {n_base} in the baseline "
                "(means over different seeds are compared)"
            )
    return tuple(out)


def _fmt(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_diff(result: CheckResult) -> str:
    """A fixed-width table: one line per comparison, failing lines marked FAIL, then a summary line."""
    header = f"{'':4}  {'entry':34}  {'quantity':28}  {'baseline':>10}  {'current':>10}  {'limit':>10}  note"
    lines = ["tolerances: " + ", ".join(f"{k}={v:g}" for k, v in result.tolerances.items()), header]
    for c in result.comparisons:
        digits = 4 if c.quantity == "kendall_tau" else 2 if c.quantity != "search_cost_s" else 1
        delta = ""
        if c.baseline is not None and c.current is not None:
            delta = f"(Δ {c.current - c.baseline:+.{digits}f})"
        note = " ".join(x for x in (delta, c.note) if x)
        kind = "min" if c.quantity != "search_cost_s" else "max"
        lines.append(
            f"{'ok' if c.ok else 'FAIL':4}  {c.entry:34}  {c.quantity:28}  {_fmt(c.baseline, digits):>10}  "
            f"{_fmt(c.current, digits):>10}  {kind} {_fmt(c.limit, digits):>6}  {note}"
        )
    lines.extend(result.notes)
    n_fail = len(result.failures)
    lines.append(
        f"{len(result.comparisons) - n_fail} of {len(result.comparisons)} checks ok, {n_fail} worse than "
        "tolerance"
    )
    return "\n".join(lines) + "\n"


def result_json(result: CheckResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "tolerances": result.tolerances,
        "notes": list(result.notes),
        "warnings": list(result.warnings),
        "comparisons": [c.__dict__ for c in result.comparisons],
    }
