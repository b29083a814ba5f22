"""`nas-harness query GENOTYPE --space darts`: the surrogate's predicted CIFAR-10 validation accuracy.

Every row carries the judge's label: these are predictions of a model fitted on NAS-Bench-301 data (100
epochs, C=32, 8 cells), not measured accuracies. The percentile places a prediction among a fixed seeded sample
of 10,000 uniform random cells (harness.spaces.darts.surrogate).
"""

from __future__ import annotations

import argparse

SHOWN = ("name", "predicted_valid_acc", "percentile", "epoch", "genotype")
DATASETS = ("cifar10",)


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.errors import InputError
    from harness.spaces import get_space
    from harness.spaces.darts.genotype import builtin_names
    from harness.spaces.darts.inspect import builtin_name
    from harness.spaces.darts.surrogate import MAX_EPOCH, SurrogateJudge
    from harness.tabular import write_rows

    for flag, value in (("--all", args.all or None), ("--seed", args.seed), ("--epochs", args.epochs),
                        ("--benchmark-file", args.benchmark_file)):
        if value is not None:
            raise InputError(f"{flag} is an NB201 benchmark option; the DARTS space takes GENOTYPE... [--epoch 1..98]")
    if args.dataset is not None and args.dataset not in DATASETS:
        raise InputError(
            f"dataset {args.dataset!r} is not available: the surrogate predicts CIFAR-10 validation accuracy only"
        )
    if not args.archs:
        raise InputError(
            f"no genotype given; pass built-in names ({', '.join(builtin_names())}), genotype text or JSON"
        )
    epoch = MAX_EPOCH if args.epoch is None else args.epoch
    values = get_space(args.space).values
    genotypes = [values.parse(token) for token in args.archs]
    judge = SurrogateJudge()
    predicted = judge.predict(genotypes, epoch=epoch)
    ranks = judge.percentile(predicted)
    print(f"note: {judge.label}; epoch {epoch}; percentile among {judge.reference_sample_size:,} uniform random "
          f"cells (seed {judge.reference_seed})", file=sys.stderr)
    rows = [
        {
            "name": builtin_name(g),
            "genotype": g.to_str(),
            "dataset": "cifar10",
            "split": "valid",
            "epoch": epoch,
            "predicted_valid_acc": float(v),
            "percentile": float(p),
            "judge": judge.name,
            "label": judge.label,
        }
        for g, v, p in zip(genotypes, predicted, ranks, strict=True)
    ]
    write_rows(rows, args.format, SHOWN)
    return 0
