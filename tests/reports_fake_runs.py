"""Fixture generator: FAKE run directories in the real run-record schema (design.md section 6).

Used by tests/test_reports*.py to test `reports/` and the check/baseline/report commands without running any
search. Every number is drawn from a seeded numpy RNG and is meaningless; the directories are only for testing
the readers and renderers. The column lists come from `harness.records` (what the runner writes), and
tests/test_records.py keeps the lists `reports/load.py` expects equal to them."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from harness.records import ARCHS_COLUMNS, RANK_COLUMNS, RECORDS_COLUMNS  # what the runner writes

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EVALS = (
    ("cifar10", "valid"),
    ("cifar10", "test"),
    ("cifar100", "valid"),
    ("cifar100", "test"),
    ("imagenet16-120", "valid"),
    ("imagenet16-120", "test"),
)
BASE_ACC = {"cifar10": 88.0, "cifar100": 65.0, "imagenet16-120": 38.0}
ALGO_LEVEL = {"darts": -20.0, "spos": -4.0, "fewshot": -2.0, "hepnas": 0.0, "random_search": -1.0}
SCORERS = ("spos", "fewshot", "hepnas")
#: rank.csv metrics of owner "all" a shared rank-eval sample computes from its scores instead of drawing them
SHARED_METRICS = ("kendall_tau", "spearman_rho")
STAGED = {"hepnas": (2, 4, 8), "fewshot": (5,)}

#: the seven DARTS ops a derived genotype can hold (`none` is never kept)
DARTS_OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
SURROGATE_LABEL = "surrogate (NB301 protocol: 100 epochs, C=32, 8 cells), not a measured accuracy"
JUDGES = {
    "benchmark": {
        "name": "nb201-table",
        "kind": "benchmark",
        "label": "NAS-Bench-201 ground truth (200 epochs, seed mean)",
        "sha256": "f" * 64,
    },
    "surrogate": {"name": "nb301-surrogate-v2", "kind": "surrogate", "label": SURROGATE_LABEL, "sha256": "d" * 64},
    "none": {"name": "none", "kind": "none", "label": "n/a (no judge for this space)", "sha256": "n/a"},
}


@dataclass(frozen=True)
class FakeSpace:
    """What the runner writes differently per space: judge targets, epochs, seeds, benchmark index, space size."""

    evals: tuple[tuple[str, str], ...]  # targets of final / stage_pick rows
    rank_evals: tuple[tuple[str, str], ...]  # targets of rank_eval rows and rank.csv
    epochs: int
    n_seeds: int
    size: int
    staged: dict[str, tuple[int, ...]] = field(default_factory=dict)
    rank_gt: tuple[float, float] = (10.0, 94.0)
    indexed: bool = True  # archs have a benchmark index


NB201 = FakeSpace(EVALS, (("cifar10", "test"), ("cifar10", "valid")), 200, 3, 15625, STAGED)
#: DARTS space: one surrogate target (CIFAR-10 valid, 100 epochs, no seeds, no index); HEP-NAS 4 stages of 4, 8,
#: 16, 32 children, few-shot one edge into 7; size = the number of genotypes (both DARTS spaces)
DARTS = FakeSpace(
    (("cifar10", "valid"),),
    (("cifar10", "valid"),),
    100,
    0,
    ((1 * 3 * 6 * 10) * 49**4) ** 2,
    {"hepnas": (4, 8, 16, 32), "fewshot": (7,)},
    (91.0, 95.0),
    False,
)


def fake_space(space: str) -> FakeSpace:
    return NB201 if space == "nb201" else DARTS


def _genotype_str(rng: np.random.Generator) -> str:
    """A random DARTS genotype in the canonical text form (two distinct inputs per node)."""
    cells = []
    for cell in ("normal", "reduce"):
        nodes = []
        for k in range(4):
            inputs = rng.choice(k + 2, size=2, replace=False)
            ops = rng.integers(len(DARTS_OPS), size=2)
            nodes.append("|".join(f"{DARTS_OPS[int(o)]}~{int(i)}" for o, i in zip(ops, inputs, strict=True)))
        cells.append(f"{cell}=" + "+".join(nodes))
    return ";".join(cells)


def _fake_arch(space: str, rng: np.random.Generator) -> str:
    return _arch_str(rng.integers(0, 5, size=6)) if space == "nb201" else _genotype_str(rng)


def _sample_arch(space: str, index: int, rng: np.random.Generator) -> str:
    """The arch of a shared rank-eval sample: NB201 arch number `index` (so distinct indices give distinct archs)."""
    return _arch_str(np.array([index // 5**k % 5 for k in range(6)])) if space == "nb201" else _genotype_str(rng)


def _from_scores(metric: str, scores: np.ndarray, truth: np.ndarray) -> float:
    """τ-b or ρ of the scores and ground truths as written to archs.csv (what the runner puts in rank.csv)."""
    fn = stats.kendalltau if metric == "kendall_tau" else stats.spearmanr
    return round(float(fn(np.round(scores, 3), np.round(truth, 3))[0]), 6)


def _arch_str(codes: np.ndarray) -> str:
    o = [OPS[int(c)] for c in codes]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[list[object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])


def _gt(rng: np.random.Generator, algorithm: str, dataset: str, split: str) -> float:
    return round(
        BASE_ACC[dataset]
        + ALGO_LEVEL.get(algorithm, 0.0)
        + (0.5 if split == "test" else 0.0)
        + float(rng.normal(0, 0.6)),
        4,
    )


def make_run(
    root: Path,
    algorithm: str,
    seed: int,
    *,
    search_dataset: str = "cifar10",
    variant: str | None = None,
    n_rank: int = 1000,
    status: str = "ok",
    device: str = "cpu",
    schema_version: object = 1,
    run_id: str | None = None,
    cost_scale: float = 1.0,
    final_acc: dict[tuple[str, str], float | None] | None = None,
    total_cost_s: float | None = None,
    space: str = "nb201",
    judge_kind: str | None = None,
    final_facts: dict[str, object] | None = None,
    final_arch: str | None = None,
    trained_test_acc_pct: float | None = None,
    rank_sample: int | None = None,
) -> Path:
    """Write one fake run directory and return it.

    `final_acc` fixes the final arch's ground truth per (dataset, split) (missing key / None = n/a, empty);
    `total_cost_s` fixes the search_total device seconds. Both make hand-checkable golden tables.
    `space` "darts" / "darts-s5" writes a DARTS-space run: surrogate judge (`judge_kind` overrides the space's
    judge: "benchmark", "surrogate", "none"), final row = (cifar10, valid, 100 epochs, 0 seeds, no index),
    genotype texts, and `outcome.final_facts` (`final_facts`; None = random params_m / surrogate_percentile).
    `final_arch` replaces the final arch text and `trained_test_acc_pct` goes to outcome.extras (a train run).
    `rank_sample` draws the rank-eval architectures and their ground truth from that seed, so runs passing the same
    value score the same set, as the runner's fixed rank-eval set (distinct NB201 archs; default: a set per run),
    and writes rank.csv's owner-"all" τ-b and ρ as computed from the written scores (default: random values).
    With the defaults an NB201 run is byte-identical to what this function wrote before these options.
    """
    fake = fake_space(space)
    key = f"{algorithm}|{variant}|{search_dataset}|{seed}" + ("" if space == "nb201" else f"|{space}")
    salt = sum(ord(c) * (i + 1) for i, c in enumerate(key))
    rng = np.random.default_rng(salt)
    run_id = run_id or f"{salt:012x}"[-12:]
    run_dir = Path(root) / algorithm / run_id
    run_dir.mkdir(parents=True)
    spec_doc = {
        "schema_version": schema_version,
        "run_id": run_id,
        "spec": {
            "algorithm": algorithm,
            "config": {"epochs": 1},
            "space": space,
            "search_dataset": search_dataset,
            "eval_datasets": ["cifar10", "cifar100", "imagenet16-120"] if space == "nb201" else ["cifar10"],
            "seed": seed,
            "preset": "smoke",
            "data": {"source": "synthetic"},
            "rank_eval": {"set": "sample", "n": n_rank, "seed": 0},
            "variant": variant or "",
        },
        "provenance": {
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "git_dirty": False,
            "versions": {"python": "3.11"},
            "device": device,
            "oracle_sha256": JUDGES[judge_kind or ("benchmark" if space == "nb201" else "surrogate")]["sha256"],
            "judge": JUDGES[judge_kind or ("benchmark" if space == "nb201" else "surrogate")],
            "data_identity": f"synthetic:{search_dataset}:seed={seed}",
            "rank_eval_sha256": "e" * 64,
        },
        "status": status,
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "error": None
        if status == "ok"
        else {"type": "RuntimeError", "message": "fake failure", "traceback": ""},
    }

    records: list[list[object]] = []
    for epoch in range(2):
        records.append(["supernet", None, None, epoch, epoch * 10, "train_loss", round(2.3 - 0.1 * epoch, 4)])
    # like harness.runner: stage rows (phase "stage"), children rows, then cost rows ending with search_total
    remaining = fake.size
    archs: list[list[object]] = [["final", None, None, "", None, None, "", "", "", "", "", ""]]  # placeholder
    picks: list[int] = []
    for stage, n_children in enumerate(fake.staged.get(algorithm, ()), start=1):
        pick = int(rng.integers(n_children))
        picks.append(pick)
        child_size = remaining // n_children
        records.append(["stage", stage, None, None, None, "remaining_space", child_size])
        records.append(["stage", stage, None, None, None, "device_s", 1.0])  # per-stage cost summary
        # like the runner: a pick that carries an arch is repeated once per eval dataset x split
        pick_arch = _fake_arch(space, rng)
        for d, s in fake.evals:
            archs.append(["stage_pick", stage, pick, pick_arch, None, None, "", d, s, fake.epochs, "", ""])
        for child in range(n_children):
            held_out = round(float(rng.uniform(20, 40)), 3)
            records.append(["stage", stage, child, None, None, "remaining_space", child_size])
            records.append(["stage", stage, child, None, None, "held_out_acc_pct", held_out])
            records.append(["stage", stage, child, None, None, "selected", int(child == pick)])
            archs.append(["child", stage, child, "", None, held_out, "held_out_acc_pct", "", "", "", "", ""])
        remaining = child_size
    total = 0.0
    for phase in ["supernet"] + [f"stage{s + 1}" for s in range(len(picks))] + ["final"]:
        secs = round(float(rng.uniform(5, 15)) * cost_scale, 3)
        total += secs
        records.append([phase, None, None, None, None, "device_s", secs])
        records.append([phase, None, None, None, None, "wall_s", secs])
        records.append([f"{phase}/inner", None, None, None, None, "device_s", secs / 2])  # nested: not summed
    total = total if total_cost_s is None else total_cost_s
    records.append(["search_total", None, None, None, None, "device_s", round(total, 3)])
    records.append(["search_total", None, None, None, None, "wall_s", round(total, 3)])
    arch_text = _fake_arch(space, rng)
    final_index = int(rng.integers(15625)) if fake.indexed else None
    arch_text = arch_text if final_arch is None else final_arch
    archs.pop(0)
    for d, s in fake.evals:
        archs.insert(
            0,
            [
                "final",
                None,
                None,
                arch_text,
                final_index,
                None,
                "",
                d,
                s,
                fake.epochs,
                _final_value(space, rng, algorithm, d, s) if final_acc is None else final_acc.get((d, s)),
                fake.n_seeds,
            ],
        )
    if algorithm in SCORERS:
        sample_rng = rng if rank_sample is None else np.random.default_rng(rank_sample)
        idx = sample_rng.choice(15625, size=n_rank, replace=False)
        gt = sample_rng.uniform(*fake.rank_gt, size=n_rank)
        shared = None if rank_sample is None else [_sample_arch(space, int(i), sample_rng) for i in idx]
        score = gt * 0.3 + rng.normal(0, 8, size=n_rank)
        owners_of = []
        for _ in range(n_rank):  # owner = the sub-supernet whose region holds the arch (deeper = kept longer)
            owner = "one-shot"
            for stage, n_children in enumerate(fake.staged.get(algorithm, ()), start=1):
                child = int(rng.integers(n_children))
                owner = f"stage{stage}/child{child}"
                if child != picks[stage - 1]:
                    break
            owners_of.append(owner)
        for i in range(n_rank):
            m = owners_of[i].split("/")
            stage = int(m[0][5:]) if len(m) == 2 else None
            child = int(m[1][5:]) if len(m) == 2 else None
            for d, s in fake.rank_evals:
                archs.append(
                    [
                        "rank_eval",
                        stage,
                        child,
                        _fake_arch(space, rng) if shared is None else shared[i],
                        int(idx[i]) if fake.indexed else None,
                        round(float(score[i]), 3),
                        "supernet_held_out_acc_pct",
                        d,
                        s,
                        fake.epochs,
                        round(float(gt[i]) - (0.5 if s == "valid" and space == "nb201" else 0), 3),
                        fake.n_seeds,
                    ]
                )
        rank: list[list[object]] = []
        owners = ["all", *sorted(set(owners_of) - {"one-shot"})[:3]]
        for owner in owners:
            for d, s in fake.rank_evals:
                sets = (("all", n_rank), ("connected", n_rank - 20)) if space == "nb201" else (("all", n_rank),)
                for arch_set, n in sets:
                    n_here = n if owner == "all" else n // 8
                    for metric in (
                        "kendall_tau",
                        "spearman_rho",
                        "precision_at_1pct",
                        "precision_at_5pct",
                        "precision_at_10pct",
                        "n_ties",
                    ):
                        value = 0 if metric == "n_ties" else round(float(rng.uniform(0.1, 0.6)), 4)
                        if shared is not None and (owner, arch_set) == ("all", "all") and metric in SHARED_METRICS:
                            value = _from_scores(metric, score, gt - (0.5 if s == "valid" and space == "nb201" else 0))
                        rank.append([owner, d, s, arch_set, n_here, metric, value])
        _write_csv(run_dir / "rank.csv", RANK_COLUMNS, rank)
    _write_csv(run_dir / "records.csv", RECORDS_COLUMNS, records)
    _write_csv(run_dir / "archs.csv", ARCHS_COLUMNS, archs)
    outcome = _outcome(space, rng, arch_text, final_facts, final_arch, trained_test_acc_pct)
    if outcome is not None:
        spec_doc["outcome"] = outcome
    (run_dir / "spec.json").write_text(json.dumps(spec_doc, indent=2, sort_keys=True), encoding="utf-8")
    return run_dir


def _final_value(space: str, rng: np.random.Generator, algorithm: str, dataset: str, split: str) -> float:
    """The judge's value of the final arch: NB201 ground truth, or a surrogate-like prediction (~94%)."""
    if space == "nb201":
        return _gt(rng, algorithm, dataset, split)
    return round(94.0 + ALGO_LEVEL.get(algorithm, 0.0) / 10 + float(rng.normal(0, 0.3)), 4)


def _outcome(
    space: str,
    rng: np.random.Generator,
    arch_text: str,
    final_facts: dict[str, object] | None,
    final_arch: str | None,
    trained_test_acc_pct: float | None,
) -> dict[str, object] | None:
    """spec.json `outcome` (None for a default NB201 run, whose spec.json never had one: keeps it byte-identical)."""
    if space == "nb201" and final_facts is None and final_arch is None and trained_test_acc_pct is None:
        return None
    if final_facts is None and space != "nb201":
        final_facts = {
            "params_m": round(float(rng.uniform(2.5, 4.0)), 3),
            "surrogate_percentile": round(float(rng.uniform(50, 100)), 2),
        }
    outcome: dict[str, object] = {
        "final_arch": arch_text,
        "final_index": None,
        "selection_rule": "fake",
        "extras": {} if trained_test_acc_pct is None else {"trained_test_acc_pct": trained_test_acc_pct},
    }
    if final_facts is not None:
        outcome["final_facts"] = final_facts
    return outcome


def make_comparison(
    root: Path,
    *,
    algorithms: tuple[str, ...] = ("darts", "spos", "fewshot", "hepnas"),
    seeds: tuple[int, ...] = (0, 1, 2, 3),
    n_rank: int = 1000,
    space: str = "nb201",
    device: str = "cpu",
    rank_sample: int | None = None,
) -> Path:
    """The shape `compare` produces: <root>/<algorithm>/<run_id>/ for every (algorithm, seed); `rank_sample`: see
    make_run (one rank-eval set for every run, as the runner's)."""
    for algorithm in algorithms:
        for seed in seeds:
            make_run(root, algorithm, seed, n_rank=n_rank, space=space, device=device, rank_sample=rank_sample)
    return Path(root)
