"""Real search data: which images form the weight half and the held-out half (algorithms.md section 1).

  train_half      the training set split by index: first half = weight half, second half = held-out half
                  (DARTS / GM-NAS / HEP-NAS, train_portion 0.5; CIFAR 25k / 25k; ImageNet16-120 75,850 each)
  nb201_official  AutoDL-style NB201 baselines: CIFAR-10 weight / held-out = the official cifar-split.txt
                  train / valid halves of the train set; CIFAR-100 and ImageNet16-120 weight = full train set,
                  held-out = the x-valid half of the test set (packaged official split files)
  train_test      not a search split: training from scratch (`nas-harness train`) trains on the whole training
                  set and measures on the whole test set ("weight" = train, "held_out" = test)
The identity string hashes the split indices and the image bytes, so provenance names exactly what was used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from harness.data import loaders, splits
from harness.data.download import ensure_dataset
from harness.data.types import DATASETS, ImageSet, SearchData, black_value, check_dataset, normalize_uint8
from harness.errors import InputError

SEARCH_SPLITS = ("train_half", "nb201_official", "train_test")

#: MD5 of the original archives' files (https://www.cs.toronto.edu/~kriz/cifar.html; the same values torchvision
#: checks). The official NB201 split indexes images by position, so it needs these files, in this order.
ORIGINAL_MD5: dict[str, dict[str, str]] = {
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"},
}


def check_official_order(dataset: str, root: Path) -> None:
    """InputError unless `root` holds the original files of `dataset`, whose image order the official split
    indexes (a re-encoded or re-ordered copy, such as the project's CIFAR-10 JPEG copy, selects other images).
    ImageNet16-120 has no published checksums: its order is trusted."""
    expected = ORIGINAL_MD5.get(dataset)
    folder = loaders.dataset_dir(dataset, Path(root))
    archive = loaders.jpeg_archive(dataset, Path(root)) if folder is None else None
    if expected is not None and archive is not None:
        raise InputError(
            f"data split nb201_official needs the original {dataset} files (it indexes their image order), but "
            f"{Path(root)} holds a JPEG copy ({archive}); use a protocol with a seeded split instead: "
            "--set data_protocol=train_half"
        )
    if expected is None or folder is None:
        return
    for name, md5 in expected.items():
        digest = hashlib.md5((folder / name).read_bytes(), usedforsecurity=False).hexdigest()
        if digest != md5:
            raise InputError(
                f"data split nb201_official needs the original {dataset} files (it indexes their image order), "
                f"but {folder / name} differs (md5 {digest}, original {md5}; e.g. a JPEG or re-ordered copy); "
                "use a protocol with a seeded split instead: --set data_protocol=train_half"
            )


def split_indices(dataset: str, split: str, n_train: int) -> tuple[str, np.ndarray, str, np.ndarray]:
    """(weight part, weight indices, held-out part, held-out indices); parts are "train" or "test"."""
    if split == "train_half":
        half = n_train // 2
        return "train", np.arange(half), "train", np.arange(half, n_train)
    if split == "nb201_official":
        if dataset == "cifar10":
            return (
                "train",
                splits.official_split("cifar10", "train"),
                "train",
                splits.official_split("cifar10", "valid"),
            )
        return "train", np.arange(n_train), "test", splits.official_split(dataset, "xvalid")
    if split == "train_test":
        return "train", np.arange(n_train), "test", np.arange(0)  # empty = the whole test set (size known later)
    raise InputError(f"unknown search split {split!r}; allowed: {', '.join(SEARCH_SPLITS)}")


def balanced_subset(labels: np.ndarray, idx: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` of the positions `idx`, class-balanced: each class gets n // C images, and the n % C classes first in
    a seeded shuffle of the classes one more; within a class, a seeded random choice. Returned in increasing
    order (the batch streams shuffle; evaluation keeps the data set's own order). InputError if a class is short.
    """
    if n > idx.size:
        raise InputError(f"data subset of {n} images asked from a split part of {idx.size}; allowed: 1..{idx.size}")
    classes = np.unique(labels[idx])
    extra = set(rng.permutation(classes)[: n % classes.size].tolist())
    chosen = []
    for c in classes:
        members = idx[labels[idx] == c]
        k = n // classes.size + (1 if int(c) in extra else 0)
        if k > members.size:
            raise InputError(
                f"data subset of {n} images needs {k} of class {int(c)}, but that part holds {members.size}; "
                f"allowed: at most {members.size * classes.size} class-balanced images"
            )
        chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def _subset_label(n_weight: int | None, n_held_out: int | None, seed: int) -> str:
    if n_weight is None and n_held_out is None:
        return ""
    return f":n={n_weight or 'all'}+{n_held_out or 'all'}:seed={seed}"


def _to_set(raw: loaders.RawSplit, idx: np.ndarray, dataset: str, device: torch.device | str) -> ImageSet:
    images = torch.from_numpy(np.ascontiguousarray(raw.images[idx])).to(device)
    labels = torch.from_numpy(raw.labels[idx].astype(np.int64)).to(device)
    return ImageSet(normalize_uint8(images, dataset), labels, black_value(dataset))


def load_search_data(
    dataset: str,
    *,
    root: Path,
    split: str = "train_half",
    device: torch.device | str = "cpu",
    download: bool = True,
    n_weight: int | None = None,
    n_held_out: int | None = None,
    subset_seed: int = 0,
) -> SearchData:
    """Weight / held-out halves of the real `dataset` from the user's `root` (CIFAR downloaded if absent).

    `n_weight` / `n_held_out` (None: the whole part) keep a class-balanced subset of each part, drawn with numpy
    PCG64 seeded by `subset_seed` (weight part first, then held-out part, from one generator); the identity
    names the sizes and seed and hashes the indices kept."""
    check_dataset(dataset)
    if split not in SEARCH_SPLITS:
        raise InputError(f"unknown search split {split!r}; allowed: {', '.join(SEARCH_SPLITS)}")
    ensure_dataset(dataset, Path(root), download=download)
    if split == "nb201_official":
        check_official_order(dataset, Path(root))
    train = loaders.read_split(dataset, Path(root), "train")
    w_part, w_idx, h_part, h_idx = split_indices(dataset, split, train.labels.shape[0])
    parts = {"train": train}
    if "test" in (w_part, h_part):
        parts["test"] = loaders.read_split(dataset, Path(root), "test")
    if split == "train_test":
        h_idx = np.arange(parts["test"].labels.shape[0])
    for part, idx in ((w_part, w_idx), (h_part, h_idx)):
        n = parts[part].labels.shape[0]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise InputError(
                f"{dataset} {part} set has {n} images; split {split!r} indexes up to {int(idx.max())} "
                "(the official split needs the complete set): index outside the images read"
            )
    rng = np.random.default_rng(subset_seed)
    if n_weight is not None:
        w_idx = balanced_subset(parts[w_part].labels, w_idx, n_weight, rng)
    if n_held_out is not None:
        h_idx = balanced_subset(parts[h_part].labels, h_idx, n_held_out, rng)
    h = hashlib.sha256(f"{dataset}:{split}".encode())
    for part, idx in ((w_part, w_idx), (h_part, h_idx)):
        raw = parts[part]
        h.update(part.encode())
        h.update(np.ascontiguousarray(idx, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(raw.images[idx]).tobytes())
        h.update(np.ascontiguousarray(raw.labels[idx], dtype="<i8").tobytes())
    classes, size = DATASETS[dataset]
    return SearchData(
        dataset=dataset,
        source="real",
        num_classes=classes,
        image_size=size,
        weight=_to_set(parts[w_part], w_idx, dataset, device),
        held_out=_to_set(parts[h_part], h_idx, dataset, device),
        identity=f"{dataset}:{split}{_subset_label(n_weight, n_held_out, subset_seed)}:{h.hexdigest()[:16]}",
    )
