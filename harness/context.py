"""`LocalRunContext`: the one object through which an algorithm reaches data, RNGs, device, logging, cost and
checkpoints (implements `harness.api.RunContext`).

Why a context and not globals: everything a run does that ends up in its records goes through here, so the
runner can seed it, attribute its cost, truncate its records on resume and keep ground truth away from
weight-sharing algorithms (`oracle` raises `OracleAccessRefused` unless the algorithm class declares
`uses_oracle = True`; the attempt is remembered so the runner fails the run even if the algorithm swallowed
the exception).

RNG streams: `torch_generator(purpose)` / `numpy_rng(purpose)` return ONE cached stream per purpose (calling
twice with the same purpose gives the same object, so a loop that asks each epoch keeps drawing fresh
numbers). Seeds come from `harness.train.derive_seed(seed, purpose)` (sha256-based, stable across processes).
Generators live on the CPU so that a seed fixes the same numbers on every device.

Resume: every `save_checkpoint` also records, in `artifacts/checkpoints.json`, the byte length of records.csv
and the cost meter's counters at that moment. A context opened with `resume=True` keeps records.csv untouched
until the algorithm either loads a checkpoint (records are truncated back to that checkpoint's length and the
counters restored) or logs before loading anything (the algorithm restarts: records are truncated to the
header).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.api import OracleAccessRefused
from harness.cost import CostMeter
from harness.errors import InputError
from harness.records import RECORDS_COLUMNS, RECORDS_FILE, CsvAppender, atomic_write_json

CHECKPOINT_MANIFEST = "checkpoints.json"
_CKPT_KEY = "nas_harness_checkpoint"  # the checkpoint file format {key: 2, "entry": ..., "state": packed}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _local_derive_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def derive_seed(seed: int, purpose: str) -> int:
    """The seed of stream `purpose` of a run seeded `seed` (harness.train's rule when present)."""
    try:
        from harness.train import derive_seed as train_derive_seed
    except ImportError:  # train.py not written yet: same kind of rule, locally
        return _local_derive_seed(seed, purpose)
    return int(train_derive_seed(int(seed), purpose))


class LocalRunContext:
    """The in-process RunContext used by the runner and by algorithm unit tests (see `make_test_context`)."""

    def __init__(
        self,
        *,
        seed: int,
        device: torch.device | str,
        run_dir: Path,
        data: Any,
        meter: CostMeter | None = None,
        uses_oracle: bool = False,
        oracle_factory: Callable[[], Any] | None = None,
        resume: bool = False,
        show_progress: bool | None = None,
    ) -> None:
        self.seed = int(seed)
        self.device = torch.device(device)
        self.run_dir = Path(run_dir)
        self.artifact_dir = self.run_dir / "artifacts"
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        self._data = data
        self.meter = meter if meter is not None else CostMeter(self.device.type)
        self._uses_oracle = bool(uses_oracle)
        self._oracle_factory = oracle_factory
        self._oracle: Any = None
        self.oracle_access_refused = False  # set when a non-oracle algorithm touched ctx.oracle
        self._torch_gens: dict[str, torch.Generator] = {}
        self._np_rngs: dict[str, np.random.Generator] = {}
        self._records = CsvAppender(self.run_dir / RECORDS_FILE, RECORDS_COLUMNS)
        self._resume_pending = bool(resume)
        self.resumed_from: str | None = None
        # progress: a bar on a terminal, log lines otherwise; show_progress=False silences it (unit tests)
        if show_progress is False:
            self._progress_mode = "off"
        else:
            self._progress_mode = "bar" if (show_progress or sys.stderr.isatty()) else "log"
        self.scoring: Any = None  # harness.api.ScoringProtocol; the runner sets it before rank evaluation

    # ------------------------------------------------------------------------------------------- data, oracle
    @property
    def data(self) -> Any:
        return self._data

    @property
    def oracle(self) -> Any:
        if not self._uses_oracle:
            self.oracle_access_refused = True
            raise OracleAccessRefused(
                "this algorithm does not declare uses_oracle = True; weight-sharing algorithms never see ground truth"
            )
        if self._oracle is None:
            if self._oracle_factory is None:
                from harness.oracle.table import load_oracle

                self._oracle = load_oracle()
            else:
                self._oracle = self._oracle_factory()
        return self._oracle

    # ---------------------------------------------------------------------------------------------------- RNG
    def torch_generator(self, purpose: str) -> torch.Generator:
        gen = self._torch_gens.get(purpose)
        if gen is None:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(derive_seed(self.seed, purpose))
            self._torch_gens[purpose] = gen
        return gen

    def numpy_rng(self, purpose: str) -> np.random.Generator:
        rng = self._np_rngs.get(purpose)
        if rng is None:
            rng = np.random.default_rng(derive_seed(self.seed, purpose))
            self._np_rngs[purpose] = rng
        return rng

    # ---------------------------------------------------------------------------------------------- logging
    def log(
        self,
        step: int,
        phase: str,
        *,
        stage: int | None = None,
        child: int | None = None,
        epoch: int | None = None,
        **scalars: float,
    ) -> None:
        """One records.csv row per scalar, in keyword order; flushed at once (a crash loses nothing
        logged)."""
        if self._resume_pending:  # logging before loading any checkpoint: the algorithm restarted
            self._records.truncate(0)
            self._resume_pending = False
        rows = [(phase, stage, child, epoch, step, metric, _scalar(value)) for metric, value in scalars.items()]
        self._records.append(rows)

    def records_offset(self) -> int:
        return self._records.tell()

    def close(self) -> None:
        self._records.close()

    def finish_resume(self) -> None:
        """Called by the runner after search: a resume that neither logged nor loaded restarts the records."""
        if self._resume_pending:
            self._records.truncate(0)
            self._resume_pending = False

    # ------------------------------------------------------------------------------------------------- cost
    def phase(self, name: str) -> AbstractContextManager[None]:
        return self.meter.phase(name)

    def count(self, *, epochs: float = 0, steps: int = 0, images: int = 0, forwards: int = 0) -> None:
        self.meter.add(epochs=epochs, steps=steps, images=images, forwards=forwards)

    # ---------------------------------------------------------------------------------------- checkpoints
    def _ckpt_path(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise InputError(f"checkpoint name {name!r} is not allowed; use letters, digits, '_', '-', '.'")
        return self.artifact_dir / f"{name}.pt"

    def _manifest(self) -> dict[str, Any]:
        path = self.artifact_dir / CHECKPOINT_MANIFEST
        if not path.exists():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        """Atomically save `state` (tensors, numbers, strings, lists, dicts: loadable with weights_only=True),
        together with the byte length of records.csv and the cost counters at this moment, in the same file: a
        kill can never pair a new state with the records position of an older one."""
        path = self._ckpt_path(name)
        entry = {
            "records_bytes": self._records.tell(),
            "counters": self.meter.counters_state(),
            "saved_at": time.time(),
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.artifact_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save({_CKPT_KEY: 2, "entry": entry, "state": pack_tensors(state)}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        manifest = self._manifest()  # for `status` (where a re-run resumes); the checkpoint itself is the truth
        manifest[name] = entry
        atomic_write_json(self.artifact_dir / CHECKPOINT_MANIFEST, manifest)

    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        path = self._ckpt_path(name)
        if not path.exists():
            return None
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(saved, dict) and saved.get(_CKPT_KEY) in (1, 2):
            entry, state = saved["entry"], saved["state"]
            if saved[_CKPT_KEY] == 2:
                state = unpack_tensors(state)
        else:  # written before the entry moved into the checkpoint file
            entry, state = self._manifest().get(name), saved
        if self._resume_pending:
            if entry is not None:
                self._records.truncate(int(entry["records_bytes"]))
                self.meter.restore_counters(entry.get("counters", {}))
                self.resumed_from = name
            else:
                self._records.truncate(0)
            self._resume_pending = False
        return state

    # --------------------------------------------------------------------------------------------- progress
    def progress(
        self, iterable: Sequence[Any] | Iterator[Any], *, total: int | None = None, desc: str = ""
    ) -> Iterator[Any]:
        """Progress of long loops (epochs): a tqdm bar when stderr is a terminal; otherwise one log line per item
        with the elapsed time and an estimate of the rest (for log files and CI); nothing when the context was
        made silent (show_progress=False, unit tests)."""
        if self._progress_mode == "off":
            yield from iterable
            return
        if total is None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        if self._progress_mode == "bar":
            from tqdm import tqdm

            yield from tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)
            return
        start = time.perf_counter()
        for i, item in enumerate(iterable, start=1):
            yield item
            print(progress_line(desc, i, total, time.perf_counter() - start), file=sys.stderr, flush=True)


def pack_tensors(state: Any) -> dict[str, Any]:
    """`state` with every tensor replaced by a reference into one flat CPU buffer per dtype.

    Why: a supernet checkpoint holds thousands of small tensors (every child's weights, BN buffers, optimizer
    moments), and torch.save pays per tensor: one DARTS-space HEP-NAS save took ~4 s for ~100k tensors. The
    packed form is a handful of tensors and loads with weights_only=True like the plain one."""
    groups: dict[str, list[torch.Tensor]] = {}
    sizes: dict[str, int] = {}
    meta: list[list[Any]] = []

    def walk(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            t = obj.detach().to("cpu").contiguous()
            key = str(t.dtype).removeprefix("torch.")
            offset = sizes.get(key, 0)
            groups.setdefault(key, []).append(t.reshape(-1))
            sizes[key] = offset + int(t.numel())
            meta.append([key, offset, int(t.numel()), list(t.shape), bool(obj.requires_grad)])
            return {_TENSOR_REF: len(meta) - 1}
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, tuple):
            return {_TUPLE: [walk(v) for v in obj]}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    tree = walk(state)
    flat = {key: torch.cat(group) for key, group in groups.items()}
    return {"tree": tree, "meta": meta, "flat": flat}


def unpack_tensors(packed: dict[str, Any]) -> Any:
    """Inverse of pack_tensors: fresh (cloned) tensors with the saved shapes and requires_grad; tuples stay
    tuples (optimizer hyper-parameters such as Adam's betas)."""
    flat, meta = packed["flat"], packed["meta"]

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if set(obj) == {_TENSOR_REF}:
                key, offset, numel, shape, grad = meta[obj[_TENSOR_REF]]
                t = flat[key][offset : offset + numel].view(shape).clone()
                return t.requires_grad_(True) if grad else t
            if set(obj) == {_TUPLE}:
                return tuple(walk(v) for v in obj[_TUPLE])
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(packed["tree"])


_TENSOR_REF, _TUPLE = "__nas_harness_tensor__", "__nas_harness_tuple__"


def progress_line(desc: str, done: int, total: int | None, elapsed: float) -> str:
    """ "desc: 3/50 done, 12s elapsed, ~188s left" (the estimate assumes the remaining items cost the same)."""
    if not total:
        return f"{desc}: {done} done, {elapsed:.0f}s elapsed"
    left = elapsed / done * (total - done)
    return f"{desc}: {done}/{total} done, {elapsed:.0f}s elapsed, ~{left:.0f}s left"


def _scalar(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().item()
    return value


def make_test_context(
    tmp_path: Path, data: Any, *, seed: int = 0, algorithm_uses_oracle: bool = False
) -> LocalRunContext:
    """A context for algorithm unit tests: logs to tmp_path/records.csv, artifacts in tmp_path/artifacts,
    device taken from the data's tensors, no progress bars. The oracle is the packaged table, loaded on first
    use, and only when `algorithm_uses_oracle`."""
    device = data.weight.images.device if hasattr(data, "weight") else torch.device("cpu")
    return LocalRunContext(
        seed=seed,
        device=device,
        run_dir=Path(tmp_path),
        data=data,
        uses_oracle=algorithm_uses_oracle,
        show_progress=False,
    )
