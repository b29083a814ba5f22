"""The DARTS space's judge: the YAHPO Gym "nb301" v2 surrogate (ONNX), a learned predictor of NB301 accuracy.

Why a surrogate: the real judge of a DARTS cell (train it from scratch, 600 epochs) costs a GPU-day, so the
harness judges DARTS-space results with a model fitted on NAS-Bench-301's ~60k trained cells. Its numbers are
predictions of the NB301 protocol's CIFAR-10 *validation* accuracy (100 epochs, C=32, 8 cells), never measured
accuracies, so every number it gives travels with `SURROGATE_LABEL` (design §1.6). Provenance, hashes and the
license are in `data/PROVENANCE.md`; the encoding follows `shared/data/nb301-surrogate/README.md`.

Why onnxruntime is imported lazily: this module must import fast (the `query` / `status` paths import the
space), and most commands never predict anything. One CPU InferenceSession (one thread, deterministic) is
built per process on first use.

Percentiles, because raw predictions of good cells differ by less than the surrogate's noise: `percentile(v)` is
the percent of a FIXED reference sample (10,000 uniform random s5 genotypes from `sample_genotype` with
`np.random.default_rng(REFERENCE_SEED)`, predicted at epoch 98) whose prediction is strictly below `v`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar

import numpy as np

from harness.errors import InputError
from harness.spaces.darts.genotype import (
    CELL_TYPES,
    NUM_CELL_EDGES,
    NUM_NODES,
    OPS_S5,
    DartsGenotype,
    edge_of,
    sample_genotype,
)

SURROGATE_LABEL = "surrogate (NB301 protocol: 100 epochs, C=32, 8 cells), not a measured accuracy"

MODEL_SHA256 = "e7168d495cf7fe6419b69234a052571536c2a5f6d7a8a2aead4e9d04dffac1d6"
"""sha256 of the packaged `data/model_v2.onnx` (checked when the model is loaded)."""

MAX_EPOCH = 98
"""Largest epoch the surrogate takes: it saw epochs up to 98 (99-100 equal 98, larger values give nonsense)."""

REFERENCE_SEED = 20261129
REFERENCE_SAMPLE_SIZE = 10_000
REFERENCE_EPOCH = MAX_EPOCH
REFERENCE_OP_SET = "s5"

_PACKAGE = "harness.spaces.darts"
_MODEL_RESOURCE = "model_v2.onnx"
_ENCODING_RESOURCE = "encoding_v2.json"
_COLUMN_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
_BATCH = 4096

COLUMNS: tuple[str, ...] = tuple(f"edge_{cell}_{e}" for cell in CELL_TYPES for e in range(NUM_CELL_EDGES)) + tuple(
    f"inputs_node_{cell}_{k + 2}" for cell in CELL_TYPES for k in range(1, NUM_NODES)
)
"""The 34 `x_cat` columns in model order (each prefixed in the encoding file with the NB301 config-space path)."""


class SurrogateInputError(InputError):
    """A genotype or epoch the surrogate cannot take."""


def _data(name: str) -> bytes:
    return resources.files(_PACKAGE).joinpath("data", name).read_bytes()


@lru_cache(maxsize=1)
def _model_bytes() -> bytes:
    blob = _data(_MODEL_RESOURCE)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MODEL_SHA256:
        raise RuntimeError(f"packaged {_MODEL_RESOURCE} has sha256 {digest}, expected {MODEL_SHA256}; reinstall")
    return blob


@lru_cache(maxsize=1)
def _column_codes() -> tuple[dict[str, int], ...]:
    """Per x_cat column (model order): category -> integer code, from the packaged encoding file."""
    table = json.loads(_data(_ENCODING_RESOURCE).decode("utf-8"))
    codes: list[dict[str, int]] = []
    for column in COLUMNS:
        key = _COLUMN_PREFIX + column
        if key not in table:
            raise RuntimeError(f"packaged {_ENCODING_RESOURCE} has no column {key!r}; reinstall")
        codes.append({str(k): int(v) for k, v in table[key].items()})
    return tuple(codes)


@lru_cache(maxsize=1)
def _session() -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # a declared dependency; say how to get it
        raise ImportError("the DARTS surrogate judge needs onnxruntime: pip install 'onnxruntime>=1.16'") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    options.log_severity_level = 3
    return ort.InferenceSession(_model_bytes(), sess_options=options, providers=["CPUExecutionProvider"])


def _as_batch(genotypes: DartsGenotype | Iterable[DartsGenotype]) -> list[DartsGenotype]:
    items = [genotypes] if isinstance(genotypes, DartsGenotype) else list(genotypes)
    for i, g in enumerate(items):
        if not isinstance(g, DartsGenotype):
            raise SurrogateInputError(f"item {i} is {type(g).__name__} {g!r:.60}, not a DartsGenotype")
    return items


def _encode_one(g: DartsGenotype, codes: tuple[dict[str, int], ...]) -> list[int]:
    row = [0] * len(COLUMNS)
    for c, cell in enumerate(CELL_TYPES):
        pairs = g.cell(cell)
        for slot, (op, inp) in enumerate(pairs):
            if op not in OPS_S5:
                raise SurrogateInputError(
                    f"genotype {g.to_str()} has op {op!r} on node {slot // 2} (input {inp}) of the {cell} cell; "
                    f"the surrogate knows only {', '.join(OPS_S5)}"
                )
            col = c * NUM_CELL_EDGES + edge_of(slot // 2, inp)
            row[col] = codes[col][op]
        for k in range(NUM_NODES):
            a, b = sorted((pairs[2 * k][1], pairs[2 * k + 1][1]))
            if a == b:  # DartsGenotype refuses this already; kept because the model cannot encode it
                raise SurrogateInputError(
                    f"genotype {g.to_str()} has two equal inputs {a} on node {k} of the {cell} cell; "
                    "the surrogate cannot encode it"
                )
            if k >= 1:
                col = 2 * NUM_CELL_EDGES + c * (NUM_NODES - 1) + (k - 1)
                row[col] = codes[col][f"{a}_{b}"]
    return row


def _check_epoch(epoch: Any) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or not 1 <= epoch <= MAX_EPOCH:
        raise SurrogateInputError(
            f"epoch {epoch!r:.40} is not allowed; allowed: 1..{MAX_EPOCH} (the surrogate saw epochs up to {MAX_EPOCH})"
        )
    return int(epoch)


@lru_cache(maxsize=1)
def _reference_predictions() -> np.ndarray:
    rng = np.random.default_rng(REFERENCE_SEED)
    sample = [sample_genotype(rng, REFERENCE_OP_SET) for _ in range(REFERENCE_SAMPLE_SIZE)]
    preds = SurrogateJudge().predict(sample, epoch=REFERENCE_EPOCH)
    preds.setflags(write=False)
    return preds


@lru_cache(maxsize=1)
def _reference_sorted() -> np.ndarray:
    ref = np.sort(_reference_predictions())
    ref.setflags(write=False)
    return ref


@dataclass(frozen=True, slots=True)
class SurrogateJudge:
    """Judge of DARTS-space genotypes by the NB301 v2 surrogate; stateless (model and caches are per process)."""

    name: ClassVar[str] = "nb301-surrogate-v2"
    kind: ClassVar[str] = "surrogate"
    label: ClassVar[str] = SURROGATE_LABEL
    epochs: ClassVar[int] = 100
    """Training length of the protocol its predictions stand for (epoch 98 is read as the final value)."""
    epochs_allowed: ClassVar[range] = range(1, MAX_EPOCH + 1)
    reference_sample_size: ClassVar[int] = REFERENCE_SAMPLE_SIZE
    reference_seed: ClassVar[int] = REFERENCE_SEED

    @property
    def sha256(self) -> str:
        """sha256 of the packaged ONNX model (verified on first load)."""
        _model_bytes()
        return MODEL_SHA256

    def encode(self, genotypes: DartsGenotype | Iterable[DartsGenotype]) -> np.ndarray:
        """x_cat int32 [B, 34] in model column order (`COLUMNS`); refuses `none` ops and equal node inputs."""
        codes = _column_codes()
        rows = [_encode_one(g, codes) for g in _as_batch(genotypes)]
        return np.asarray(rows, dtype=np.int32).reshape(len(rows), len(COLUMNS))

    def predict(self, genotypes: DartsGenotype | Iterable[DartsGenotype], *, epoch: int = MAX_EPOCH) -> np.ndarray:
        """Predicted NB301 validation accuracy in % (float64 [B]) after `epoch` (1..98) epochs."""
        epoch_i = _check_epoch(epoch)
        x_cat = self.encode(genotypes)
        out = np.empty(x_cat.shape[0], dtype=np.float64)
        if x_cat.shape[0] == 0:
            return out
        session = _session()
        for start in range(0, x_cat.shape[0], _BATCH):
            chunk = x_cat[start : start + _BATCH]
            x_cont = np.full((chunk.shape[0], 1), epoch_i, dtype=np.float32)
            (y,) = session.run(["output"], {"x_cat": chunk, "x_cont": x_cont})
            out[start : start + chunk.shape[0]] = np.asarray(y[:, 0], dtype=np.float64) * 100.0
        return out

    def reference_predictions(self) -> np.ndarray:
        """The reference sample's predictions (% at epoch 98), in sampling order; read-only, cached per process."""
        return _reference_predictions()

    def percentile(self, values_pct: Any) -> np.ndarray:
        """Percent (0..100) of the reference sample predicted strictly below each value; same shape as the input."""
        try:
            v = np.asarray(values_pct, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SurrogateInputError(f"percentile needs accuracies in %, got {values_pct!r:.60}") from exc
        if not np.all(np.isfinite(v)):
            raise SurrogateInputError(f"percentile needs finite accuracies in %, got {values_pct!r:.60}")
        ref = _reference_sorted()
        return 100.0 * np.searchsorted(ref, v, side="left").astype(np.float64) / ref.size

    def targets(self, eval_datasets: Sequence[str]) -> tuple[tuple[str, str], ...]:
        """The surrogate answers CIFAR-10 validation accuracy only."""
        return (("cifar10", "valid"),) if "cifar10" in eval_datasets else ()

    def accuracy(self, archs: Sequence[Any], *, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(predicted accuracy % at epoch 98, n_seeds = 0) for the `Judge` protocol; cifar10 / valid only."""
        if (dataset, split) != ("cifar10", "valid"):
            raise SurrogateInputError(
                f"the NB301 surrogate predicts dataset 'cifar10' split 'valid' only; got {dataset!r} {split!r}"
            )
        acc = self.predict(archs, epoch=MAX_EPOCH)
        return acc, np.zeros(acc.shape[0], dtype=np.int64)
