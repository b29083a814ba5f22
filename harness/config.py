"""Experiments and presets (TOML) -> frozen `ExperimentSpec` / `RunSpec`; typed `--set` overrides; run ids.

Why here and typed: configuration mistakes (one namespace for all algorithms, `eval()` of overrides, settings
split across argparse and shell) are how published NAS code drifted from its papers (design.md section 11.3).
Defaults live ONLY in each algorithm's frozen `Config` dataclass; a preset
(`harness/experiments/<preset>.toml`) overrides what it must, an experiment file what it studies, and `--set
a.b=c` last. Every override is checked against the dataclass field type (bool / int / float / str / Literal /
tuple / nested dataclass / Optional / Enum); an unknown key is an `InputError` (exit 2). Nothing is ever
`eval`-ed.

Resolution order for one run: Config defaults <- preset `[algorithms.<name>]` <- preset
`[spaces.<space>.algorithms.<name>]` (settings that differ in that space, e.g. a schedule published for it)
<- experiment `[[runs]] config` (and one `grid` point) <- `--set`.

run_id = the first 12 hex characters of sha256(canonical JSON, sorted keys, UTF-8) of
    {"spec": RunSpec.spec_dict(), "oracle_sha256": <hash of the judge of the run's space>}
(the key keeps its historical name: for NB201 the judge is the ground-truth table, so ids are unchanged; a
DARTS-space run hashes the surrogate; a space without a judge hashes "n/a").
`spec_dict()` is the fully resolved spec (algorithm, full config with defaults, space, search dataset, eval
datasets, seed, preset, variant, data spec + identity, rank-eval spec, the resolved device type, and for real
data the resolved data root): everything that can change results, so a `--device cuda` request is never
answered from a CPU run. Output paths and verbosity are excluded: they are provenance, not identity.

Data protocol: each supernet algorithm's Config declares `data_protocol` (its published data split; e.g.
DARTS/RSPS on NB201 the AutoDL official split, HEP-NAS the seeded 50/50 split, few-shot NAS "public" = train on
the training set, score on the test set). The run's `data.split` is resolved from it; an explicit `data.split`
(preset, experiment or `--set data.split=`) overrides it by setting the method's `data_protocol` to match, or is
refused when the method does not accept that split.

No torch at module level (the algorithm Config classes are imported through the registry only when resolved).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import itertools
import json
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness import registry
from harness.api import PROTOCOL_SPLITS, RANK_BN_PROTOCOLS, protocol_split
from harness.errors import InputError

PRESETS_DIR = Path(__file__).resolve().parent / "experiments"
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
NATIVE_IMAGE_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}
DATA_SOURCES = ("synthetic", "real", "embedded")
SYNTHETIC_DEFAULT_N = 256
EMBEDDED_DATASETS = ("cifar10",)  # harness/data/embedded/
ARCH_SETS = ("sample", "all", "connected", "noniso", "none")
GT_SPLITS = ("valid", "test")
DEVICES = ("auto", "cpu", "cuda")
SPLITS = ("train_half", "nb201_official", "train_test")  # harness.data.search.SEARCH_SPLITS
RANK_BN = RANK_BN_PROTOCOLS


# ---------------------------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class DataSpec:
    """Which search data a run uses. `synthetic`: generated from `seed` (fixed per preset, not the run seed,
    so that seeds vary the algorithm only). `real`: the user's files (`--data-root`), split `split`.
    `embedded`: the real CIFAR-10 subset the package carries (EMBEDDED_ROOT; `make demo` needs no data or
    network); with --data-root it becomes `real` on the user's files, same split and sizes.

    `n_weight` / `n_held_out`: synthetic: the images generated (None: 256). Real and embedded: a class-balanced
    subset of each part of the split, drawn from `seed` (None: the whole part)."""

    source: Literal["synthetic", "real", "embedded"] = "synthetic"
    n_weight: int | None = None
    n_held_out: int | None = None
    seed: int = 0
    image_size: int | None = None  # None: the dataset's native size (32, or 16 for imagenet16-120)
    split: str | None = None  # real data only; None: the method's data protocol (resolved by build_run_spec)

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise InputError(f"data.source={self.source!r}; allowed: {', '.join(DATA_SOURCES)}")
        for name in ("n_weight", "n_held_out"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"data.{name}={value!r}; allowed: an integer >= 1 (or none: the whole part)")
        if self.image_size is not None and not 8 <= self.image_size <= 256:
            raise InputError(f"data.image_size={self.image_size!r}; allowed: 8..256 or none (native size)")
        if self.seed < 0:
            raise InputError(f"data.seed={self.seed!r}; allowed: an integer >= 0")
        if self.split is not None and self.split not in SPLITS:
            raise InputError(f"data.split={self.split!r}; allowed: {', '.join(SPLITS)}")

    @property
    def synthetic_sizes(self) -> tuple[int, int]:
        """(weight, held-out) images of the synthetic set (None: SYNTHETIC_DEFAULT_N)."""
        return (self.n_weight or SYNTHETIC_DEFAULT_N, self.n_held_out or SYNTHETIC_DEFAULT_N)

    @property
    def subset(self) -> bool:
        """Real data cut to a class-balanced subset."""
        return self.source != "synthetic" and (self.n_weight is not None or self.n_held_out is not None)

    def identity(self, dataset: str) -> str:
        """Stable text naming the data (part of the run id). Real data: the split name (and subset); the file
        hashes are recorded in provenance (`data_identity`) when the data is loaded."""
        size = self.image_size or NATIVE_IMAGE_SIZE[dataset]
        if self.source == "synthetic":
            n_weight, n_held_out = self.synthetic_sizes
            return f"synthetic:{dataset}:seed={self.seed}:n={n_weight}+{n_held_out}:size={size}"
        text = f"{self.source}:{dataset}:{self.split}"
        if self.subset:
            text += f":n={self.n_weight or 'all'}+{self.n_held_out or 'all'}:seed={self.seed}"
        return text

    def to_dict(self, dataset: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source, "identity": self.identity(dataset)}
        if self.source == "synthetic":
            n_weight, n_held_out = self.synthetic_sizes
            doc.update(
                n_weight=n_weight,
                n_held_out=n_held_out,
                seed=self.seed,
                image_size=self.image_size or NATIVE_IMAGE_SIZE[dataset],
            )
        else:
            doc.update(split=self.split)
            if self.subset:
                doc.update(n_weight=self.n_weight, n_held_out=self.n_held_out, seed=self.seed)
        return doc


@dataclass(frozen=True)
class RankEvalSpec:
    """The architecture set the harness fixes for rank correlation (algorithms.md section 8).

    `set`: sample (n uniform of 15,625, seeded) | all | connected | noniso | none (no rank evaluation).
    `targets`: (dataset, split) ground truths; the first is primary. Empty (the default): the search data set's
    test then valid accuracy (a CIFAR-100 search is judged on CIFAR-100 first), resolved by build_run_spec.
    `bn`, `calib_images`, `calib_batch_size`: the one scoring protocol of every method's candidates
    (harness.api.ScoringProtocol): "recalibrate" = per-arch BN statistics from fixed training batches, then
    eval mode; "native" = each method's own BN mode."""

    set: Literal["sample", "all", "connected", "noniso", "none"] = "sample"
    n: int = 1000
    seed: int = 0
    targets: tuple[str, ...] = ()
    bn: str = "recalibrate"
    calib_images: int = 2048
    calib_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.n < 1:
            raise InputError(f"rank_eval.n={self.n!r}; allowed: an integer >= 1 (at most the space's size)")
        if self.seed < 0:
            raise InputError(f"rank_eval.seed={self.seed!r}; allowed: an integer >= 0")
        if self.bn not in RANK_BN:
            raise InputError(f"rank_eval.bn={self.bn!r}; allowed: {', '.join(RANK_BN)}")
        for name in ("calib_images", "calib_batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"rank_eval.{name}={getattr(self, name)!r}; allowed: an integer >= 1")

    def target_pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(tuple(t.split(":", 1)) for t in self.targets)  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"set": self.set, "seed": self.seed, "targets": list(self.targets)}
        if self.set == "sample":
            doc["n"] = self.n
        doc["bn"] = self.bn
        if self.bn == "recalibrate":
            doc.update(calib_images=self.calib_images, calib_batch_size=self.calib_batch_size)
        return doc

    def scoring(self) -> Any:
        """The harness.api.ScoringProtocol the runner hands the algorithm's scorer."""
        from harness.api import ScoringProtocol

        return ScoringProtocol(bn=self.bn, calib_images=self.calib_images, calib_batch_size=self.calib_batch_size)


@dataclass(frozen=True)
class RunSpec:
    """One fully resolved run. `config` is the algorithm's frozen Config instance (defaults filled in)."""

    algorithm: str
    config: Any
    space: str
    search_dataset: str
    eval_datasets: tuple[str, ...]
    seed: int
    preset: str
    data: DataSpec
    rank_eval: RankEvalSpec
    variant: str = ""
    device: str = "cpu"  # the resolved device type ("cpu" | "cuda"): part of the run id
    data_root: str | None = None  # absolute; part of the run id for real data
    threads: int = 1  # torch CPU threads (CPU kernels round differently with other counts): part of the run id
    # provenance only (not part of the run id)
    overrides: tuple[tuple[str, str], ...] = ()

    def spec_dict(self) -> dict[str, Any]:
        """The `spec` object of spec.json (JSON-safe, fully resolved)."""
        return {
            "algorithm": self.algorithm,
            "config": to_jsonable(self.config),
            "space": self.space,
            "search_dataset": self.search_dataset,
            "eval_datasets": list(self.eval_datasets),
            "seed": self.seed,
            "preset": self.preset,
            "variant": self.variant,
            "data": self.data.to_dict(self.search_dataset),
            "rank_eval": self.rank_eval.to_dict(),
            "device": self.device,
            "data_root": self.data_root if self.data.source == "real" else None,
            "threads": self.threads,
        }

    @property
    def run_id(self) -> str:
        return compute_run_id(self.spec_dict(), judge_sha256(self.space))


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    runs: tuple[RunSpec, ...]
    source: str = ""


# ------------------------------------------------------------------------------------------------ hashing
def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compute_run_id(spec_dict: Mapping[str, Any], oracle_sha: str) -> str:
    payload = {"spec": spec_dict, "oracle_sha256": oracle_sha}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:12]


@functools.cache
def judge_sha256(space: str) -> str:
    """SHA-256 identity of the judge of space `space` ("n/a" for a space without one)."""
    from harness.spaces import get_space

    return str(get_space(space).judge.sha256)


def to_jsonable(value: Any) -> Any:
    """Dataclasses -> dicts (field order), tuples -> lists, enums -> values; refuses what JSON cannot hold."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"config value {value!r} of type {type(value).__name__} is not JSON-safe")


# --------------------------------------------------------------------------------------- typed overrides
def parse_set_args(items: Sequence[str]) -> dict[str, str]:
    """["a.b=1", "c=x,y"] -> {"a.b": "1", "c": "x,y"} (strings; typed later against the Config)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key=value")
        out[key] = value.strip()
    return out


def apply_overrides(obj: Any, overrides: Mapping[str, Any], *, from_text: bool, where: str = "config") -> Any:
    """A copy of dataclass instance `obj` with dotted-key `overrides` applied and type-checked.

    `from_text=True`: values are command-line strings (parsed per field type: tuples from comma lists, bools
    from true/false/1/0/yes/no, "none" for Optional). `from_text=False`: values come from TOML (lists, tables,
    numbers)."""
    tree: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = key.split(".")
        node = tree
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict) or nxt is value:
                raise InputError(f"{where}: key {key!r} conflicts with another override")
            node = nxt
        if parts[-1] in node and isinstance(node[parts[-1]], dict) and not isinstance(value, dict):
            raise InputError(f"{where}: key {key!r} conflicts with another override")
        if isinstance(value, Mapping) and isinstance(node.get(parts[-1]), dict):
            _merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = dict(value) if isinstance(value, Mapping) else value
    return _apply_tree(obj, tree, from_text=from_text, prefix="", where=where)


def _merge(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = dict(v) if isinstance(v, Mapping) else v


def _apply_tree(obj: Any, tree: Mapping[str, Any], *, from_text: bool, prefix: str, where: str) -> Any:
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(obj) if f.init}
    changes: dict[str, Any] = {}
    for name, value in tree.items():
        key = prefix + name
        if name not in fields:
            raise InputError(
                f"{where}: unknown key {key!r}; allowed: {', '.join(prefix + f for f in fields) or '(none)'}"
            )
        tp = hints[name]
        current = getattr(obj, name)
        if isinstance(value, Mapping):
            if not (dataclasses.is_dataclass(current) and not isinstance(current, type)):
                raise InputError(
                    f"{where}: key {key!r} is not a group; it takes one value of type {_tname(tp)}"
                )
            changes[name] = _apply_tree(current, value, from_text=from_text, prefix=key + ".", where=where)
        else:
            changes[name] = coerce(value, tp, key=key, from_text=from_text, where=where)
    try:
        return dataclasses.replace(obj, **changes)
    except (TypeError, ValueError) as exc:  # __post_init__ validation of the Config
        raise InputError(f"{where}: {exc}") from None


def _tname(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def coerce(value: Any, tp: Any, *, key: str, from_text: bool, where: str = "config") -> Any:
    """`value` converted to type `tp` or InputError naming the key, the value and what is allowed."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad(allowed: str) -> InputError:
        return InputError(f"{where}: {key}={value!r} is not allowed; expected {allowed}")

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if type(None) in args and (
            value is None or (from_text and str(value).strip().lower() in ("none", "null"))
        ):
            return None
        errors = []
        for arg in non_none:
            try:
                return coerce(value, arg, key=key, from_text=from_text, where=where)
            except InputError as exc:
                errors.append(str(exc))
        raise bad(" or ".join(_tname(a) for a in args))
    if origin is Literal:
        for allowed in args:
            if from_text and str(allowed) == str(value).strip():
                return allowed
            if not from_text and value == allowed and type(value) is type(allowed):
                return allowed
        raise bad("one of " + ", ".join(str(a) for a in args))
    if dataclasses.is_dataclass(tp):
        raise bad(f"a group of settings; set its fields as {key}.<field>=...")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value == member.value or str(value) == member.name or str(value) == str(member.value):
                return member
        raise bad("one of " + ", ".join(str(m.value) for m in tp))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and str(value).strip().lower() in _TRUE:
            return True
        if from_text and str(value).strip().lower() in _FALSE:
            return False
        raise bad("true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text:
            try:
                return int(str(value).strip())
            except ValueError:
                pass
        raise bad("an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text:
            try:
                return float(str(value).strip())
            except ValueError:
                pass
        raise bad("a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad("a string")
    if origin in (tuple, list) or tp in (tuple, list):
        if from_text:
            text = str(value).strip().strip("()[]")
            items: list[Any] = [s.strip() for s in text.split(",")] if text else []
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise bad("a list")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise bad(f"{len(args)} comma-separated values")
            return tuple(
                coerce(v, a, key=key, from_text=from_text, where=where)
                for v, a in zip(items, args, strict=True)
            )
        elem = args[0] if args else Any
        out = [coerce(v, elem, key=key, from_text=from_text, where=where) for v in items]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    raise bad(f"a value of type {_tname(tp)} (not settable from a config file)")


# ----------------------------------------------------------------------------------------------- presets
def preset_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.toml") if "preset" in _read_toml(p)))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; expected a TOML file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 TOML text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None


def load_preset(name: str) -> dict[str, Any]:
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file() or "preset" not in _read_toml(path):
        raise InputError(f"unknown preset {name!r}; allowed: {', '.join(preset_names())}")
    doc = _read_toml(path)
    _check_keys(doc, ("preset", "data", "rank_eval", "experiment", "algorithms", "spaces"), f"preset {name}")
    for space, table in doc.get("spaces", {}).items():
        registry.check_space(space)
        _check_keys(table, ("algorithms", "data", "rank_eval"), f"preset {name} [spaces.{space}]")
    return doc


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _space_table(preset: Mapping[str, Any], space: str | None, section: str) -> dict[str, Any]:
    """The preset's `[spaces.<key>.<section>]` table for `space` (its preset key), or {}."""
    if space is None:
        return {}
    from harness.spaces import get_space

    return dict(preset.get("spaces", {}).get(get_space(space).preset_key, {}).get(section, {}))


def _data_spec(
    preset: Mapping[str, Any], extra: Mapping[str, Any], where: str, space: str | None = None
) -> DataSpec:
    merged = {**preset.get("data", {}), **_space_table(preset, space, "data"), **extra}
    return apply_overrides(DataSpec(), merged, from_text=False, where=f"{where} [data]")


def _rank_spec(
    preset: Mapping[str, Any], extra: Mapping[str, Any], where: str, space: str | None = None
) -> RankEvalSpec:
    merged = {**preset.get("rank_eval", {}), **_space_table(preset, space, "rank_eval"), **extra}
    return apply_overrides(RankEvalSpec(), merged, from_text=False, where=f"{where} rank_eval")


def _resolve_rank_spec(spec: RankEvalSpec, space_obj: Any, search_dataset: str) -> RankEvalSpec:
    """Default targets (the search data set's test, then valid accuracy) filled in; targets and n checked
    against the space (n at most the number of architectures it enumerates)."""
    if not spec.targets:
        spec = dataclasses.replace(spec, targets=(f"{search_dataset}:test", f"{search_dataset}:valid"))
    for target in spec.targets:
        ds, sep, split = target.partition(":")
        if not sep or ds not in DATASETS or split not in GT_SPLITS:
            raise InputError(
                f"rank_eval target {target!r}; expected dataset:split with dataset in "
                f"{', '.join(DATASETS)} and split in {', '.join(GT_SPLITS)}"
            )
    enum = space_obj.enumeration
    if spec.set == "sample" and enum is not None and spec.n > enum.num_archs:
        raise InputError(
            f"rank_eval.n={spec.n}; allowed: 1..{enum.num_archs} (the architectures of {space_obj.name})"
        )
    return spec


def _resolve_split(cfg: Any, data_spec: DataSpec, algorithm: str) -> tuple[Any, DataSpec]:
    """(config, data spec) with the data split resolved from the method's `data_protocol`; an explicit
    data.split sets the method's protocol to match (or is refused when the method does not accept it)."""
    protocol = getattr(cfg, "data_protocol", None)
    if protocol is None:  # a method without data of its own (oracle-driven search)
        return cfg, dataclasses.replace(data_spec, split=data_spec.split or "train_half")
    if data_spec.split is None or data_spec.split == protocol_split(protocol):
        return cfg, dataclasses.replace(data_spec, split=protocol_split(protocol))
    wanted = next((p for p, split in PROTOCOL_SPLITS.items() if split == data_spec.split), data_spec.split)
    try:
        cfg = apply_overrides(cfg, {"data_protocol": wanted}, from_text=False, where=f"{algorithm} config")
    except InputError:
        raise InputError(
            f"data.split={data_spec.split!r} is not a data protocol of {algorithm} (its protocol: {protocol!r}); "
            f"drop data.split or set {algorithm}.data_protocol"
        ) from None
    return cfg, data_spec


def default_threads(jobs: int = 1) -> int:
    """The CPU threads one of `jobs` concurrent local runs gets: the cores this process may use (its affinity
    mask), divided evenly, at least 1. Two torch processes with all cores each slow each other 10-20x."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def _check_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"--threads {threads!r} is not allowed; expected an integer >= 1")
    return threads


def _device_type(device: str) -> str:
    """The device type a run will use: "auto" resolved now (CUDA when available), "cuda:N" -> "cuda"."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else device


def _check_dataset(name: str, what: str = "dataset") -> str:
    if name not in DATASETS:
        raise InputError(f"unknown {what} {name!r}; allowed: {', '.join(DATASETS)}")
    return name


def resolve_config(
    algorithm: str,
    preset_doc: Mapping[str, Any],
    *,
    space: str | None = None,
    toml_overrides: Mapping[str, Any] = (),
    set_overrides: Mapping[str, str] = (),
) -> Any:
    """The algorithm's Config: defaults <- preset [algorithms.<name>] <- preset [spaces.<space>.algorithms.<name>]
    <- TOML overrides <- --set strings."""
    cls = registry.algorithm_config_class(registry.check_algorithm(algorithm, jobs=True))
    try:
        cfg = cls()
    except TypeError as exc:
        raise TypeError(f"{algorithm}.Config must be constructible with defaults only: {exc}") from None
    preset_table = preset_doc.get("algorithms", {}).get(algorithm, {})
    name = preset_doc.get("preset", {}).get("name", "?")
    cfg = apply_overrides(
        cfg, _flatten(preset_table), from_text=False, where=f"preset {name} [algorithms.{algorithm}]"
    )
    space_table = _space_table(preset_doc, space, "algorithms").get(algorithm, {})
    cfg = apply_overrides(
        cfg, _flatten(space_table), from_text=False, where=f"preset {name} [spaces.{space}.algorithms.{algorithm}]"
    )
    cfg = apply_overrides(cfg, _flatten(dict(toml_overrides)), from_text=False, where=f"{algorithm} config")
    return apply_overrides(cfg, dict(set_overrides), from_text=True, where=f"--set ({algorithm})")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def _split_set(set_overrides: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """--set keys starting with data. / rank_eval. address the run's data / rank-eval spec; the rest the
    Config."""
    algo, data, rank = {}, {}, {}
    for k, v in set_overrides.items():
        if k.startswith("data."):
            data[k[5:]] = v
        elif k.startswith("rank_eval."):
            rank[k[10:]] = v
        else:
            algo[k] = v
    return algo, data, rank


def build_run_spec(
    *,
    algorithm: str,
    space: str,
    search_dataset: str,
    seed: int,
    preset: str,
    eval_datasets: Sequence[str] = DATASETS,
    config: Mapping[str, Any] = (),
    set_overrides: Mapping[str, str] = (),
    data: Mapping[str, Any] = (),
    rank_eval: Mapping[str, Any] = (),
    variant: str = "",
    device: str | None = None,
    data_root: str | None = None,
    threads: int | None = None,
) -> RunSpec:
    """Resolve one run from its parts (the `search` command and grid expansion both come through here).
    `threads` None: the cores this process may use (one process per core set; see default_threads)."""
    registry.check_algorithm(algorithm, jobs=True)
    from harness.spaces import get_space
    from harness.spaces.base import check_requirements

    space_obj = get_space(space)
    _check_dataset(search_dataset, "search dataset")
    space_obj.check_dataset(search_dataset, "search dataset")
    for ds in eval_datasets:
        _check_dataset(ds, "eval dataset")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed {seed!r} is not allowed; expected an integer >= 0")
    doc = load_preset(preset)
    set_algo, set_data, set_rank = _split_set(dict(set_overrides))
    where = f"preset {preset}"
    data_spec = apply_overrides(
        _data_spec(doc, dict(data), where, space), set_data, from_text=True, where="--set data"
    )
    rank_spec = _rank_spec(doc, dict(rank_eval), where, space)
    rank_spec = apply_overrides(rank_spec, set_rank, from_text=True, where="--set rank_eval")
    rank_spec = _resolve_rank_spec(rank_spec, space_obj, search_dataset)
    cfg = resolve_config(algorithm, doc, space=space, toml_overrides=config, set_overrides=set_algo)
    cfg, data_spec = _resolve_split(cfg, data_spec, algorithm)
    cls = registry.resolve_algorithm(algorithm)
    check_requirements(space_obj, getattr(cls, "requires", ()), f"algorithm {algorithm!r}")
    check_spec = getattr(cls, "check_spec", None)  # algorithm-specific refusals before any run folder exists
    if check_spec is not None:
        check_spec(cfg, space_obj)
    dev = device or doc.get("preset", {}).get("device", "auto")
    if dev not in DEVICES and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        raise InputError(f"device {dev!r} is not allowed; allowed: {', '.join(DEVICES)}, cuda:N")
    if data_spec.source == "embedded":
        if data_root:  # the user's own files replace the packaged subset: same split and sizes
            data_spec = dataclasses.replace(data_spec, source="real")
        elif search_dataset not in EMBEDDED_DATASETS:
            raise InputError(
                f"preset {preset} uses the embedded real subset, which holds {', '.join(EMBEDDED_DATASETS)} only; "
                f"for {search_dataset} pass --data-root PATH (the folder with the data sets)"
            )
    if data_spec.source == "real" and not data_root:
        raise InputError(
            f"preset {preset} uses real data; pass --data-root PATH (the folder with the data sets)"
        )
    return RunSpec(
        algorithm=algorithm,
        config=cfg,
        space=space,
        search_dataset=search_dataset,
        eval_datasets=tuple(eval_datasets),
        seed=seed,
        preset=preset,
        data=data_spec,
        rank_eval=rank_spec,
        variant=variant,
        device=_device_type(dev),
        data_root=str(Path(data_root).expanduser().resolve()) if data_root else None,
        threads=_check_threads(threads) if threads is not None else default_threads(),
        overrides=tuple(sorted(dict(set_overrides).items())),
    )


# ------------------------------------------------------------------------------------------- experiments
EXPERIMENT_KEYS = ("name", "space", "search_dataset", "eval_datasets", "seeds", "preset", "rank_eval", "data")
RUN_KEYS = ("algorithm", "config", "grid", "seeds", "variant", "finals_from")


def load_experiment(
    path: Path,
    *,
    set_overrides: Mapping[str, str] = (),
    device: str | None = None,
    data_root: str | None = None,
    out_dir: Path | None = None,
    threads: int | None = None,
) -> ExperimentSpec:
    """Read an experiment TOML and expand it (runs x grid points x seeds) into RunSpecs, in file order."""
    path = Path(path)
    doc = _read_toml(path)
    return experiment_from_dict(
        doc,
        source=str(path),
        set_overrides=set_overrides,
        device=device,
        data_root=data_root,
        out_dir=out_dir,
        threads=threads,
    )


def searched_finals(root: Path, space: str) -> list[str]:
    """The distinct final architectures (text form, sorted) of the completed search runs below `root` in
    `space` (training-from-scratch runs excluded): what `finals_from` trains."""
    from harness import records

    if not Path(root).is_dir():
        raise InputError(f"finals_from: {root} is not a directory")
    finals = set()
    for run_dir in records.find_run_dirs(Path(root)):
        doc = records.read_spec(run_dir)
        spec = doc.get("spec") or {}
        if doc.get("status") != "ok" or spec.get("algorithm") in registry.JOBS or spec.get("space") != space:
            continue
        arch = (doc.get("outcome") or {}).get("final_arch")
        if arch:
            finals.add(str(arch))
    return sorted(finals)


def experiment_from_dict(
    doc: Mapping[str, Any],
    *,
    source: str = "<dict>",
    set_overrides: Mapping[str, str] = (),
    device: str | None = None,
    data_root: str | None = None,
    out_dir: Path | None = None,
    threads: int | None = None,
) -> ExperimentSpec:
    """Expand an experiment document. A `[[runs]]` entry of the `train` job may say `finals_from = "out"` (the
    command's --out folder) or a folder path (relative to the experiment file): it then trains, per seed, every
    distinct final architecture of the completed search runs of the experiment's space found there."""
    _check_keys(doc, ("experiment", "runs", "data", "rank_eval"), source)
    exp = doc.get("experiment")
    if not isinstance(exp, Mapping):
        raise InputError(f"{source}: missing [experiment] table")
    _check_keys(exp, EXPERIMENT_KEYS, f"{source} [experiment]")
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        raise InputError(f"{source}: needs at least one [[runs]] entry with an algorithm")
    seeds = exp.get("seeds", [0])
    out: list[RunSpec] = []
    for i, run in enumerate(runs):
        _check_keys(run, RUN_KEYS, f"{source} runs[{i}]")
        if "algorithm" not in run:
            raise InputError(
                f"{source} runs[{i}]: missing 'algorithm'; allowed: {', '.join(registry.ALGORITHMS)}"
            )
        grid = run.get("grid", {})
        if not isinstance(grid, Mapping):
            raise InputError(f"{source} runs[{i}]: grid must be a table of lists")
        space = exp.get("space", registry.DEFAULT_SPACE)
        data = {**doc.get("data", {}), **exp.get("data", {})}
        if "finals_from" in run:
            if run["algorithm"] not in registry.JOBS or "arch" in run.get("config", {}) or "arch" in grid:
                raise InputError(f"{source} runs[{i}]: finals_from needs algorithm = \"train\" and no arch of its own")
            where = str(run["finals_from"])
            if where == "out" and out_dir is None:
                raise InputError(f"{source} runs[{i}]: finals_from = \"out\" needs the command's --out folder")
            folder = out_dir if where == "out" else (Path(source).parent / where)
            archs = searched_finals(Path(folder), space)
            if not archs:
                raise InputError(f"{source} runs[{i}]: no completed {space} search runs below {folder}")
            grid = {**grid, "arch": archs}
            data = {"split": "train_test", "image_size": None, **data}
        keys = sorted(_flatten(grid))
        values = [_as_list(_flatten(grid)[k], f"{source} runs[{i}] grid.{k}") for k in keys]
        for point in itertools.product(*values) if keys else [()]:
            cfg = {**_flatten(run.get("config", {})), **dict(zip(keys, point, strict=False))}
            variant = run.get("variant", "")
            if keys and "finals_from" not in run:
                label = ",".join(f"{k}={_label(v)}" for k, v in zip(keys, point, strict=False))
                variant = f"{variant}[{label}]" if variant else label
            for seed in run.get("seeds", seeds):
                out.append(
                    build_run_spec(
                        algorithm=run["algorithm"],
                        space=space,
                        search_dataset=exp.get("search_dataset", "cifar10"),
                        eval_datasets=tuple(exp.get("eval_datasets", DATASETS)),
                        seed=seed,
                        preset=exp.get("preset", "smoke"),
                        config=cfg,
                        set_overrides=set_overrides,
                        data=data,
                        rank_eval={**doc.get("rank_eval", {}), **exp.get("rank_eval", {})},
                        variant=str(variant),
                        device=device,
                        data_root=data_root,
                        threads=threads,
                    )
                )
    return ExperimentSpec(name=str(exp.get("name", Path(source).stem)), runs=tuple(out), source=source)


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a non-empty list of values")
    return value


def _label(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class GridPoint:
    """One (algorithm, config overrides, seed) of a grid that `runner.run_grid` expands and executes."""

    algorithm: str
    seed: int
    config: Mapping[str, Any] = field(default_factory=dict)  # dotted keys, TOML-typed values
    variant: str = ""
