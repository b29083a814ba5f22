"""`nas-harness inspect ARCH --space nb201 --dataset D`: build the benchmark network and report its size.

Prints params_m (counted from the built modules) and flops_m (conv + linear MACs counted by forward hooks on
one image), the analytic count, and the benchmark's own values from the embedded oracle beside them.
"""

from __future__ import annotations

import argparse

SPACES = ("nb201",)
DATASET_CHOICES = ("cifar10", "cifar100", "imagenet16-120")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="build an architecture's network and print its params and FLOPs",
        description="Build the benchmark network (C=16, N=5) of an NB201 architecture (string or "
        "index) and print "
        "its parameter count and FLOPs (millions), beside the benchmark's values.",
    )
    p.add_argument("arch", metavar="ARCH", help="benchmark architecture string or index 0..15624")
    p.add_argument("--space", default="nb201", help="search space (only nb201)")
    p.add_argument("--dataset", required=True, type=str.lower, help=f"one of {', '.join(DATASET_CHOICES)}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _benchmark_cost(arch, dataset: str) -> tuple[float | None, float | None]:
    """The benchmark's params/FLOPs from the embedded oracle; (None, None) when no oracle is installed."""
    try:
        from harness.oracle.table import load_oracle
    except ImportError:  # oracle package absent: values are unknown, printed as n/a
        return None, None
    cost = load_oracle().cost([arch], dataset=dataset)
    values = []
    for key in ("params_m", "flops_m"):
        v = float(cost[key][0])
        values.append(None if v != v else v)  # NaN -> unknown
    return values[0], values[1]


def run(args: argparse.Namespace) -> int:
    import json

    from harness.errors import InputError
    from harness.models.nb201_cost import count_params_flops, dataset_shape
    from harness.spaces.nb201 import parse_arch

    if args.space != "nb201":
        raise InputError(f"unknown space {args.space!r}; allowed: {', '.join(SPACES)}")
    if args.dataset not in DATASET_CHOICES:
        raise InputError(f"unknown dataset {args.dataset!r}; allowed: {', '.join(DATASET_CHOICES)}")
    arch = parse_arch(args.arch)
    shape = dataset_shape(args.dataset)

    from harness.models.nb201_network import NB201Network, measure_params_flops

    net = NB201Network(arch, num_classes=shape.num_classes)
    params_m, flops_m = measure_params_flops(net, shape.image_size)
    analytic_params, analytic_flops = count_params_flops(
        arch, num_classes=shape.num_classes, image_size=shape.image_size
    )
    bench_params, bench_flops = _benchmark_cost(arch, args.dataset)
    out = {
        "arch": arch.to_str(),
        "index": arch.index,
        "dataset": args.dataset,
        "C": 16,
        "N": 5,
        "image_size": shape.image_size,
        "num_classes": shape.num_classes,
        "params_m": params_m,
        "flops_m": flops_m,
        "analytic_params_m": analytic_params,
        "analytic_flops_m": analytic_flops,
        "benchmark_params_m": bench_params,
        "benchmark_flops_m": bench_flops,
        "connected": arch.is_connected(),
    }
    if args.json:
        print(json.dumps(out))
        return 0

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.6f}"

    print(f"arch        {out['arch']}  (index {out['index']}, connected: {out['connected']})")
    print(
        f"network     NB201 C=16 N=5, {shape.num_classes} classes, "
        f"{shape.image_size}x{shape.image_size} input"
    )
    print(f"{'':11} {'computed':>12} {'analytic':>12} {'benchmark':>12}")
    print(f"{'params_m':11} {fmt(params_m):>12} {fmt(analytic_params):>12} {fmt(bench_params):>12}")
    print(f"{'flops_m':11} {fmt(flops_m):>12} {fmt(analytic_flops):>12} {fmt(bench_flops):>12}")
    return 0
