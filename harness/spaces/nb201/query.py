"""`nas-harness query --space nb201`: NB201 ground truth for architectures (strings or benchmark indices), or all
of them.

The library oracle has no defaults; this command defaults to 200 epochs and the seed mean and says so on
stderr
in every output format. Values the oracle does not have print as "n/a" (JSON null), with the reason on stderr.
"""

from __future__ import annotations

import argparse

# Literal copies keep the import of this module light (tests pin them to harness.oracle.base).
DATASET_CHOICES = ("cifar10", "cifar100", "imagenet16-120")
EPOCH_CHOICES = (200, 12)
FORMATS = ("table", "json", "csv")
COLUMNS = (
    "index",
    "arch",
    "dataset",
    "epochs",
    "valid_acc",
    "test_acc",
    "n_seeds",
    "params_m",
    "flops_m",
    "train_time_per_epoch_s",
)


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.errors import InputError
    from harness.oracle.base import parse_seed_policy
    from harness.oracle.official import load_benchmark
    from harness.spaces.nb201 import NUM_ARCHS, parse_arch
    from harness.tabular import write_rows

    if args.dataset is None:
        raise InputError(f"--dataset is required for space nb201; allowed: {', '.join(DATASET_CHOICES)}")
    if args.dataset not in DATASET_CHOICES:
        raise InputError(f"unknown dataset {args.dataset!r}; allowed: {', '.join(DATASET_CHOICES)}")
    if args.epochs is not None and args.epochs not in EPOCH_CHOICES:
        raise InputError(f"--epochs {args.epochs} is not allowed for nb201; allowed: 200, 12")
    if args.epoch is not None:
        raise InputError("--epoch is a surrogate option; for nb201 use --epochs 200|12")
    if args.all and args.archs:
        raise InputError("give ARCH_OR_INDEX values or --all, not both")
    if not args.all and not args.archs:
        raise InputError("no architecture given; pass ARCH_OR_INDEX values (string or 0..15624) or --all")
    epochs = 200 if args.epochs is None else args.epochs
    seed = "mean" if args.seed is None else parse_seed_policy(args.seed)

    import numpy as np

    if args.all:
        idx = np.arange(NUM_ARCHS, dtype=np.int64)
    else:
        idx = np.array([parse_arch(token).index for token in args.archs], dtype=np.int64)
    oracle = load_benchmark(args.benchmark_file)

    defaults = []
    if args.epochs is None:
        defaults.append("--epochs 200")
    if args.seed is None:
        defaults.append("--seed mean")
    note = f"note: {epochs}-epoch results, {'mean over seeds' if seed == 'mean' else f'seed {seed}'}"
    if defaults:
        note += f" (defaults: {', '.join(defaults)})"

    columns: dict[str, list[float | None]] = {}
    counts: dict[str, np.ndarray] = {}
    for split in ("valid", "test"):
        kwargs = {"dataset": args.dataset, "split": split, "epochs": epochs, "seed": seed}
        have = oracle.available(idx, **kwargs)
        vals: list[float | None] = [None] * idx.size
        n_seeds = np.zeros(idx.size, dtype=np.int64)
        if have.any():
            res = oracle.accuracy(idx[have], **kwargs)
            for pos, v, n in zip(
                np.flatnonzero(have).tolist(), res.values.tolist(), res.n_seeds.tolist(), strict=True
            ):
                vals[pos], n_seeds[pos] = v, n
        if not have.all():
            from harness.oracle.base import OracleMiss

            try:
                oracle.accuracy(idx[~have][:1], **kwargs)
                reason = "not available"
            except OracleMiss as exc:
                reason = str(exc)
            print(
                f"note: {split}_acc is n/a for {int((~have).sum())} of {idx.size}: {reason}", file=sys.stderr
            )
        columns[split] = vals
        counts[split] = n_seeds
    cost = oracle.cost(idx, dataset=args.dataset)
    print(f"{note}; source: {oracle.description}", file=sys.stderr)  # after the lookups: one line on an error
    have_both = (counts["valid"] > 0) & (counts["test"] > 0)
    n_seeds = np.where(
        have_both, np.minimum(counts["valid"], counts["test"]), np.maximum(counts["valid"], counts["test"])
    )

    from harness.spaces.nb201 import NB201Arch, index_codes

    codes = index_codes()
    rows = []
    for k, i in enumerate(idx.tolist()):
        rows.append(
            {
                "index": i,
                "arch": NB201Arch.from_codes(codes[i]).to_str(),
                "dataset": args.dataset,
                "epochs": epochs,
                "valid_acc": columns["valid"][k],
                "test_acc": columns["test"][k],
                "n_seeds": int(n_seeds[k]) if n_seeds[k] > 0 else None,
                "n_seeds_valid": int(counts["valid"][k]) if counts["valid"][k] > 0 else None,
                "n_seeds_test": int(counts["test"][k]) if counts["test"][k] > 0 else None,
                "params_m": float(cost["params_m"][k]),
                "flops_m": float(cost["flops_m"][k]),
                "train_time_per_epoch_s": float(cost["train_time_per_epoch_s"][k]),
            }
        )
    write_rows(rows, args.format, SHOWN)
    return 0


SHOWN = (
    "index",
    "valid_acc",
    "test_acc",
    "n_seeds",
    "params_m",
    "flops_m",
    "train_time_per_epoch_s",
    "arch",
)
