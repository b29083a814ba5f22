"""BatchStream / fixed_batches / on-device augmentation."""

from __future__ import annotations

import pytest
import torch

from harness.data import BatchStream, ImageSet, fixed_batches
from harness.data.augment import random_crop_flip


def _set(n: int = 100, side: int = 32) -> ImageSet:
    images = torch.arange(n * 3 * side * side, dtype=torch.float32).view(n, 3, side, side)
    return ImageSet(images, torch.arange(n, dtype=torch.int64), (-1.0, -2.0, -3.0))


def test_epoch_is_a_permutation_and_len() -> None:
    s = BatchStream(_set(100), batch_size=32, generator=torch.Generator().manual_seed(0), augment=False)
    assert len(s) == 3
    seen = torch.cat([y for _, y in s])
    assert seen.shape == (96,) and seen.unique().numel() == 96
    s2 = BatchStream(
        _set(100), batch_size=32, generator=torch.Generator().manual_seed(0), augment=False, drop_last=False
    )
    assert len(s2) == 4
    assert sorted(torch.cat([y for _, y in s2]).tolist()) == list(range(100))


def test_images_follow_labels() -> None:
    data = _set(50)
    for x, y in BatchStream(data, batch_size=10, generator=torch.Generator().manual_seed(1), augment=False):
        assert torch.equal(x, data.images[y])


def test_epochs_differ_and_seed_reproduces() -> None:
    def run(seed: int) -> list[list[int]]:
        s = BatchStream(_set(64), batch_size=16, generator=torch.Generator().manual_seed(seed), augment=True)
        return [torch.cat([y for _, y in s]).tolist() for _ in range(2)]

    a, b = run(5), run(5)
    assert a == b and a[0] != a[1] and run(6) != a


def test_fresh_iter_draws_with_replacement_across_steps() -> None:
    s = BatchStream(
        _set(40),
        batch_size=8,
        generator=torch.Generator().manual_seed(0),
        augment=False,
        sampling="fresh_iter",
    )
    assert len(s) == 5
    batches = [y for _, y in s]
    assert all(b.unique().numel() == 8 for b in batches)  # distinct within a batch
    assert torch.cat(batches).unique().numel() < 40  # with replacement across batches (almost surely)


def test_bad_arguments() -> None:
    g = torch.Generator()
    with pytest.raises(ValueError):
        BatchStream(_set(10), batch_size=4, generator=g, augment=False, sampling="bogus")
    with pytest.raises(ValueError):
        BatchStream(_set(10), batch_size=11, generator=g, augment=False)


def test_fixed_batches_in_order_and_views() -> None:
    data = _set(10)
    batches = fixed_batches(data, 4)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), data.labels)
    assert torch.equal(torch.cat([x for x, _ in batches]), data.images)


def _reference_crop_flip(x: torch.Tensor, oy: int, ox: int, flip: bool, pad: int, fill) -> torch.Tensor:
    c, h, w = x.shape
    p = torch.empty(c, h + 2 * pad, w + 2 * pad)
    for k in range(c):
        p[k] = fill[k]
    p[:, pad : pad + h, pad : pad + w] = x
    out = p[:, oy : oy + h, ox : ox + w]
    return out.flip(2) if flip else out


@pytest.mark.parametrize("side", [32, 16])
def test_augment_matches_per_sample_reference(side: int) -> None:
    """The batched gather equals a plain per-sample crop+flip with the same random draws."""
    pad = side // 8
    x = torch.randn(12, 3, side, side, generator=torch.Generator().manual_seed(0))
    fill = (-1.0, 0.5, 2.0)
    out = random_crop_flip(x, torch.Generator().manual_seed(9), padding=pad, pad_value=fill)
    g = torch.Generator().manual_seed(9)  # replay the documented draw order
    oy = torch.randint(0, 2 * pad + 1, (12,), generator=g)
    ox = torch.randint(0, 2 * pad + 1, (12,), generator=g)
    flip = torch.rand((12,), generator=g) < 0.5
    for i in range(12):
        ref = _reference_crop_flip(x[i], int(oy[i]), int(ox[i]), bool(flip[i]), pad, fill)
        assert torch.equal(out[i], ref)
    assert out.shape == x.shape
    assert not torch.equal(out, x)


def test_augment_padding_uses_pad_value() -> None:
    """Border pixels that come from padding carry the set's pad value (black after normalisation)."""
    data = ImageSet(
        torch.full((256, 3, 32, 32), 7.0), torch.zeros(256, dtype=torch.int64), (-1.0, -2.0, -3.0)
    )
    s = BatchStream(data, batch_size=256, generator=torch.Generator().manual_seed(0), augment=True)
    x, _ = next(iter(s))
    values = set(torch.unique(x).tolist())
    assert values == {7.0, -1.0, -2.0, -3.0}


@pytest.mark.gpu
def test_cuda_stream_matches_cpu_stream() -> None:
    """A CPU generator drives the shuffle and augmentation, so CUDA batches equal CPU batches exactly."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from harness.data import synthetic_search_data

    cpu = synthetic_search_data("cifar10", n_weight=512, n_held_out=64, seed=0)
    gpu = synthetic_search_data("cifar10", n_weight=512, n_held_out=64, seed=0, device="cuda")
    a = BatchStream(cpu.weight, batch_size=128, generator=torch.Generator().manual_seed(3), augment=True)
    b = BatchStream(gpu.weight, batch_size=128, generator=torch.Generator().manual_seed(3), augment=True)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xb.is_cuda and torch.equal(xa, xb.cpu()) and torch.equal(ya, yb.cpu())
