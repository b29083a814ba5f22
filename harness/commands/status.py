"""`nas-harness status DIR [--json]`: one run directory, or every run below DIR, summarised.

Per run: status (a "running" run whose writer is gone shows "incomplete"), algorithm, seed, final architecture and
what the space's judge says of it (ground truth, or a surrogate's prediction, always with its label), the test
accuracy a `train` run measured, search cost, and per stage the number of children, the pick and the remaining
space. The stage summary is derived from archs.csv (child / stage_pick rows) and records.csv (remaining_space rows);
it is not stored twice. Unknown values print "n/a" (JSON null).
"""

from __future__ import annotations

import argparse
import json
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
    return None if cell in (None, "") else float(cell)


def summarize(run_dir: Path) -> dict[str, Any]:
    """The status object of one run directory (keys: run_id, algorithm, seed, status, final_arch,
    final_ground_truth, cost, stages, plus preset, variant, search_dataset, run_dir, error)."""
    from harness import records
    from harness.runner import run_status

    doc = records.read_spec(run_dir)
    spec = doc.get("spec") or {}
    archs = records.read_archs(run_dir)
    recs = records.read_records(run_dir)
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
        if row["role"] in ("child", "stage_pick") and row["stage"] != "":
            s = int(row["stage"])
            stage_ids.add(s)
            if row["role"] == "child" and row["child"] != "":
                children.setdefault(s, set()).add(int(row["child"]))
            if row["role"] == "stage_pick" and row["child"] != "":
                picks[s] = int(row["child"])
    remaining: dict[int, float | None] = {}
    for r in recs:
        if (
            r["phase"] == "stage"
            and r["metric"] == "remaining_space"
            and r["child"] == ""
            and r["stage"] != ""
        ):
            remaining[int(r["stage"])] = _f(r["value"])
            stage_ids.add(int(r["stage"]))
    stages = [
        {
            "stage": s,
            "children": len(children.get(s, ())),
            "pick": picks.get(s),
            "remaining_space": None if remaining.get(s) is None else int(remaining[s]),
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
        "status": run_status(run_dir),
        "final_arch": final_arch,
        "final_ground_truth": gt,
        "judge": {"name": judge.get("name"), "kind": judge.get("kind"), "label": judge.get("label")},
        "trained_test_acc_pct": extras.get("trained_test_acc_pct"),
        "cost": cost,
        "stages": stages,
        "preset": spec.get("preset"),
        "variant": spec.get("variant", ""),
        "search_dataset": spec.get("search_dataset"),
        "run_dir": str(run_dir),
        "error": None if error is None else f"{error.get('type')}: {error.get('message')}",
    }


def _na(value: Any, fmt: str = "{}") -> str:
    return "n/a" if value is None else fmt.format(value)


def format_text(s: dict[str, Any]) -> str:
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
        f"  search wall={_na(cost.get('wall_s'), '{:.1f}')}s epochs={_na(cost.get('epochs'), '{:g}')}"
    ]
    for st in s["stages"]:
        lines.append(
            f"    stage {st['stage']}: children={st['children']} pick={_na(st['pick'])} "
            f"remaining_space={_na(st['remaining_space'])}"
        )
    if s["error"]:
        lines.append(f"    error: {s['error']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from harness import records
    from harness.errors import InputError

    if not args.dir.exists():
        raise InputError(f"{args.dir}: no such directory")
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
