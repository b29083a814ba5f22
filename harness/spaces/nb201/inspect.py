"""`nas-harness inspect ARCH --space nb201`: build the benchmark network (C=16, N=5) and report its size.

params_m is counted from the built modules and flops_m (conv + linear MACs) by forward hooks on one image;
the analytic count and the benchmark's own values from the embedded table stand beside them.
"""

from __future__ import annotations

from typing import Any

from harness.errors import InputError
from harness.spaces.nb201.arch import NB201Arch

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")


def _benchmark_cost(arch: Any, dataset: str) -> tuple[float | None, float | None]:
    """The benchmark's params/FLOPs from the embedded table (NaN -> None: unknown)."""
    from harness.oracle.table import load_oracle

    cost = load_oracle().cost([arch], dataset=dataset)
    values = []
    for key in ("params_m", "flops_m"):
        v = float(cost[key][0])
        values.append(None if v != v else v)
    return values[0], values[1]


def inspect(arch: NB201Arch, dataset: str) -> dict[str, Any]:
    from harness.spaces.nb201.cost import count_params_flops, dataset_shape
    from harness.spaces.nb201.network import NB201Network, measure_params_flops

    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    shape = dataset_shape(dataset)
    net = NB201Network(arch, num_classes=shape.num_classes)
    params_m, flops_m = measure_params_flops(net, shape.image_size)
    analytic_params, analytic_flops = count_params_flops(
        arch, num_classes=shape.num_classes, image_size=shape.image_size
    )
    bench_params, bench_flops = _benchmark_cost(arch, dataset)
    return {
        "arch": arch.to_str(),
        "index": arch.index,
        "dataset": dataset,
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


def render(out: dict[str, Any]) -> str:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.6f}"

    return "\n".join(
        [
            f"arch        {out['arch']}  (index {out['index']}, connected: {out['connected']})",
            f"network     NB201 C=16 N=5, {out['num_classes']} classes, "
            f"{out['image_size']}x{out['image_size']} input",
            f"{'':11} {'computed':>12} {'analytic':>12} {'benchmark':>12}",
            f"{'params_m':11} {fmt(out['params_m']):>12} {fmt(out['analytic_params_m']):>12} "
            f"{fmt(out['benchmark_params_m']):>12}",
            f"{'flops_m':11} {fmt(out['flops_m']):>12} {fmt(out['analytic_flops_m']):>12} "
            f"{fmt(out['benchmark_flops_m']):>12}",
        ]
    )
