"""`--dry-run` of run / compare / ablate: what each planned run would be, resolved in full, before any work.

Why: a user about to spend GPU-days must be able to see the method config, data protocol, precision, variant,
rank-scoring protocol and judge of every run (and diff two plans) without starting one. Nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import registry
from harness.api import protocol_split
from harness.config import RunSpec, to_jsonable


def _departures(config: Any, defaults: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every Config field that differs from the algorithm's own default."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value, default = getattr(config, f.name), getattr(defaults, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(_departures(value, default, f"{prefix}{f.name}."))
        elif value != default:
            out[prefix + f.name] = to_jsonable(value)
    return out


def plan_entry(spec: RunSpec, root: Path) -> dict[str, Any]:
    """The fully resolved plan of one run (JSON-safe)."""
    from harness.runner import run_dir_for
    from harness.spaces import get_space

    cfg = spec.config
    judge = get_space(spec.space).judge
    protocol = getattr(cfg, "data_protocol", None)
    rank = spec.rank_eval.to_dict()
    return {
        "run_id": spec.run_id,
        "run_dir": str(run_dir_for(spec, root)),
        "algorithm": spec.algorithm,
        "seed": spec.seed,
        "variant": spec.variant,
        "space": spec.space,
        "search_dataset": spec.search_dataset,
        "preset": spec.preset,
        "device": spec.device,
        "precision": "bf16 autocast (amp=true)" if getattr(cfg, "amp", False) else "fp32",
        "data": {
            **spec.data.to_dict(spec.search_dataset),
            "protocol": protocol,
            "split": protocol_split(protocol) if protocol else spec.data.split,
            "root": spec.data_root,
        },
        "rank_eval": rank,
        "judge": {"name": judge.name, "kind": judge.kind, "label": judge.label},
        "differs_from_defaults": _departures(cfg, registry.algorithm_config_class(spec.algorithm)()),
        "config": to_jsonable(cfg),
    }


def _projection(specs: Sequence[RunSpec]) -> tuple[list[Any], dict[Any, float]]:
    """Projected search cost of every run whose algorithm declares a `work_plan` (harness.projection)."""
    import sys

    import torch

    from harness.projection import project, protocol_sizes
    from harness.spaces import get_space

    if specs:
        torch.set_num_threads(specs[0].threads)  # time steps with the threads the runs will get
    runs = []
    for spec in specs:
        cls = registry.resolve_algorithm(spec.algorithm)
        work_plan = getattr(cls, "work_plan", None)
        if work_plan is None:
            continue
        cfg, space = spec.config, get_space(spec.space)
        if spec.data.source == "synthetic":
            sizes = spec.data.synthetic_sizes
        else:
            protocol = getattr(cfg, "data_protocol", None)
            split = protocol_split(protocol) if protocol else spec.data.split
            sizes = protocol_sizes(spec.search_dataset, split, spec.data.n_weight, spec.data.n_held_out)
        items = work_plan(cfg, space, *sizes)
        amp = bool(getattr(cfg, "amp", False))
        runs.append((spec.algorithm, spec.seed, items, space.one_shot, cfg.supernet.C, cfg.supernet.N, amp))
    return project(runs, log=lambda line: print(line, file=sys.stderr, flush=True))


def print_plan(specs: Sequence[RunSpec], root: Path, *, as_json: bool, projection: bool = False) -> int:
    """Print the plan (one line per run, or the JSON list with --json), then with `projection` the projected
    search cost from measured step times; exit code 0."""
    entries = [plan_entry(spec, root) for spec in specs]
    projections, measured = _projection(specs) if projection else ([], {})
    if as_json:
        by_run = {(p.algorithm, p.seed): p for p in projections}
        for e in entries:
            p = by_run.get((e["algorithm"], e["seed"]))
            if p is not None:
                e["projection"] = {
                    "cpu_hours": p.hours("CPU"),
                    "gpu_hours": p.hours("GPU"),
                    "items": [
                        {**dataclasses.asdict(item), "step_s": {d: t[i] for d, t in p.step_s.items()}}
                        for i, item in enumerate(p.items)
                    ],
                }
        print(json.dumps(entries, indent=2, allow_nan=False))
        return 0
    for e in entries:
        departures = ", ".join(f"{k}={v}" for k, v in e["differs_from_defaults"].items()) or "defaults"
        print(
            f"{e['run_id']}  {e['algorithm']}  seed={e['seed']}  {e['variant'] or '-'}  {e['precision']}  "
            f"data={e['data']['split']}  rank_bn={e['rank_eval']['bn']}  [{departures}]  -> {e['run_dir']}"
        )
    if projections:
        from harness.projection import format_projection

        print(format_projection(projections, measured))
    return 0
