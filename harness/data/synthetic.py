"""The embedded `synthetic` data set: deterministic, learnable, class-conditional RGB images from a seed.

Why: smoke runs and tests need data that needs no files, is identical in every process for a seed, and that a
tiny convnet can learn (so a search has a signal). Each class gets a smooth random prototype (low-resolution
noise upsampled bilinearly, plus a class colour); an image is its class prototype shifted by up to 4 px, with
random contrast and brightness and pixel noise. Everything is drawn on the CPU from one seeded torch.Generator
(so the bytes are the same on every device) and then moved to the requested device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.data.types import NORM_STATS, ImageSet, SearchData, black_value, check_dataset, num_classes

_MAX_SHIFT = 4  # pixels, at 32x32 (scaled for 16x16)
_GRID = 4  # prototype detail: a GRID x GRID random field upsampled
_NOISE = 0.12  # pixel noise std in [0,1] units
_CANONICAL_SIZES = (32, 16)


def synthetic_images(
    n: int, *, classes: int, seed: int, image_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` float32 images [n,3,S,S] in [0,1] and int64 labels [n] (balanced, shuffled); CPU, deterministic."""
    if n < 0:
        raise ValueError("n must be >= 0")
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    shift = max(1, _MAX_SHIFT * image_size // 32)
    big = image_size + 2 * shift
    # class prototypes: smooth field in [0,1] plus a class colour
    field = torch.rand((classes, 3, _GRID, _GRID), generator=g)
    colour = torch.rand((classes, 3, 1, 1), generator=g)
    protos = F.interpolate(field, size=(big, big), mode="bilinear", align_corners=False)
    protos = 0.65 * protos + 0.35 * colour
    labels = torch.arange(n, dtype=torch.int64) % classes
    labels = labels[torch.randperm(n, generator=g)]
    oy = torch.randint(0, 2 * shift + 1, (n,), generator=g)
    ox = torch.randint(0, 2 * shift + 1, (n,), generator=g)
    contrast = 0.7 + 0.6 * torch.rand((n, 1, 1, 1), generator=g)
    bright = 0.15 * (torch.rand((n, 1, 1, 1), generator=g) - 0.5)
    # all shifted windows of every prototype as a view [classes,3,K,K,S,S]; one indexing copy picks them
    windows = protos.unfold(2, image_size, 1).unfold(3, image_size, 1)
    x = windows[labels, :, oy, ox]
    x.sub_(0.5).mul_(contrast).add_(0.5 + bright)
    x.add_(torch.randn(x.shape, generator=g), alpha=_NOISE).clamp_(0.0, 1.0)
    return x, labels


def synthetic_search_data(
    dataset: str,
    *,
    n_weight: int,
    n_held_out: int,
    seed: int,
    image_size: int = 32,
    device: torch.device | str = "cpu",
) -> SearchData:
    """Synthetic weight / held-out halves for `dataset` (class count 10 / 100 / 120 from its name).

    Both halves share the class prototypes (one generator); the first `n_weight` images are the weight half.
    """
    check_dataset(dataset)
    if image_size not in _CANONICAL_SIZES:
        raise ValueError(f"image_size must be one of {_CANONICAL_SIZES}, got {image_size}")
    if n_weight < 1 or n_held_out < 1:
        raise ValueError("n_weight and n_held_out must be >= 1")
    classes = num_classes(dataset)
    images, labels = synthetic_images(
        n_weight + n_held_out, classes=classes, seed=seed, image_size=image_size
    )
    mean, std = NORM_STATS[dataset]
    images.sub_(torch.tensor(mean).view(1, 3, 1, 1)).div_(torch.tensor(std).view(1, 3, 1, 1))
    images = images.to(device)
    labels = labels.to(device)
    pad = black_value(dataset)
    weight = ImageSet(images[:n_weight], labels[:n_weight], pad)
    held = ImageSet(images[n_weight:], labels[n_weight:], pad)
    identity = f"synthetic:{dataset}:seed={seed}:n={n_weight}+{n_held_out}:size={image_size}"
    return SearchData(
        dataset=dataset,
        source="synthetic",
        num_classes=classes,
        image_size=image_size,
        weight=weight,
        held_out=held,
        identity=identity,
    )
