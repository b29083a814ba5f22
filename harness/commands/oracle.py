"""`nas-harness oracle check | info`: verify the embedded ground truth against the pinned values of the data
README (shared/data/nb201/README.md), or show where it came from.

`check` exits 1 (CheckFailed) when any pinned value disagrees, so a corrupted or wrongly converted table is
caught
before it produces a number.
"""

from __future__ import annotations

import argparse

# (description, dataset, split, index, expected %) - pinned in shared/data/nb201/README.md
PINNED_ACCURACY = (
    ("index 0 CIFAR-10 test", "cifar10", "test", 0, 85.8633),
    ("index 0 cifar10-valid valid", "cifar10", "valid", 0, 81.9827),
    ("index 9930 CIFAR-10 test", "cifar10", "test", 9930, 94.3633),
    ("index 9930 cifar10-valid valid", "cifar10", "valid", 9930, 91.5533),
    ("all-skip cell CIFAR-10 test", "cifar10", "test", 1835, 54.2967),
)
PINNED_SEEDS = ((777, 82.092), (888, 81.616), (999, 82.240))  # index 0, cifar10-valid valid
# (dataset, split, column maximum, index holding it)
PINNED_MAXIMA = (
    ("cifar10", "valid", 91.6067, 6111),
    ("cifar10", "test", 94.3733, 6111),
    ("cifar100", "valid", 73.4933, 9930),
    ("cifar100", "test", 73.5133, 9930),
    ("imagenet16-120", "valid", 46.7333, 10676),
    ("imagenet16-120", "test", 47.3111, 857),
)
PINNED_STRINGS = (
    (0, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"),
    (9930, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
    (1835, "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"),
)
CHANCE = (
    ("cifar10", "test", 10.0),
    ("cifar10", "valid", 9.712),
    ("cifar100", "valid", 1.0),
    ("cifar100", "test", 1.0),
    ("imagenet16-120", "valid", 0.8333),
    ("imagenet16-120", "test", 0.8333),
)
TOL = 5e-5  # the README rounds to 4 decimals


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("oracle", help="check or describe the embedded NB201 ground truth")
    sub = p.add_subparsers(dest="oracle_command", required=True, metavar="ACTION")
    c = sub.add_parser("check", help="verify every pinned value of the data README (exit 1 on mismatch)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_check)
    i = sub.add_parser("info", help="file, SHA-256 and provenance of the embedded table")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_info)
    p.set_defaults(func=run_check)


def pinned_checks() -> list[dict[str, object]]:
    """Every pinned check as {check, expected, got, ok}."""
    import json
    from importlib import resources

    import numpy as np

    from harness.oracle.table import load_oracle
    from harness.spaces.nb201 import NUM_DISCONNECTED, NB201Arch, connected_mask

    oracle = load_oracle()
    out: list[dict[str, object]] = []

    def add(name: str, expected: object, got: object, ok: bool) -> None:
        out.append({"check": name, "expected": expected, "got": got, "ok": bool(ok)})

    def acc(index: object, dataset: str, split: str, seed: str | int = "mean") -> np.ndarray:
        return oracle.accuracy(
            np.atleast_1d(np.asarray(index, dtype=np.int64)),
            dataset=dataset,
            split=split,
            epochs=200,
            seed=seed,
        ).values

    for index, text in PINNED_STRINGS:
        got = NB201Arch.from_index(index).to_str()
        add(f"index {index} string", text, got, got == text)
    for name, dataset, split, index, expected in PINNED_ACCURACY:
        got = float(acc(index, dataset, split)[0])
        add(name, expected, round(got, 6), abs(got - expected) <= TOL)
    for seed, expected in PINNED_SEEDS:
        got = float(acc(0, "cifar10", "valid", seed)[0])
        add(f"index 0 cifar10-valid valid seed {seed}", expected, round(got, 6), abs(got - expected) <= TOL)
    every = np.arange(len(connected_mask()))
    for dataset, split, expected, index in PINNED_MAXIMA:
        values = acc(every, dataset, split)
        top = float(values.max())
        add(f"{dataset} {split} maximum", expected, round(top, 6), abs(top - expected) <= TOL)
        add(
            f"{dataset} {split} maximum at index {index}",
            expected,
            round(float(values[index]), 6),
            abs(values[index] - top) <= 1e-9,
        )
    params = float(oracle.cost(np.array([9930]), dataset="cifar10")["params_m"][0])
    add("index 9930 params (M, CIFAR-10)", 1.2885, round(params, 6), abs(params - 1.2885) <= TOL)
    disconnected = ~connected_mask()
    add(
        "disconnected cells",
        NUM_DISCONNECTED,
        int(disconnected.sum()),
        disconnected.sum() == NUM_DISCONNECTED,
    )
    for dataset, split, chance in CHANCE:
        vals = acc(np.flatnonzero(disconnected), dataset, split)
        worst = float(np.abs(vals - chance).max())
        add(
            f"disconnected cells at chance, {dataset} {split}",
            chance,
            f"max |diff| {worst:.2e}",
            worst <= TOL,
        )
    note = json.loads(
        resources.files("harness.oracle").joinpath("data", "nb201-oracle.provenance.json").read_text()
    )
    add(
        "packaged file SHA-256 equals provenance note",
        note["sha256"],
        oracle.sha256,
        note["sha256"] == oracle.sha256,
    )
    return out


def run_check(args: argparse.Namespace) -> int:
    import json
    import sys

    from harness.errors import CheckFailed

    checks = pinned_checks()
    failed = [c for c in checks if not c["ok"]]
    if getattr(args, "json", False):
        json.dump({"ok": not failed, "checks": checks}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        width = max(len(str(c["check"])) for c in checks)
        for c in checks:
            flag = "ok  " if c["ok"] else "FAIL"
            print(f"{flag}  {str(c['check']).ljust(width)}  expected {c['expected']}  got {c['got']}")
        print(f"{len(checks) - len(failed)} of {len(checks)} pinned checks passed")
    if failed:
        raise CheckFailed(
            f"{len(failed)} pinned value(s) differ: " + "; ".join(str(c["check"]) for c in failed)
        )
    return 0


def run_info(args: argparse.Namespace) -> int:
    import json
    import sys
    from importlib import resources

    from harness.oracle.table import load_oracle

    note = json.loads(
        resources.files("harness.oracle").joinpath("data", "nb201-oracle.provenance.json").read_text()
    )
    oracle = load_oracle()
    info = {"description": oracle.description, "sha256": oracle.sha256, "provenance": note}
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"{oracle.description}\nsha256 {oracle.sha256}\ntable family: {note['table_family']}")
    for line in note["sources"]:
        print(f"source: {line}")
    for line in note["conventions"]:
        print(f"convention: {line}")
    return 0
