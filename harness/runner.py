"""Execute resolved runs: lock, provenance, seed, cost meter, context, search, ground-truth join, rank
evaluation, records; failures recorded, completed runs skipped, killed runs redone or resumed.

Public API (used by the `search`, `run`, `ablate` and `compare` commands):

    execute(spec: RunSpec, out_dir: Path, *, show_progress: bool | None = None) -> RunResult
        Run `spec` with `out_dir` AS the run directory. Skips (RunResult.skipped = True) when out_dir already
        holds a completed run with the same run_id; InputError when it holds a different run or a live writer.
    run_dir_for(spec: RunSpec, root: Path) -> Path                       # root/<algorithm>/<run_id>
    run_specs(specs: Sequence[RunSpec], root: Path, *, show_progress=None, executor="local", jobs=1,
              ray_address=None) -> list[RunResult]
        Each spec into run_dir_for(spec, root), completed runs skipped: one after another in this process, or on a
        process pool / Ray (harness.executor). Each run computes with its spec's torch thread count.
    expand_grid(points: Iterable[GridPoint], *, space, search_dataset="cifar10", preset="smoke",
                eval_datasets=DATASETS, set_overrides={}, data={}, rank_eval={}, device=None,
                data_root=None) -> list[RunSpec]
        GridPoint(algorithm, seed, config={dotted key: TOML-typed value}, variant="") from harness.config.
    run_grid(points, root, **expand_grid_kwargs) -> list[RunResult]  # expand_grid + run_specs
    run_status(run_dir: Path) -> str      # ok | failed | interrupted | running | incomplete (dead "running")

Run directory (design.md section 6, schema in harness.records): spec.json first with status "running" and
replaced atomically at the end (ok | failed with error {type, message, traceback} | interrupted); records.csv
(algorithm logs, stage rows, cost rows); archs.csv (final, stage_pick, child, candidate, rank_eval rows, with
the space judge's value for each of its targets: NB201 ground truth for every eval dataset x {valid, test} at
200 epochs, seed mean; the DARTS surrogate's CIFAR-10 valid prediction, its label in spec.json's provenance);
rank.csv (SupernetScorer in an enumerable space with a judge); artifacts/.

The run's space is resolved here (`harness.spaces.get_space(spec.space)`) and handed to the algorithm as an
object. Its judge (a benchmark table, a surrogate, or none) is asked here and only here; an algorithm gets the
benchmark oracle through ctx.oracle only if it declares `uses_oracle = True` (the runner then charges its
simulated training time, table train time per epoch x epochs, as phase "simulated_train"). torch is imported
lazily (inside `execute`), so `status` stays fast.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import socket
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import provenance, rank_eval, records, registry
from harness.config import DATASETS, GridPoint, RunSpec, build_run_spec
from harness.errors import InputError
from harness.spaces import get_space


@dataclass(frozen=True)
class RunResult:
    run_id: str
    run_dir: Path
    status: str  # ok | failed | interrupted
    skipped: bool = False  # a completed run with the same id was already there
    error: Mapping[str, str] | None = None
    final_arch: str | None = None


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed but not yet reaped by its parent) is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def read_lock(run_dir: Path) -> dict[str, Any] | None:
    """{"pid", "host", "alive"} of the lock holder, or None when unlocked."""
    path = Path(run_dir) / records.LOCK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    try:
        pid = int(fields.get("pid", "0"))
    except ValueError:
        pid = 0
    host = fields.get("host", "")
    alive = _pid_alive(pid) if host == socket.gethostname() else True  # another host: assume alive
    return {"pid": pid, "host": host, "alive": alive}


def _acquire_lock(run_dir: Path) -> Path:
    path = run_dir / records.LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_lock(run_dir)
            if holder is not None and holder["alive"]:
                raise InputError(
                    f"{run_dir} is locked by a running process (pid {holder['pid']} on {holder['host']}); "
                    f"wait for it or remove {path} if that process is gone"
                ) from None
            try:  # stale lock of a dead writer: take over
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"pid={os.getpid()} host={socket.gethostname()} since={_now()}\n")
        return path
    raise InputError(f"{run_dir}: could not take the lock {path}")


# --------------------------------------------------------------------------------------------- status
def run_status(run_dir: Path) -> str:
    """Status of a run directory; a "running" run whose writer is gone is "incomplete"."""
    doc = records.read_spec(run_dir)
    status = str(doc.get("status"))
    if status == "running":
        holder = read_lock(run_dir)
        return "running" if holder is not None and holder["alive"] else "incomplete"
    return status


def run_dir_for(spec: RunSpec, root: Path) -> Path:
    return Path(root) / spec.algorithm / spec.run_id


# -------------------------------------------------------------------------------------------- execute
def execute(spec: RunSpec, out_dir: Path, *, show_progress: bool | None = None) -> RunResult:
    """Run `spec` into `out_dir` (the run directory itself). See the module docstring."""
    run_dir = Path(out_dir)
    run_id = spec.run_id
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} is a file; --out must name a folder for the run")
    foreign = run_dir.is_dir() and any(p.name != records.LOCK_FILE for p in run_dir.iterdir())
    if foreign and not (run_dir / records.SPEC_FILE).exists():
        raise InputError(
            f"{run_dir} holds files that are not a nas-harness run (no {records.SPEC_FILE}); "
            "choose a new or empty folder"
        )
    from harness import train

    train.resolve_device(spec.device)  # InputError (e.g. no CUDA) before anything is written
    existing = next(p for p in (run_dir, *run_dir.parents) if p.exists())
    run_dir.mkdir(parents=True, exist_ok=True)
    discard = False
    try:
        previous = _previous_spec(run_dir, run_id)
        if previous is not None and previous.get("status") == "ok":
            return _skipped(run_dir, previous)
        lock = _acquire_lock(run_dir)
        try:
            previous = _previous_spec(run_dir, run_id)  # re-read under the lock
            if previous is not None and previous.get("status") == "ok":
                return _skipped(run_dir, previous)
            try:
                return _execute_locked(spec, run_dir, run_id, previous, show_progress)
            except InputError:
                discard = previous is None  # a fresh run that failed an input check leaves nothing behind
                raise
        finally:
            lock.unlink(missing_ok=True)
    finally:
        if discard:
            _discard_fresh_run(run_dir, existing)


_RUN_FILES = (records.SPEC_FILE, records.RECORDS_FILE, records.ARCHS_FILE, records.RANK_FILE)


def _discard_fresh_run(run_dir: Path, keep: Path) -> None:
    """Remove what a fresh run that failed an input check wrote (its run files, an empty artifacts folder) and
    the folders this execute created, up to `keep` (the nearest folder that existed before). Nothing else."""
    for name in _RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    artifacts = run_dir / "artifacts"
    if artifacts.is_dir() and not any(artifacts.iterdir()):
        artifacts.rmdir()
    folder = run_dir
    while folder != keep and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _only_failed_input_check(run_dir: Path, doc: Mapping[str, Any]) -> bool:
    """A run folder holding nothing but a run that failed its input checks (no records, no artifacts)."""
    if doc.get("status") != "failed" or (doc.get("error") or {}).get("type") != "InputError":
        return False
    for path in run_dir.iterdir():
        if path.name == records.LOCK_FILE or (path.name == "artifacts" and path.is_dir() and not any(path.iterdir())):
            continue
        if path.name == records.SPEC_FILE:
            continue
        if path.name == records.RECORDS_FILE and path.stat().st_size <= len(",".join(records.RECORDS_COLUMNS)) + 2:
            continue
        return False
    return True


def _skipped(run_dir: Path, doc: Mapping[str, Any]) -> RunResult:
    final = (doc.get("outcome") or {}).get("final_arch")
    return RunResult(str(doc["run_id"]), run_dir, "ok", skipped=True, final_arch=final)


def _previous_spec(run_dir: Path, run_id: str) -> dict[str, Any] | None:
    if not (run_dir / records.SPEC_FILE).exists():
        return None
    doc = records.read_spec(run_dir)
    if doc.get("run_id") != run_id and _only_failed_input_check(run_dir, doc):
        _discard_fresh_run(run_dir, run_dir)  # an earlier version left it; it holds no work
        return None
    if doc.get("run_id") != run_id:
        raise InputError(
            f"{run_dir} already holds run {doc.get('run_id')} ({(doc.get('spec') or {}).get('algorithm')}); "
            f"this spec is run {run_id}: choose another --out directory"
        )
    return doc


def _execute_locked(
    spec: RunSpec, run_dir: Path, run_id: str, previous: Mapping[str, Any] | None, show_progress: bool | None
) -> RunResult:
    for name in (records.ARCHS_FILE, records.RANK_FILE):  # derived files are rewritten at the end
        (run_dir / name).unlink(missing_ok=True)
    resume = previous is not None
    if resume:
        print(f"resuming run {run_id} in {run_dir} from {records.resume_point(run_dir)}", file=sys.stderr)
    if not resume:
        (run_dir / records.RECORDS_FILE).unlink(missing_ok=True)
    attempt = int(((previous or {}).get("resume") or {}).get("attempt", 0)) + 1
    judge = get_space(spec.space).judge
    doc: dict[str, Any] = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run_id,
        "spec": spec.spec_dict(),
        "provenance": {
            **provenance.collect(spec.device),
            "oracle_sha256": judge.sha256,
            "judge": {"name": judge.name, "kind": judge.kind, "label": judge.label, "sha256": judge.sha256},
            "data_identity": None,
            "rank_eval_sha256": None,
            "overrides": dict(spec.overrides),
            "requested_device": spec.device,
            "data_root": spec.data_root,
        },
        "status": "running",
        "started_at": _now(),
        "finished_at": None,
        "error": None,
        "resume": {"attempt": attempt, "last_checkpoint": None, "records_bytes": None},
        "outcome": None,
    }
    records.atomic_write_json(run_dir / records.SPEC_FILE, doc)
    ctx = None
    import torch

    threads_before = torch.get_num_threads()
    torch.set_num_threads(spec.threads)  # the spec's thread count (part of its id): results depend on it on CPU
    try:
        ctx, outcome = _run(spec, run_dir, doc, resume, show_progress)
        doc["status"] = "ok"
        return RunResult(run_id, run_dir, "ok", final_arch=str(outcome.final_arch))
    except KeyboardInterrupt:
        doc["status"] = "interrupted"
        doc["error"] = {"type": "KeyboardInterrupt", "message": "interrupted by the user", "traceback": ""}
        raise
    except BaseException as exc:  # recorded, never lost
        doc["status"] = "failed"
        doc["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
        if isinstance(exc, InputError):
            raise
        if not isinstance(exc, Exception):
            raise
        return RunResult(run_id, run_dir, "failed", error=doc["error"])
    finally:
        torch.set_num_threads(threads_before)
        doc["finished_at"] = _now()
        if ctx is not None:
            ctx.close()
        records.atomic_write_json(run_dir / records.SPEC_FILE, doc)


def _run(
    spec: RunSpec, run_dir: Path, doc: dict[str, Any], resume: bool, show_progress: bool | None
) -> tuple[Any, Any]:
    import numpy as np
    import torch  # noqa: F401  (lazy: torch only when a run executes)

    from harness import train
    from harness.api import OracleAccessRefused, SearchOutcome, SupernetScorer
    from harness.context import LocalRunContext
    from harness.cost import CostMeter, PhaseCost

    cls = registry.resolve_algorithm(spec.algorithm)
    space = get_space(spec.space)
    device = train.resolve_device(spec.device)
    train.set_deterministic(spec.seed)
    doc["provenance"].update(provenance.device_info(device))
    data = _build_data(spec, device)
    doc["provenance"]["data_identity"] = getattr(data, "identity", None)
    meter = CostMeter(device.type)
    uses_oracle = bool(getattr(cls, "uses_oracle", False))
    judge = space.judge
    oracle = getattr(judge, "oracle", None) if uses_oracle else None
    ctx = LocalRunContext(
        seed=spec.seed,
        device=device,
        run_dir=run_dir,
        data=data,
        meter=meter,
        uses_oracle=uses_oracle,
        oracle_factory=(lambda: oracle) if uses_oracle else None,
        resume=resume,
        show_progress=show_progress,
    )
    try:
        algorithm = cls(spec.config)
        search_start = time.perf_counter()
        outcome = algorithm.search(space, ctx)
        search_wall = time.perf_counter() - search_start
        if ctx.oracle_access_refused and not uses_oracle:
            raise OracleAccessRefused(
                f"algorithm {spec.algorithm!r} asked for ground truth without declaring uses_oracle = True"
            )
        if not isinstance(outcome, SearchOutcome):
            raise TypeError(f"{spec.algorithm}.search returned {type(outcome).__name__}, expected SearchOutcome")
        ctx.finish_resume()
        doc["resume"].update(last_checkpoint=ctx.resumed_from)
        search_phases = meter.phases()
        extra_phases: list[PhaseCost] = []
        if uses_oracle:
            extra_phases.append(_simulated_train(outcome, oracle, spec, judge.epochs))

        stage_rows = _stage_records(outcome)
        ctx._records.append(stage_rows)  # noqa: SLF001 - the runner owns the records file
        arch_rows = _arch_rows(outcome, space, spec)

        rank_rows: list[dict[str, Any]] = []
        targets = _rank_targets(spec, judge)
        if isinstance(algorithm, SupernetScorer) and spec.rank_eval.set != "none" and targets:
            arch_set = rank_eval.arch_set_for(spec.rank_eval, space)
            assert arch_set is not None
            doc["provenance"]["rank_eval_sha256"] = arch_set.sha256
            doc["provenance"]["rank_eval_set"] = {"name": arch_set.name, "n": len(arch_set.indices)}
            ctx.scoring = spec.rank_eval.scoring()  # one stated BN protocol for every method's scores
            rank_rows, rank_arch_rows = _rank_eval(algorithm, ctx, arch_set, space, targets, spec, np)
            arch_rows += rank_arch_rows

        cost_rows = _cost_rows(search_phases, meter.phases(), extra_phases, search_wall)
        ctx._records.append(cost_rows)  # noqa: SLF001
        records.write_csv(run_dir / records.ARCHS_FILE, records.ARCHS_COLUMNS, arch_rows)
        if rank_rows:
            records.write_csv(run_dir / records.RANK_FILE, records.RANK_COLUMNS, rank_rows)
        doc["outcome"] = {
            "final_arch": outcome.final_arch.to_str()
            if hasattr(outcome.final_arch, "to_str")
            else str(outcome.final_arch),
            "final_index": _index_of(space, outcome.final_arch),
            "final_facts": space.facts(outcome.final_arch) if space.facts is not None else {},
            "selection_rule": outcome.selection_rule,
            "partitions": [
                {"stage": s.stage, "child": s.child, "partition": s.partition, "selected": s.selected}
                for s in outcome.sub_supernets
            ],
            "extras": outcome.extras,
        }
        _check_json_safe(doc["outcome"])
        return ctx, outcome
    except BaseException:
        ctx.close()
        raise


def _check_json_safe(obj: Any) -> None:
    import json

    try:
        json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"SearchOutcome.extras must be JSON-safe: {exc}") from None


def _build_data(spec: RunSpec, device: Any) -> Any:
    from harness import data as hdata

    ds = spec.data
    if ds.source == "synthetic":
        kwargs: dict[str, Any] = {
            "n_weight": ds.synthetic_sizes[0],
            "n_held_out": ds.synthetic_sizes[1],
            "seed": ds.seed,
            "device": device,
        }
        if ds.image_size is not None:
            kwargs["image_size"] = ds.image_size
        elif spec.search_dataset == "imagenet16-120":
            kwargs["image_size"] = 16
        return hdata.synthetic_search_data(spec.search_dataset, **kwargs)
    if ds.source == "embedded":
        root, download = hdata.EMBEDDED_ROOT, False
    elif spec.data_root:
        root, download = Path(spec.data_root), True
    else:
        raise InputError("real data needs --data-root PATH")
    return hdata.load_search_data(
        spec.search_dataset,
        root=root,
        split=ds.split,
        device=device,
        download=download,
        n_weight=ds.n_weight,
        n_held_out=ds.n_held_out,
        subset_seed=ds.seed,
    )


def _index_of(space: Any, arch: Any) -> int | None:
    """The arch's index in an enumerable space, else None."""
    if space.enumeration is None or arch is None:
        return None
    return int(space.enumeration.index(arch))


# ------------------------------------------------------------------------------------------- archs.csv
def _gt(judge: Any, archs: Sequence[Any], spec: RunSpec) -> dict[tuple[str, str], tuple[Any, Any]]:
    """{(dataset, split): (values, n_seeds)} for every target the judge has for the eval datasets."""
    if not archs:
        return {}
    return {
        (dataset, split): judge.accuracy(list(archs), dataset=dataset, split=split)
        for dataset, split in judge.targets(spec.eval_datasets)
    }


def _arch_rows(outcome: Any, space: Any, spec: RunSpec) -> list[dict[str, Any]]:
    """final / stage_pick / child / candidate rows; every arch row repeated per judge target (eval dataset x
    split) with the judge's value; one row without a value when the space has no judge."""
    entries: list[dict[str, Any]] = [{"role": "final", "arch": outcome.final_arch, "score": None, "score_name": ""}]
    children_by_stage: dict[int, list[Any]] = {}
    for sub in outcome.sub_supernets:
        children_by_stage.setdefault(sub.stage, []).append(sub)
    for st in outcome.stages:
        entries.append(
            {
                "role": "stage_pick",
                "stage": st.index,
                "child": st.pick,
                "arch": st.pick_arch,
                "score": None,
                "score_name": "",
            }
        )
        subs = sorted(children_by_stage.pop(st.index, []), key=lambda s: s.child)
        listed = {s.child for s in subs}
        for sub in subs:
            entries.append(
                {
                    "role": "child",
                    "stage": sub.stage,
                    "child": sub.child,
                    "arch": None,
                    "score": sub.held_out_acc,
                    "score_name": "held_out_acc_pct",
                }
            )
        for k in range(st.children):  # children the algorithm counted but did not describe
            if k not in listed:
                entries.append(
                    {
                        "role": "child",
                        "stage": st.index,
                        "child": k,
                        "arch": None,
                        "score": None,
                        "score_name": "",
                    }
                )
    for stage in sorted(children_by_stage):  # sub-supernets of stages without a StageOutcome
        for sub in sorted(children_by_stage[stage], key=lambda s: s.child):
            entries.append(
                {
                    "role": "child",
                    "stage": sub.stage,
                    "child": sub.child,
                    "arch": None,
                    "score": sub.held_out_acc,
                    "score_name": "held_out_acc_pct",
                }
            )
    for arch, score in outcome.candidates:
        entries.append({"role": "candidate", "arch": arch, "score": score, "score_name": "algorithm_score"})

    with_arch = [e["arch"] for e in entries if e["arch"] is not None]
    unique = list(dict.fromkeys(with_arch))
    judge = space.judge
    gt = _gt(judge, unique, spec)
    targets = judge.targets(spec.eval_datasets) or (("", ""),)
    pos = {a: i for i, a in enumerate(unique)}
    rows: list[dict[str, Any]] = []
    for e in entries:
        base = {
            "role": e["role"],
            "stage": e.get("stage"),
            "child": e.get("child"),
            "score": e["score"],
            "score_name": e["score_name"],
        }
        arch = e["arch"]
        if arch is None:
            rows.append({**base, "arch": "", "index": None})
            continue
        base.update(arch=arch.to_str(), index=_index_of(space, arch))
        for dataset, split in targets:
            values = gt.get((dataset, split))
            rows.append(
                {
                    **base,
                    "eval_dataset": dataset,
                    "split": split,
                    "epochs": judge.epochs,
                    "gt_acc": None if values is None else float(values[0][pos[arch]]),
                    "n_seeds": None if values is None else int(values[1][pos[arch]]),
                }
            )
    return rows


def _stage_records(outcome: Any) -> list[tuple[Any, ...]]:
    """records.csv rows for stages and children (remaining_space, costs); children/pick live in archs.csv."""
    rows: list[tuple[Any, ...]] = []
    for st in outcome.stages:
        rows.append(("stage", st.index, None, None, None, "remaining_space", st.remaining_space))
        for key, value in sorted(st.cost.items()):
            rows.append(("stage", st.index, None, None, None, key, value))
    for sub in sorted(outcome.sub_supernets, key=lambda s: (s.stage, s.child)):
        rows.append(("stage", sub.stage, sub.child, None, None, "remaining_space", sub.remaining_space))
        rows.append(("stage", sub.stage, sub.child, None, None, "held_out_acc_pct", sub.held_out_acc))
        rows.append(("stage", sub.stage, sub.child, None, None, "selected", bool(sub.selected)))
        for key, value in sorted(sub.cost.items()):
            rows.append(("stage", sub.stage, sub.child, None, None, key, value))
    return rows


# ------------------------------------------------------------------------------------------ rank eval
_OWNER_RE = re.compile(r"^stage(\d+)/child(\d+)$")


def _rank_targets(spec: RunSpec, judge: Any) -> list[tuple[str, str]]:
    """The rank-evaluation targets the judge can answer (NB201: all of them; the DARTS surrogate: CIFAR-10
    valid), in the spec's order (the first is primary)."""
    known = set(judge.targets(spec.eval_datasets))
    return [t for t in spec.rank_eval.target_pairs() if t in known]


def _rank_eval(
    algorithm: Any, ctx: Any, arch_set: Any, space: Any, targets: Sequence[tuple[str, str]], spec: RunSpec, np: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    enum, judge = space.enumeration, space.judge
    archs = list(arch_set.archs) if arch_set.archs is not None else [enum.from_index(i) for i in arch_set.indices]
    with ctx.phase("rank_eval"):
        scores, owners = algorithm.score(archs, ctx)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    owners = list(owners)
    if scores.size != len(archs) or len(owners) != len(archs):
        raise ValueError(
            f"{spec.algorithm}.score returned {scores.size} scores / {len(owners)} owners "
            f"for {len(archs)} architectures"
        )
    truths: dict[tuple[str, str], Any] = {}
    n_seeds: dict[tuple[str, str], Any] = {}
    for dataset, split in targets:
        values, seeds = judge.accuracy(archs, dataset=dataset, split=split)
        truths[(dataset, split)] = np.asarray(values, dtype=np.float64)
        n_seeds[(dataset, split)] = np.asarray(seeds)
    connected = rank_eval.connected_flags(enum, arch_set.indices)
    rows = rank_eval.rank_table(scores, owners, arch_set.indices, truths, connected)
    arch_rows: list[dict[str, Any]] = []
    for i, arch in enumerate(archs):
        m = _OWNER_RE.match(owners[i])
        stage, child = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        for (dataset, split), truth in truths.items():
            arch_rows.append(
                {
                    "role": "rank_eval",
                    "stage": stage,
                    "child": child,
                    "arch": arch.to_str(),
                    "index": arch_set.indices[i] if enum is not None else None,
                    "score": float(scores[i]),
                    "score_name": rank_eval.SCORE_NAME,
                    "eval_dataset": dataset,
                    "split": split,
                    "epochs": judge.epochs,
                    "gt_acc": float(truth[i]),
                    "n_seeds": int(n_seeds[(dataset, split)][i]),
                }
            )
    return rows, arch_rows


# ----------------------------------------------------------------------------------------------- cost
def _simulated_train(outcome: Any, oracle: Any, spec: RunSpec, oracle_epochs: int) -> Any:
    """Phase "simulated_train": the benchmark's train time of every arch an oracle-driven algorithm
    evaluated."""
    from harness.cost import PhaseCost

    extras = outcome.extras
    epochs = int(extras.get("oracle_epochs", oracle_epochs))
    dataset = str(extras.get("oracle_dataset", spec.search_dataset))
    split = str(extras.get("oracle_split", "valid"))
    archs = [a for a, _ in outcome.candidates] or [outcome.final_arch]
    cost = oracle.cost(archs, dataset=dataset)
    key = (
        "train_time_per_epoch_s_valid_run"
        if split == "valid" and "train_time_per_epoch_s_valid_run" in cost
        else "train_time_per_epoch_s"
    )
    seconds = float(sum(float(t) for t in cost[key])) * epochs
    return PhaseCost(
        phase="simulated_train",
        wall_s=0.0,
        device_s=seconds,
        epochs=float(epochs * len(archs)),
        steps=0,
        images=0,
        forwards=0,
        peak_mem_mb=0.0,
    )


def _cost_rows(
    search_phases: Sequence[Any], all_phases: Sequence[Any], extra: Sequence[Any], search_wall: float
) -> list[tuple[Any, ...]]:
    """Cost rows sorted by phase name, then a "search_total" row set (search phases + simulated training; rank
    evaluation is the harness's cost, reported as its own phase and excluded from the total)."""
    rows: list[tuple[Any, ...]] = []
    phases = sorted([*all_phases, *extra], key=lambda p: p.phase)
    for p in phases:
        for metric in records.COST_METRICS:
            rows.append((p.phase, None, None, None, None, metric, getattr(p, metric)))
    counted = [p for p in [*search_phases, *extra] if not p.phase.startswith("rank_eval")]
    top = [p for p in counted if "/" not in p.phase]
    total = {
        "wall_s": search_wall,
        "device_s": sum(p.device_s for p in top if p.phase != "simulated_train") + sum(p.device_s for p in extra),
        "epochs": sum(p.epochs for p in counted),
        "steps": sum(p.steps for p in counted),
        "images": sum(p.images for p in counted),
        "forwards": sum(p.forwards for p in counted),
        "peak_mem_mb": max((p.peak_mem_mb for p in counted), default=0.0),
    }
    for metric in records.COST_METRICS:
        rows.append(("search_total", None, None, None, None, metric, total[metric]))
    return rows


# ----------------------------------------------------------------------------------------------- grids
def run_specs(
    specs: Sequence[RunSpec],
    root: Path,
    *,
    show_progress: bool | None = None,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
) -> list[RunResult]:
    """Execute specs into root/<algorithm>/<run_id>/ (completed runs skipped): one after another here, or on
    a process pool / Ray (harness.executor) when executor="ray" or jobs > 1. Results in spec order."""
    from harness.context import progress_line

    _check_out_root(Path(root))
    if executor != "local" or jobs > 1:
        from harness.executor import progress_printer, run_parallel

        for i, spec in enumerate(specs, start=1):
            print(f"[{i}/{len(specs)}] {spec.algorithm} seed={spec.seed} {spec.variant} -> queued", file=sys.stderr)
        return run_parallel(
            specs, root, executor=executor, jobs=jobs, ray_address=ray_address, on_done=progress_printer(len(specs))
        )
    results = []
    start = time.perf_counter()
    for i, spec in enumerate(specs, start=1):
        run_dir = run_dir_for(spec, root)
        print(f"[{i}/{len(specs)}] {spec.algorithm} seed={spec.seed} {spec.variant} -> {run_dir}", file=sys.stderr)
        results.append(execute(spec, run_dir, show_progress=show_progress))
        print(progress_line("runs", i, len(specs), time.perf_counter() - start), file=sys.stderr, flush=True)
    return results


def _check_out_root(root: Path) -> None:
    """InputError unless `root` is (or can be made) a folder the runs can be written into."""
    if root.exists() and not root.is_dir():
        raise InputError(f"--out {root} is a file; expected a folder for the runs")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {root}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise InputError(f"--out {root}: the folder is not writable")


def expand_grid(
    points: Iterable[GridPoint],
    *,
    space: str,
    search_dataset: str = "cifar10",
    preset: str = "smoke",
    eval_datasets: Sequence[str] = DATASETS,
    set_overrides: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    rank_eval: Mapping[str, Any] | None = None,
    device: str | None = None,
    data_root: str | None = None,
    threads: int | None = None,
) -> list[RunSpec]:
    return [
        build_run_spec(
            algorithm=p.algorithm,
            space=space,
            search_dataset=search_dataset,
            seed=p.seed,
            preset=preset,
            eval_datasets=eval_datasets,
            config=dict(p.config),
            set_overrides=dict(set_overrides or {}),
            data=dict(data or {}),
            rank_eval=dict(rank_eval or {}),
            variant=p.variant,
            device=device,
            data_root=data_root,
            threads=threads,
        )
        for p in points
    ]


def run_grid(
    points: Iterable[GridPoint], root: Path, *, show_progress: bool | None = None, **kwargs: Any
) -> list[RunResult]:
    return run_specs(expand_grid(points, **kwargs), root, show_progress=show_progress)
