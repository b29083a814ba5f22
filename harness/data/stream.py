"""Mini-batches cut from an on-device ImageSet: shuffled epochs (or the public code's fresh-iterator draws).

The only randomness is the caller's torch.Generator (shuffle order, then augmentation), so saving
`generator.get_state()` with a checkpoint is enough to resume a stream exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from harness.data.augment import cutout, random_crop_flip
from harness.data.types import ImageSet

SAMPLINGS = ("epoch", "fresh_iter")


class BatchStream:
    """One pass of `iter(stream)` is one epoch of `len(stream)` batches.

    sampling="epoch": a new permutation per epoch, batches are consecutive slices of it.
    sampling="fresh_iter": every batch is the first batch of a fresh shuffled iterator, i.e. `batch_size`
    distinct images drawn anew each step (with replacement across steps), as `next(iter(loader))` in the
    public DARTS / GM-NAS / HEP-NAS code does.
    """

    def __init__(
        self,
        images: ImageSet,
        *,
        batch_size: int,
        generator: torch.Generator,
        augment: bool,
        drop_last: bool = True,
        sampling: str = "epoch",
        cutout: int = 0,
    ) -> None:
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        n = len(images)
        if n == 0:
            raise ValueError("empty image set")
        if batch_size > n and (drop_last or sampling == "fresh_iter"):
            # an epoch of zero batches would make training silently do nothing
            raise ValueError(f"batch_size {batch_size} > {n} images (drop_last or sampling='fresh_iter')")
        self.images = images
        self.batch_size = batch_size
        self.generator = generator
        self.augment = augment
        self.drop_last = drop_last
        self.sampling = sampling
        if cutout < 0:
            raise ValueError("cutout must be >= 0 (0 = off)")
        self.cutout = cutout
        side = images.images.shape[-1]
        self.padding = max(1, side // 8)  # 4 at 32x32 (CIFAR), 2 at 16x16 (ImageNet16, as in NB201)

    def __len__(self) -> int:
        n, b = len(self.images), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def _batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        idx = idx.to(self.images.device)
        x = self.images.images.index_select(0, idx)
        y = self.images.labels.index_select(0, idx)
        if self.augment:
            x = random_crop_flip(x, self.generator, padding=self.padding, pad_value=self.images.pad_value)
            if self.cutout:
                x = cutout(x, self.generator, length=self.cutout)
        return x, y

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, b = len(self.images), self.batch_size
        gdev = self.generator.device
        steps = len(self)
        if self.sampling == "fresh_iter":
            for _ in range(steps):
                yield self._batch(torch.randperm(n, generator=self.generator, device=gdev)[:b])
            return
        perm = torch.randperm(n, generator=self.generator, device=gdev)
        for i in range(steps):
            yield self._batch(perm[i * b : (i + 1) * b])


def fixed_batches(images: ImageSet, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    """In-order batches without augmentation (the last one may be short): evaluation and proxy scoring."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    n = len(images)
    return [
        (images.images[i : i + batch_size], images.labels[i : i + batch_size])
        for i in range(0, n, batch_size)
    ]
