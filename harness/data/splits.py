"""The official NB201 data splits, converted once into a packaged .npz (int32 index arrays, no pickle).

Source: repository D-X-Y/AutoDL-Projects, configs/nas-benchmark/ (MIT), copied to shared/data/nb201/splits/:
  cifar-split.txt                  CIFAR-10 train set (50k)   -> "train" / "valid" halves (25,000 / 25,000)
  cifar100-test-split.txt          CIFAR-100 test set (10k)   -> "xvalid" / "xtest" halves (5,000 / 5,000)
  imagenet-16-120-test-split.txt   ImageNet16-120 val (6k)    -> "xvalid" / "xtest" halves (3,000 / 3,000)
The text files are JSON dicts {"name": ["int", ["0", "5", ...]], ...}. Convert with
    python -m harness.data.splits --source ../shared/data/nb201/splits
which rewrites harness/data/splits/nb201_splits.npz and PROVENANCE.md (input SHA-256s).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.errors import InputError
from harness.records import atomic_write_bytes, atomic_write_text

PACKAGE_DIR = Path(__file__).resolve().parent / "splits"
PACKAGED_FILE = PACKAGE_DIR / "nb201_splits.npz"
PROVENANCE_FILE = PACKAGE_DIR / "PROVENANCE.md"

#: source file -> (dataset, {key in file: packaged part name}, expected count per part, size of indexed set)
SOURCES: dict[str, tuple[str, dict[str, str], int, int]] = {
    "cifar-split.txt": ("cifar10", {"train": "train", "valid": "valid"}, 25_000, 50_000),
    "cifar100-test-split.txt": ("cifar100", {"xvalid": "xvalid", "xtest": "xtest"}, 5_000, 10_000),
    "imagenet-16-120-test-split.txt": (
        "imagenet16-120",
        {"xvalid": "xvalid", "xtest": "xtest"},
        3_000,
        6_000,
    ),
}


def parse_split_text(text: str, name: str = "<text>") -> dict[str, np.ndarray]:
    """{"key": ["int", ["0", ...]]} -> {key: int32 array}; typed-string entries other than int are refused."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{name}: not a JSON split file ({err})") from err
    out: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if not (
            isinstance(value, list) and len(value) == 2 and value[0] == "int" and isinstance(value[1], list)
        ):
            raise InputError(f'{name}: entry {key!r} is not ["int", [...]]')
        out[key] = np.asarray([int(v) for v in value[1]], dtype=np.int32)
    return out


def convert(source: Path, dest_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """Read the official split files under `source`, check them, write nb201_splits.npz + PROVENANCE.md.

    Returns {file name: sha256}. Checks: expected counts, halves disjoint, indices inside the set.
    """
    source = Path(source)
    arrays: dict[str, np.ndarray] = {}
    hashes: dict[str, str] = {}
    for fname, (dataset, keys, count, size) in SOURCES.items():
        path = source / fname
        if not path.is_file():
            raise InputError(f"split file not found: {path}")
        data = path.read_bytes()
        hashes[fname] = hashlib.sha256(data).hexdigest()
        parsed = parse_split_text(data.decode("utf-8"), fname)
        parts = []
        for key, part in keys.items():
            if key not in parsed:
                raise InputError(f"{fname}: missing {key!r}")
            idx = parsed[key]
            if idx.size != count or idx.min() < 0 or idx.max() >= size or np.unique(idx).size != idx.size:
                raise InputError(
                    f"{fname}: {key!r} has {idx.size} indices (expected {count} unique in 0..{size - 1})"
                )
            arrays[f"{dataset}/{part}"] = idx
            parts.append(idx)
        if np.intersect1d(parts[0], parts[1]).size:
            raise InputError(f"{fname}: halves overlap")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(dest_dir / PACKAGED_FILE.name, buf.getvalue())
    lines = [
        "# NB201 data splits (packaged)",
        "",
        "`nb201_splits.npz`: int32 index arrays named `<dataset>/<part>`, written by",
        "`harness.data.splits.convert`",
        "from the official NAS-Bench-201 split files of repository D-X-Y/AutoDL-Projects,",
        "`configs/nas-benchmark/` (MIT licence), via `shared/data/nb201/splits/`.",
        "",
        "| source file | parts | sha256 |",
        "| --- | --- | --- |",
    ]
    for fname, (dataset, keys, count, _) in SOURCES.items():
        parts = ", ".join(f"{dataset}/{p} ({count:,})" for p in keys.values())
        lines.append(f"| `{fname}` | {parts} | `{hashes[fname]}` |")
    atomic_write_text(dest_dir / PROVENANCE_FILE.name, "\n".join(lines) + "\n")
    return hashes


@lru_cache(maxsize=1)
def _packaged() -> dict[str, np.ndarray]:
    if not PACKAGED_FILE.is_file():
        raise InputError(f"packaged split file missing: {PACKAGED_FILE} (run python -m harness.data.splits)")
    with np.load(PACKAGED_FILE, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def official_split(dataset: str, part: str) -> np.ndarray:
    """Packaged index array (int64 copy): cifar10 train/valid (of the train set); cifar100 and imagenet16-120
    xvalid/xtest (of the test set)."""
    key = f"{dataset}/{part}"
    arrays = _packaged()
    if key not in arrays:
        raise InputError(f"no official split {key!r}; available: {', '.join(sorted(arrays))}")
    return arrays[key].astype(np.int64)


def splits_sha256() -> str:
    """Content hash of the packaged index arrays (names and values; independent of zip timestamps)."""
    h = hashlib.sha256()
    for key, arr in sorted(_packaged().items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arr, dtype="<i4").tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.data.splits", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--source", type=Path, required=True, help="folder with the official split .txt files"
    )
    parser.add_argument("--dest", type=Path, default=PACKAGE_DIR, help="output folder (default: the package)")
    args = parser.parse_args(argv)
    try:
        hashes = convert(args.source, args.dest)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for fname, digest in hashes.items():
        print(f"{fname}  sha256={digest}")
    print(f"wrote {Path(args.dest) / PACKAGED_FILE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
