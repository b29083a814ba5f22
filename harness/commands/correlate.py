"""`nas-harness correlate`: rank agreement of any estimator's scores with NB201 ground truth.

Input: a CSV with columns `arch` (benchmark string or index) and `score` (higher = better) for any subset
of the
space, e.g. a supernet's or a zero-cost proxy's predictions from any codebase. Ground truth is 200 epochs
(or 12)
and the seed mean, always stated. Metrics follow algorithms.md §8 and are reported for all given archs and for
the connected ones only (the 341 disconnected cells tie at chance level).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DATASET_CHOICES = ("cifar10", "cifar100", "imagenet16-120")
SPLIT_CHOICES = ("valid", "test", "valtest")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "correlate",
        help="Kendall tau-b, Spearman rho, P@K, BR@K of a score file against NB201 ground truth",
        description="Rank correlation of scores (CSV columns arch, score; higher = better) "
        "with the ground truth.",
    )
    p.add_argument("--scores", required=True, type=Path, metavar="FILE.csv")
    p.add_argument("--dataset", required=True, type=str.lower, choices=DATASET_CHOICES)
    p.add_argument("--split", required=True, type=str.lower, choices=SPLIT_CHOICES)
    p.add_argument(
        "--epochs", type=int, choices=(200, 12), default=200, help="ground-truth schedule (default 200)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--benchmark-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="official benchmark file to use instead of the embedded table (only files you trust)",
    )
    p.set_defaults(func=run)


def read_scores(path: Path) -> tuple[list[int], list[float]]:
    """(benchmark indices, scores) from a CSV; any problem is an InputError naming the file, row and value.

    The file must be UTF-8 text (a UTF-8 byte-order mark is accepted, as spreadsheet programs write one): a file
    in another encoding or a binary file is refused with the offending byte, never read into wrong names."""
    import csv
    import io
    import math

    from harness.errors import InputError
    from harness.spaces.nb201 import parse_arch

    if not path.is_file():
        raise InputError(f"score file {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"score file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"score file {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as a UTF-8 CSV with columns arch, score"
        ) from None
    if "\x00" in text:
        raise InputError(f"score file {path} holds NUL bytes (a binary file?); expected a UTF-8 CSV")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = [c for c in ("arch", "score") if c not in fields]
        if missing:
            found = ", ".join(_short(f) for f in fields[:10]) or "none"
            raise InputError(
                f"{path} lacks column(s) {', '.join(missing)}; found: {found}; required: arch, score"
            )
        reader.fieldnames = fields
        indices: list[int] = []
        scores: list[float] = []
        seen: dict[int, int] = {}
        for row in reader:
            line = reader.line_num
            token = (_cell(row.get("arch"))).strip()
            try:
                index = parse_arch(token).index
            except InputError as exc:
                raise InputError(f"{path} line {line}: {exc}") from None
            text_score = _cell(row.get("score")).strip()
            try:
                value = float(text_score)
            except ValueError:
                raise InputError(f"{path} line {line}: score {_short(text_score)} is not a number") from None
            if not math.isfinite(value):
                raise InputError(f"{path} line {line}: score {_short(text_score)} is not finite")
            if index in seen:
                raise InputError(f"{path} line {line}: arch {index} ({token}) duplicates line {seen[index]}")
            seen[index] = line
            indices.append(index)
            scores.append(value)
    except csv.Error as exc:
        raise InputError(f"{path} is not a readable CSV ({exc}); expected columns arch, score") from None
    if not indices:
        raise InputError(f"{path} has no rows")
    return indices, scores


def _cell(value: object) -> str:
    """A DictReader cell as text: a short row gives None, surplus fields land in a list under the None key."""
    return value if isinstance(value, str) else ""


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def correlate(
    indices: list[int], scores: list[float], *, oracle: object, dataset: str, split: str, epochs: int
) -> dict[str, object]:
    import numpy as np

    from harness.metrics import rank_report
    from harness.spaces.nb201 import connected_mask

    idx = np.asarray(indices, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    truth = oracle.accuracy(idx, dataset=dataset, split=split, epochs=epochs, seed="mean").values  # type: ignore[attr-defined]
    connected = connected_mask()[idx]
    report = rank_report(s, truth, index=idx)
    report["connected"] = rank_report(s, truth, index=idx, include=connected)
    return {
        "dataset": dataset,
        "split": split,
        "epochs": epochs,
        "seed": "mean",
        "oracle_sha256": oracle.sha256,  # type: ignore[attr-defined]
        "n_disconnected": int((~connected).sum()),
        **report,
    }


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from harness.oracle.base import validate_query
    from harness.oracle.official import load_benchmark

    validate_query(args.dataset, args.split, args.epochs, "mean")
    indices, scores = read_scores(args.scores)
    oracle = load_benchmark(args.benchmark_file)
    result = correlate(
        indices, scores, oracle=oracle, dataset=args.dataset, split=args.split, epochs=args.epochs
    )
    result = {"scores": str(args.scores), **result}
    print(
        f"note: ground truth {args.dataset} {args.split}, {args.epochs} epochs, mean over seeds; "
        f"source: {oracle.description}",
        file=sys.stderr,
    )
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0

    def fmt(v: object) -> str:
        return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    conn = result["connected"]
    lines = [("metric", "all", "connected"), ("n", fmt(result["n"]), fmt(conn["n"]))]
    for key in ("kendall_tau", "spearman_rho"):
        lines.append((key, fmt(result[key]), fmt(conn[key])))
    for group in ("precision_at_k", "best_rank_at_k", "topk_kendall_tau"):
        for k, v in result[group].items():
            lines.append((f"{group}@{k}%", fmt(v), fmt(conn[group][k])))
    lines.append(("tied_pairs", fmt(result["ties"]["pairs"]), fmt(conn["ties"]["pairs"])))
    widths = [max(len(r[c]) for r in lines) for c in range(3)]
    for r in lines:
        print(r[0].ljust(widths[0]) + "  " + r[1].rjust(widths[1]) + "  " + r[2].rjust(widths[2]))
    for scope, rep in (("all", result), ("connected", conn)):
        for name, reason in rep["reasons"].items():
            print(f"note: {scope} {name} is n/a: {reason}", file=sys.stderr)
    return 0
