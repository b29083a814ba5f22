"""`nas-harness inspect GENOTYPE --space darts`: the evaluation network's size (auxiliary head excluded).

CIFAR: C=36, 20 layers; ImageNet: C=48, 14 layers, 224x224 (algorithms.md §2.7). Parameters exclude the
auxiliary head, as the DARTS papers publish them; multiply-adds count conv + linear layers for one image.
Published counts of built-in genotypes stand beside the computed ones.
"""

from __future__ import annotations

from typing import Any

from harness.spaces.darts.genotype import DartsGenotype, builtin_genotypes, published_params_m

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet")


def builtin_name(genotype: DartsGenotype) -> str | None:
    """The built-in name of a published genotype (pair order ignored), else None."""
    canonical = genotype.canonical()
    return next((n for n, g in builtin_genotypes().items() if g.canonical() == canonical), None)


def inspect(genotype: DartsGenotype, dataset: str) -> dict[str, Any]:
    from harness.spaces.darts.cost import count_params_madds, eval_setting

    setting = eval_setting(dataset)
    params_m, madds_m = count_params_madds(genotype, dataset)
    name = builtin_name(genotype)
    published = published_params_m(name).get(dataset) if name else None
    return {
        "genotype": genotype.to_str(),
        "name": name,
        "dataset": dataset,
        "C": setting.C,
        "layers": setting.layers,
        "image_size": setting.image_size,
        "num_classes": setting.num_classes,
        "params_m": params_m,
        "madds_m": madds_m,
        "published_params_m": published,
        "auxiliary_head": "excluded from params_m and madds_m",
    }


def render(out: dict[str, Any]) -> str:
    published = "n/a" if out["published_params_m"] is None else f"{out['published_params_m']:.3f}"
    return "\n".join(
        [
            f"genotype    {out['genotype']}" + (f"  ({out['name']})" if out["name"] else ""),
            f"network     DARTS evaluation network C={out['C']} layers={out['layers']}, {out['num_classes']} "
            f"classes, {out['image_size']}x{out['image_size']} input, auxiliary head excluded",
            f"params_m    {out['params_m']:.3f}  (published: {published})",
            f"madds_m     {out['madds_m']:.1f}",
        ]
    )
