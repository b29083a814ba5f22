"""Opt-in adapter: the same oracle API, read from an official benchmark file the USER names.

Two layouts are understood:
* a NATS-Bench topology (`tss`) archive directory: `meta.pickle.pbz2` plus one `NNNNNN.pickle.pbz2` per
  architecture (bz2-compressed pickles of `{"12": record, "200": record}`), read lazily per architecture;
* an NAS-Bench-201 `.pth` file (`NAS-Bench-201-v1_0-e61699.pth`, `-v1_1-096897.pth`): a torch-saved dict
  `{"meta_archs", "arch2infos": {index: {"less": 12-epoch record, "full": 200-epoch record}},
  "evaluated_indexes"}`. The full file needs tens of GB of RAM (design.md §9 pitfall 12).

Security: both formats are Python pickles, and unpickling can run arbitrary code. They are opened only
here, only
for a path given explicitly by the user (`--benchmark-file PATH`, or `OfficialOracle.open(path)`), never by
default
and never for a file found on disk by the harness. The `.pth` is read with `torch.load(...,
weights_only=False)`,
which `weights_only=True` cannot replace because the records hold numpy scalars and plain objects; that is
acceptable only because the user named the file. torch is needed only for `.pth` files and is imported lazily.

A record (one ArchResults state dict) holds `dataset_seed` {benchmark dataset: [seeds]} and `all_results`
{(benchmark dataset, seed): result}, where a result has `epochs`, `eval_acc1es` {"<eval-set>@<epoch>": %},
`params`, `flop` and `train_times` {epoch: s}. The final accuracy is the one at epoch `epochs - 1`.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib
import pickle
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.oracle.base import (
    DATASETS,
    AccuracyResult,
    ArchLike,
    OracleMiss,
    OracleUnavailable,
    Query,
    benchmark_dataset,
    benchmark_key,
    to_indices,
    validate_query,
)
from harness.spaces.nb201 import NUM_ARCHS, NB201Arch

_EPOCH_KEYS = {200: ("200", "full"), 12: ("12", "less")}


#: what walking a record of the wrong shape raises
_MALFORMED = (KeyError, TypeError, AttributeError, ValueError, IndexError)


def _load_pbz2(path: Path) -> Any:
    """One bz2-compressed pickle of a user-named archive; InputError naming the file when it cannot be read."""
    try:
        with bz2.open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - only files the user named (module docstring)
    except Exception as exc:  # damaged or foreign data fails anywhere in bz2 / pickle (OSError .. ImportError)
        raise InputError(
            f"{path} is not a readable NATS-Bench archive file ({type(exc).__name__}: {_short(exc)})"
        ) from None


def _short(value: object, limit: int = 100) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _meta_archs(path: Path, meta: Any) -> list[str]:
    """The architecture strings of an archive's meta file, or InputError when it is not one."""
    archs = meta.get("meta_archs") if isinstance(meta, dict) else None
    if not isinstance(archs, list | tuple) or not all(isinstance(a, str) for a in archs):
        raise InputError(f"{path} is not a NATS-Bench tss meta file (no 'meta_archs' list of architecture strings)")
    return list(archs)


class OfficialOracle:
    """Ground truth read from an official NATS-Bench tss archive directory or an NB201 `.pth` file."""

    def __init__(self, path: Path, records: dict[int, dict[str, Any]] | None, meta_archs: list[str]) -> None:
        self.path = path
        self._records = records  # None = archive directory, read per arch on demand
        self._lazy: dict[int, dict[str, Any] | None] = {}
        if len(meta_archs) != NUM_ARCHS:
            raise OracleUnavailable(f"{path}: expected {NUM_ARCHS} architectures, found {len(meta_archs)}")
        if not all(isinstance(a, str) for a in meta_archs):
            raise OracleUnavailable(f"{path}: the architecture list holds entries that are not strings")
        for i in (0, 9930, NUM_ARCHS - 1):
            if NB201Arch.from_str(meta_archs[i]).index != i:
                raise OracleUnavailable(
                    f"{path}: architecture order differs from the NB201 index list at {i}"
                )

    # --- opening ---------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> OfficialOracle:
        """Open a user-named archive directory or `.pth` file (the only place pickles are loaded).

        Anything that is not such a benchmark (another file, a damaged archive, a pickle of other objects) is an
        InputError naming the path, never a traceback from deep inside pickle or torch."""
        path = Path(path)
        if path.is_dir():
            meta = path / "meta.pickle.pbz2"
            if not meta.is_file():
                raise InputError(f"{path} is not a NATS-Bench tss archive: meta.pickle.pbz2 is missing")
            return cls(path, None, _meta_archs(meta, _load_pbz2(meta)))
        if path.is_file() and path.suffix == ".pth":
            torch = importlib.import_module("torch")  # lazy, opt-in (see module docstring)
            try:
                data = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc:  # a damaged or foreign file fails anywhere inside torch.load
                raise InputError(
                    f"{path} is not a readable NB201 benchmark file ({type(exc).__name__}: {_short(exc)})"
                ) from None
            try:
                infos = data["arch2infos"]
                records = {int(k): {"12": v["less"], "200": v["full"]} for k, v in infos.items()}
                meta_archs = data["meta_archs"]
            except _MALFORMED as exc:
                raise InputError(
                    f"{path} is not an NB201 benchmark file (no arch2infos / meta_archs: {_short(repr(exc))})"
                ) from None
            if not isinstance(meta_archs, list | tuple):
                raise InputError(f"{path} is not an NB201 benchmark file (meta_archs is not a list)")
            return cls(path, records, list(meta_archs))
        if not path.exists():
            raise InputError(f"benchmark file {path} does not exist")
        raise InputError(f"{path}: expected a NATS-Bench tss archive directory or an NB201 .pth file")

    # --- provenance ----------------------------------------------------------------------------------
    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the named file, or of the archive's (name, sha256) list in name order (slow: lazy)."""
        digest = hashlib.sha256()
        files = sorted(self.path.glob("*.pickle.pbz2")) if self.path.is_dir() else [self.path]
        for f in files:
            inner = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    inner.update(block)
            digest.update(f"{f.name} {inner.hexdigest()}\n".encode())
        return digest.hexdigest()

    @property
    def description(self) -> str:
        return f"official benchmark file {self.path}"

    # --- records ---------------------------------------------------------------------------------------
    def _record(self, index: int, epochs: int) -> dict[str, Any] | None:
        if self._records is not None:
            rec = self._records.get(index)
        else:
            if index not in self._lazy:
                f = self.path / f"{index:06d}.pickle.pbz2"
                self._lazy[index] = _load_pbz2(f) if f.is_file() else None
            rec = self._lazy[index]
        if rec is None:
            return None
        return rec.get(_EPOCH_KEYS[epochs][0])

    def _value(self, index: int, q: Query) -> tuple[float, int] | str:
        """(accuracy, n_seeds) or the reason it is missing; InputError when the record has the wrong shape."""
        try:
            return self._lookup(index, q)
        except _MALFORMED as exc:
            raise self._malformed(index, exc) from None

    def _malformed(self, index: int, exc: Exception) -> InputError:
        return InputError(f"{self.path}: the record of arch {index} is malformed ({_short(repr(exc))})")

    def _lookup(self, index: int, q: Query) -> tuple[float, int] | str:
        rec = self._record(index, q.epochs)
        if rec is None:
            return f"arch {index} has no {q.epochs}-epoch record in {self.path}"
        bench, eval_name = benchmark_key(q.dataset, q.split)
        seeds = list(rec.get("dataset_seed", {}).get(bench, []))
        if q.seed != "mean":
            if q.seed not in seeds:
                return f"arch {index} has no seed {q.seed} for {bench} ({q.epochs} epochs); seeds: {seeds}"
            seeds = [q.seed]
        if not seeds:
            return f"arch {index} has no {bench} results ({q.epochs} epochs)"
        values = []
        for s in seeds:
            result = rec["all_results"].get((bench, s))
            if result is None:
                return f"arch {index} lacks the {bench} seed {s} result"
            key = f"{eval_name}@{int(result['epochs']) - 1}"
            if key not in result["eval_acc1es"]:
                return f"arch {index} has no {key} accuracy for {bench} seed {s}"
            values.append(float(result["eval_acc1es"][key]))
        return float(np.mean(values)), len(values)

    # --- public API (same as TableOracle) -------------------------------------------------------------
    def accuracy(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        *,
        dataset: str,
        split: str,
        epochs: int,
        seed: str | int,
    ) -> AccuracyResult:
        q = validate_query(dataset, split, epochs, seed)
        idx = to_indices(archs)
        values = np.empty(idx.size, dtype=np.float64)
        counts = np.empty(idx.size, dtype=np.int64)
        for k, i in enumerate(idx.tolist()):
            got = self._value(i, q)
            if isinstance(got, str):
                raise OracleMiss(got)
            values[k], counts[k] = got
        return AccuracyResult(values=values, n_seeds=counts)

    def available(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        *,
        dataset: str,
        split: str,
        epochs: int,
        seed: str | int,
    ) -> np.ndarray:
        q = validate_query(dataset, split, epochs, seed)
        return np.array(
            [not isinstance(self._value(i, q), str) for i in to_indices(archs).tolist()], dtype=bool
        )

    def cost(self, archs: Sequence[ArchLike] | np.ndarray, *, dataset: str) -> dict[str, np.ndarray]:
        if dataset not in DATASETS:
            raise InputError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
        idx = to_indices(archs)
        names = ["params_m", "flops_m", "train_time_per_epoch_s"]
        runs = {"": benchmark_dataset(dataset)}
        if dataset == "cifar10":
            names.append("train_time_per_epoch_s_valid_run")
            runs["_valid_run"] = benchmark_key("cifar10", "valid")[0]
        out = {name: np.empty(idx.size) for name in names}
        for k, i in enumerate(idx.tolist()):
            for suffix, bench in runs.items():
                try:
                    result = self._first_result(i, bench)
                    if not suffix:
                        out["params_m"][k] = float(result["params"])
                        out["flops_m"][k] = float(result["flop"])
                    times = [float(t) for t in result["train_times"].values()]
                except _MALFORMED as exc:
                    raise self._malformed(i, exc) from None
                out[f"train_time_per_epoch_s{suffix}"][k] = float(np.mean(times))
        return out

    def _first_result(self, index: int, bench: str) -> dict[str, Any]:
        for epochs in (200, 12):
            rec = self._record(index, epochs)
            if rec is None:
                continue
            for s in rec.get("dataset_seed", {}).get(bench, []):
                result = rec["all_results"].get((bench, s))
                if result is not None:
                    return result
        raise OracleMiss(f"arch {index} has no {bench} result in {self.path}")


def load_benchmark(path: str | Path | None) -> Any:
    """The oracle for a CLI/library caller: the embedded table, or the official file the user named."""
    if path is None:
        from harness.oracle.table import load_oracle

        return load_oracle()
    return OfficialOracle.open(path)
