"""Value types shared by every data path: an on-device image set and the search split built from it.

Why tensors and not a Dataset/DataLoader: the search sets are small enough (25k x 3 x 32 x 32 floats ~ 300 MB)
to live on the device, so batches are cut by indexing and augmented there, with no per-sample Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from harness.errors import InputError

#: dataset name -> (number of classes, native image side)
DATASETS: dict[str, tuple[int, int]] = {
    "cifar10": (10, 32),
    "cifar100": (100, 32),
    "imagenet16-120": (120, 16),
}

#: Per-channel mean / std in [0, 1] pixel units.
#: CIFAR-10: the statistics of the DARTS / GM-NAS / HEP-NAS search code (quark0/darts utils.py), equal to
#: NB201's (125.3, 123.0, 113.9) / 255 and (63.0, 62.1, 66.7) / 255 to 3 decimals. CIFAR-100 and ImageNet16:
#: the NB201 code's values (D-X-Y/AutoDL-Projects, xautodl/datasets/get_dataset_with_transform.py).
NORM_STATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
    "cifar100": ((129.3 / 255, 124.1 / 255, 112.4 / 255), (68.2 / 255, 65.4 / 255, 70.4 / 255)),
    "imagenet16-120": (
        (122.68 / 255, 116.66 / 255, 104.01 / 255),
        (63.22 / 255, 61.26 / 255, 65.09 / 255),
    ),
}


def check_dataset(dataset: str) -> str:
    """Return `dataset` if known, else raise InputError naming the allowed names."""
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    return dataset


def num_classes(dataset: str) -> int:
    return DATASETS[check_dataset(dataset)][0]


def black_value(dataset: str) -> tuple[float, float, float]:
    """The normalised value of a black pixel: what zero padding in pixel space becomes after normalisation."""
    mean, std = NORM_STATS[check_dataset(dataset)]
    return tuple(-m / s for m, s in zip(mean, std, strict=True))  # type: ignore[return-value]


def normalize_uint8(images: Tensor, dataset: str) -> Tensor:
    """uint8 [N,3,H,W] -> float32 normalised with the dataset's mean/std (same device)."""
    mean, std = NORM_STATS[check_dataset(dataset)]
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (images.to(torch.float32) / 255.0 - m) / s


@dataclass(frozen=True, eq=False)  # tensor equality is ambiguous: a set equals only itself
class ImageSet:
    """Normalised float32 images [N,3,H,W] and int64 labels [N], both on one device.

    `pad_value` is the per-channel value used when random-crop augmentation pads the border (a black pixel
    after normalisation, as torchvision's RandomCrop(padding=...) before Normalize gives); zeros if unknown.
    """

    images: Tensor
    labels: Tensor
    pad_value: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be [N,3,H,W], got {tuple(self.images.shape)}")
        if self.labels.dim() != 1 or self.labels.shape[0] != self.images.shape[0]:
            raise ValueError("labels must be [N] with N equal to the number of images")
        if self.images.device != self.labels.device:
            raise ValueError("images and labels must be on the same device")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def subset(self, index: Tensor) -> ImageSet:
        """Rows `index` (a LongTensor or slice), keeping pad_value."""
        if isinstance(index, Tensor):
            index = index.to(self.images.device)
        return ImageSet(self.images[index], self.labels[index], self.pad_value)

    def to(self, device: torch.device | str) -> ImageSet:
        return ImageSet(self.images.to(device), self.labels.to(device), self.pad_value)


@dataclass(frozen=True)
class SearchData:
    """What a search trains on: the weight half and the held-out half (alpha steps, selection, proxy scores).

    `identity` is stable text for run ids and provenance; equal identity means equal data.
    """

    dataset: str
    source: str  # "synthetic" | "real"
    num_classes: int
    image_size: int
    weight: ImageSet
    held_out: ImageSet
    identity: str
