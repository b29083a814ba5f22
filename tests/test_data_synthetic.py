"""The embedded synthetic data set: shapes, class count, determinism (in, across processes), learnability."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import pytest
import torch

from harness.data import ImageSet, SearchData, synthetic_search_data
from harness.errors import InputError


def _digest(d: SearchData) -> str:
    h = hashlib.sha256()
    for t in (d.weight.images, d.weight.labels, d.held_out.images, d.held_out.labels):
        h.update(t.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("dataset", "classes"), [("cifar10", 10), ("cifar100", 100), ("imagenet16-120", 120)]
)
def test_shapes_and_classes(dataset: str, classes: int) -> None:
    d = synthetic_search_data(dataset, n_weight=300, n_held_out=200, seed=3)
    assert d.num_classes == classes and d.source == "synthetic" and d.dataset == dataset
    assert isinstance(d.weight, ImageSet)
    assert d.weight.images.shape == (300, 3, 32, 32) and d.weight.images.dtype == torch.float32
    assert d.held_out.labels.shape == (200,) and d.held_out.labels.dtype == torch.int64
    assert len(d.weight) == 300 and len(d.held_out) == 200
    labels = torch.cat([d.weight.labels, d.held_out.labels])
    assert int(labels.min()) >= 0 and int(labels.max()) == classes - 1
    # balanced: class counts differ by at most one
    counts = torch.bincount(labels, minlength=classes)
    assert int(counts.max() - counts.min()) <= 1
    assert d.identity == f"synthetic:{dataset}:seed=3:n=300+200:size=32"


def test_image_size_16() -> None:
    d = synthetic_search_data("imagenet16-120", n_weight=64, n_held_out=64, seed=0, image_size=16)
    assert d.image_size == 16 and d.weight.images.shape == (64, 3, 16, 16)


def test_normalised_roughly() -> None:
    d = synthetic_search_data("cifar10", n_weight=2000, n_held_out=10, seed=0)
    x = d.weight.images
    assert abs(float(x.mean())) < 0.5 and 0.4 < float(x.std()) < 1.5


def test_same_seed_same_bytes_other_seed_differs() -> None:
    a = synthetic_search_data("cifar10", n_weight=128, n_held_out=64, seed=7)
    b = synthetic_search_data("cifar10", n_weight=128, n_held_out=64, seed=7)
    c = synthetic_search_data("cifar10", n_weight=128, n_held_out=64, seed=8)
    assert _digest(a) == _digest(b) != _digest(c)


def test_identical_across_processes() -> None:
    code = (
        "import hashlib;from harness.data import synthetic_search_data as s;"
        "d=s('cifar100',n_weight=200,n_held_out=100,seed=11);h=hashlib.sha256();"
        "[h.update(t.contiguous().numpy().tobytes()) for t in "
        "(d.weight.images,d.weight.labels,d.held_out.images,d.held_out.labels)];print(h.hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == _digest(synthetic_search_data("cifar100", n_weight=200, n_held_out=100, seed=11))


def test_fast_to_generate() -> None:
    synthetic_search_data("cifar10", n_weight=100, n_held_out=100, seed=0)  # warm-up
    t = time.perf_counter()
    synthetic_search_data("cifar10", n_weight=5000, n_held_out=5000, seed=0)
    # well under a second on an idle core; generous bound because the CI machine is shared
    assert time.perf_counter() - t < 2.5


def test_unknown_dataset_and_bad_sizes() -> None:
    with pytest.raises(InputError, match="unknown dataset"):
        synthetic_search_data("mnist", n_weight=10, n_held_out=10, seed=0)
    with pytest.raises(ValueError):
        synthetic_search_data("cifar10", n_weight=0, n_held_out=10, seed=0)
    with pytest.raises(ValueError):
        synthetic_search_data("cifar10", n_weight=10, n_held_out=10, seed=0, image_size=24)


def test_learnable_by_nearest_class_mean() -> None:
    """Class-conditional signal: a nearest-class-mean classifier fit on the weight half beats chance by far on
    the held-out half (a convnet does better still; this keeps the test in milliseconds)."""
    d = synthetic_search_data("cifar10", n_weight=1000, n_held_out=500, seed=0)
    xw = d.weight.images.flatten(1)
    means = torch.stack([xw[d.weight.labels == k].mean(0) for k in range(10)])
    pred = torch.cdist(d.held_out.images.flatten(1), means).argmin(1)
    acc = float((pred == d.held_out.labels).float().mean())
    assert acc > 0.5  # chance is 0.1
