"""`nas-harness status DIR [--json]`: one run directory, or every run below DIR, summarised.

Per run: status (a "running" run whose writer is gone shows "incomplete"), algorithm, seed, final architecture and
what the space's judge says of it (ground truth, or a surrogate's prediction, always with its label), the test
accuracy a `train` run measured, search cost, and per stage the number of children, the pick and the remaining
space. The stage summary is derived from archs.csv (child / stage_pick rows) and records.csv (remaining_space rows);
it is not stored twice. Unknown values print "n/a" (JSON null).

A run whose files are truncated or damaged (spec.json not JSON or lacking keys, a CSV cut mid-line or not in the
schema) shows as "corrupt" with the reason, never as ok: the listing goes on, so one damaged folder does not hide
the others. Each run's folder is printed, so a damaged one can be found and removed or re-run.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "status",
        help="summarise a run directory (or every run below a directory)",
        description="Status, final architecture + ground truth, cost and stages of runs.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="a run directory or a folder of runs")
    p.add_argument("--json", action="store_true", help="a JSON list of objects, one per run")
    p.set_defaults(func=run)


def _f(cell: str | None) -> float | None:
    """A float from a (validated) numeric cell; None (n/a) when empty or not finite, so JSON output stays JSON."""
    if cell in (None, ""):
        return None
    value = float(cell)
    return value if math.isfinite(value) else None


def _num(value: Any) -> float | None:
    """A finite number from a spec.json value; None for anything else (text, bool, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


#: status of a run directory whose files are truncated or damaged
CORRUPT = "corrupt"


def summarize(run_dir: Path) -> dict[str, Any]:
    """The status object of one run directory (keys: run_id, algorithm, seed, status, final_arch,
    final_ground_truth, cost, stages, plus preset, variant, search_dataset, run_dir, error). A damaged run gets
    status "corrupt" and the reason in `error`; a spec.json of an unknown schema version raises InputError."""
    from harness import records
    from harness.runner import run_status

    try:
        doc = records.read_run_spec(run_dir)
        status = run_status(run_dir)
        archs = records.read_archs(run_dir)
        recs = records.read_records(run_dir, partial_tail_ok=status == "running")  # a live writer appends
        records.read_rank(run_dir)  # not summarised, but a damaged rank.csv makes the run unusable for reports
    except records.CorruptRunError as exc:
        return corrupt_summary(run_dir, str(exc))
    return _summary(run_dir, doc, status, archs, recs)


def corrupt_summary(run_dir: Path, reason: str) -> dict[str, Any]:
    """The status object of a damaged run: every value n/a except status, folder and the reason."""
    return {
        "run_id": None,
        "algorithm": None,
        "seed": None,
        "status": CORRUPT,
        "final_arch": None,
        "final_ground_truth": {},
        "judge": {"name": None, "kind": None, "label": None},
        "trained_test_acc_pct": None,
        "cost": {},
        "stages": [],
        "preset": None,
        "variant": "",
        "search_dataset": None,
        "run_dir": str(run_dir),
        "error": reason,
    }


def _summary(
    run_dir: Path, doc: dict[str, Any], status: str, archs: list[dict[str, str]], recs: list[dict[str, str]]
) -> dict[str, Any]:
    from harness.records import parse_optional_int

    spec = doc.get("spec") or {}
    final_arch = None
    gt: dict[str, dict[str, float | None]] = {}
    for row in archs:
        if row["role"] == "final":
            final_arch = row["arch"] or None
            if row["eval_dataset"]:
                gt.setdefault(row["eval_dataset"], {})[row["split"]] = _f(row["gt_acc"])
    if final_arch is None and doc.get("outcome"):
        final_arch = doc["outcome"].get("final_arch")
    cost = {r["metric"]: _f(r["value"]) for r in recs if r["phase"] == "search_total"}
    stage_ids: set[int] = set()
    children: dict[int, set[int]] = {}
    picks: dict[int, int] = {}
    for row in archs:
        stage = parse_optional_int(row["stage"])
        if row["role"] in ("child", "stage_pick") and stage is not None:
            stage_ids.add(stage)
            child = parse_optional_int(row["child"])
            if row["role"] == "child" and child is not None:
                children.setdefault(stage, set()).add(child)
            if row["role"] == "stage_pick" and child is not None:
                picks[stage] = child
    remaining: dict[int, float | None] = {}
    for r in recs:
        if (
            r["phase"] == "stage"
            and r["metric"] == "remaining_space"
            and r["child"] == ""
            and r["stage"] != ""
        ):
            stage = int(float(r["stage"]))
            remaining[stage] = _f(r["value"])
            stage_ids.add(stage)
    stages = [
        {
            "stage": s,
            "children": len(children.get(s, ())),
            "pick": picks.get(s),
            "remaining_space": _int_or_none(remaining.get(s)),
        }  # type: ignore[arg-type]
        for s in sorted(stage_ids)
    ]
    error = doc.get("error") or None
    judge = (doc.get("provenance") or {}).get("judge") or {}
    extras = (doc.get("outcome") or {}).get("extras") or {}
    return {
        "run_id": doc.get("run_id"),
        "algorithm": spec.get("algorithm"),
        "seed": spec.get("seed"),
        "status": status,
        "final_arch": final_arch,
        "final_ground_truth": gt,
        "judge": {"name": judge.get("name"), "kind": judge.get("kind"), "label": judge.get("label")},
        "trained_test_acc_pct": _num(extras.get("trained_test_acc_pct")),
        "cost": cost,
        "stages": stages,
        "preset": spec.get("preset"),
        "variant": spec.get("variant", ""),
        "search_dataset": spec.get("search_dataset"),
        "run_dir": str(run_dir),
        "error": None if error is None else f"{error.get('type')}: {error.get('message')}",
        "resumes_from": None if status == "ok" else _resume_point(run_dir),
    }


def _resume_point(run_dir: Path) -> str:
    from harness.records import resume_point

    return resume_point(run_dir)


def _int_or_none(value: float | None) -> int | None:
    """A count from a float cell; None (n/a) when absent or not finite."""
    return None if value is None or not math.isfinite(value) else int(value)


def _na(value: Any, fmt: str = "{}") -> str:
    return "n/a" if value is None else fmt.format(value)


def format_text(s: dict[str, Any]) -> str:
    """One line per run (ending with its folder), then one per stage and the error, if any."""
    if s["status"] == CORRUPT:
        return f"{_na(s['run_id'])}  {CORRUPT}  dir={s['run_dir']}\n    error: {s['error']}"
    gt = s["final_ground_truth"]
    gt_text = (
        " ".join(
            f"{ds}:{split}={_na(v, '{:.2f}')}"
            for ds, splits in gt.items()
            for split, v in sorted(splits.items())
        )
        or "gt=n/a"
    )
    judge = s.get("judge") or {}
    if judge.get("kind") == "surrogate" and gt:
        gt_text = f"{gt_text} [{judge.get('label')}]"
    if s.get("trained_test_acc_pct") is not None:
        gt_text = f"trained test_acc={s['trained_test_acc_pct']:.2f}  {gt_text}"
    cost = s["cost"]
    lines = [
        f"{s['run_id']}  {s['algorithm']}  seed={s['seed']}  {s['status']}  "
        f"final={_na(s['final_arch'])}  {gt_text}"
        f"  search wall={_na(cost.get('wall_s'), '{:.1f}s')} epochs={_na(cost.get('epochs'), '{:g}')}"
        f"  dir={s['run_dir']}"
    ]
    for st in s["stages"]:
        lines.append(
            f"    stage {st['stage']}: children={st['children']} pick={_na(st['pick'])} "
            f"remaining_space={_na(st['remaining_space'])}"
        )
    if s["error"]:
        lines.append(f"    error: {s['error']}")
    if s.get("resumes_from"):
        lines.append(f"    a re-run resumes from {s['resumes_from']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from harness import records
    from harness.errors import InputError

    if not args.dir.exists():
        raise InputError(f"{args.dir}: no such directory")
    if not args.dir.is_dir():
        raise InputError(f"{args.dir} is a file; give a run directory or a folder of runs")
    dirs = records.find_run_dirs(args.dir)
    if not dirs:
        raise InputError(f"{args.dir}: no run directories (no spec.json) found")
    summaries = [summarize(d) for d in dirs]
    if args.json:
        print(json.dumps(summaries, indent=2, allow_nan=False))
    else:
        for s in summaries:
            print(format_text(s))
    return 0
