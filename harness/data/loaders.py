"""Readers for the real data sets in their official on-disk formats, from a user-named folder (--data-root).

Layouts looked for under `root` (the folder the official archive extracts to, or the files in `root` itself):
  cifar10          cifar-10-batches-py/  data_batch_1..5, test_batch       (pickles: b"data", b"labels")
  cifar100         cifar-100-python/     train, test                        (b"data", b"fine_labels")
  imagenet16-120   ImageNet16/           train_data_batch_1..10, val_data   (NB201's ImageNet 16x16:
                                         "data" uint8 rows of 768, "labels" 1-based over 1000 classes; the
                                         120-class set keeps labels <= 120, minus 1)
  cifar10 (JPEG)   cifar10-jpeg.zip      cifar10-jpeg/{train,test}/<class>/*.jpg (harness/data/jpeg.py; read
                                         only when the batch files are absent)
The official files are pickles, so they are opened only from the user's root and through a restricted
unpickler that accepts numpy arrays and plain containers and refuses any other global (no code runs).
Readers return uint8 numpy arrays [N,3,H,W] and int64 labels [N]; normalisation happens on the device later.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
IMAGENET16_DIR = "ImageNet16"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
CIFAR100_TRAIN = ("train",)
CIFAR100_TEST = ("test",)
IMAGENET16_TRAIN = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_TEST = ("val_data",)
IMAGENET16_CLASSES = 120

_FOLDER = {"cifar10": CIFAR10_DIR, "cifar100": CIFAR100_DIR, "imagenet16-120": IMAGENET16_DIR}
_FILES = {
    "cifar10": (CIFAR10_TRAIN, CIFAR10_TEST),
    "cifar100": (CIFAR100_TRAIN, CIFAR100_TEST),
    "imagenet16-120": (IMAGENET16_TRAIN, IMAGENET16_TEST),
}

# globals a numpy-array pickle needs (numpy 1.x and 2.x module names; py3 protocol-2 bytes via _codecs.encode)
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name} in a data file")


def read_pickle(path: Path, *, encoding: str = "bytes") -> dict[Any, Any]:
    """One official data-set pickle (user-named file), numpy arrays and containers only.

    Any failure is an InputError naming the file: the restricted unpickler refuses foreign globals, and a damaged
    or foreign file can fail anywhere inside pickle or numpy's reconstruction (EOFError, TypeError, KeyError,
    struct errors, MemoryError on a bogus length ...), none of which is a bug of ours."""
    try:
        with open(path, "rb") as fh:
            obj = _ArrayUnpickler(fh, encoding=encoding).load()
    except OSError as err:
        raise InputError(f"{path}: cannot read the data-set batch file ({err.strerror or err})") from None
    except Exception as err:  # damaged or foreign data: see the docstring
        raise InputError(f"{path}: not a readable data-set batch file ({type(err).__name__}: {_short(err)})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a dict batch, got {type(obj).__name__}")
    return obj


def _short(value: object, limit: int = 100) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _get(entry: dict[Any, Any], key: str, path: Path) -> Any:
    for k in (key, key.encode()):
        if k in entry:
            return entry[k]
    raise InputError(f"{path}: batch file has no {key!r} entry")


@dataclass(frozen=True)
class RawSplit:
    """uint8 images [N,3,S,S] and int64 labels [N] of one official split (train or test)."""

    images: np.ndarray
    labels: np.ndarray


def dataset_dir(dataset: str, root: Path) -> Path | None:
    """The folder holding `dataset`'s files under `root`, or None when they are not all there."""
    root = Path(root).expanduser()
    train, test = _FILES[dataset]
    candidates = [root / _FOLDER[dataset], root]
    if dataset == "imagenet16-120":
        candidates.insert(1, root / "imagenet16")
    for folder in candidates:
        if all((folder / name).is_file() for name in train + test):
            return folder
    return None


def jpeg_archive(dataset: str, root: Path) -> Path | None:
    """The CIFAR-10 JPEG zip under `root` (used when the batch files are absent), else None."""
    from harness.data import jpeg

    return jpeg.archive_path(root) if dataset == "cifar10" else None


def available(dataset: str, root: Path) -> bool:
    """Whether `root` holds `dataset` in a layout read_split reads."""
    return dataset_dir(dataset, root) is not None or jpeg_archive(dataset, root) is not None


def missing_message(dataset: str, root: Path) -> str:
    train, test = _FILES[dataset]
    where = Path(root).expanduser() / _FOLDER[dataset]
    how = {
        "cifar10": "extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
        "cifar100": "extract cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
        "imagenet16-120": "get the NB201 ImageNet16 files (downsampled ImageNet 16x16, image-net.org)",
    }[dataset]
    return f"{dataset} not found: put {', '.join(train + test)} in {where} ({how})"


def _read_batches(folder: Path, names: tuple[str, ...], label_key: str, side: int, enc: str) -> RawSplit:
    images, labels = [], []
    for name in names:
        path = folder / name
        entry = read_pickle(path, encoding=enc)
        try:
            data = np.asarray(_get(entry, "data", path), dtype=np.uint8)
            lab = np.asarray(_get(entry, label_key, path), dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as err:
            raise InputError(f"{path}: data or labels are not numeric arrays ({_short(err)})") from None
        if data.ndim != 2 or lab.ndim != 1 or data.shape[1] != 3 * side * side or data.shape[0] != lab.shape[0]:
            raise InputError(f"{path}: expected data [N,{3 * side * side}] and N labels, got {data.shape}")
        images.append(data.reshape(-1, 3, side, side))
        labels.append(lab)
    return RawSplit(np.concatenate(images), np.concatenate(labels))


def read_split(dataset: str, root: Path, part: str) -> RawSplit:
    """The official `part` ("train" | "test") of `dataset` from `root`; InputError naming files if absent."""
    if part not in ("train", "test"):
        raise ValueError(f"part must be train or test, got {part!r}")
    folder = dataset_dir(dataset, root)
    if folder is None:
        archive = jpeg_archive(dataset, root)
        if archive is None:
            raise InputError(missing_message(dataset, root))
        from harness.data import jpeg

        return RawSplit(*jpeg.read_part(archive, part))
    names = _FILES[dataset][0 if part == "train" else 1]
    if dataset == "cifar10":
        raw = _read_batches(folder, names, "labels", 32, "bytes")
        _check_labels(raw, 10, folder)
        return raw
    if dataset == "cifar100":
        raw = _read_batches(folder, names, "fine_labels", 32, "bytes")
        _check_labels(raw, 100, folder)
        return raw
    # NB201 reads these with latin1 (D-X-Y/AutoDL-Projects, xautodl/datasets/DownsampledImageNet.py): they
    # hold python-2 str keys, which "bytes" would leave as bytes; _get accepts both.
    raw = _read_batches(folder, names, "labels", 16, "latin1")
    keep = (raw.labels >= 1) & (raw.labels <= IMAGENET16_CLASSES)
    return RawSplit(np.ascontiguousarray(raw.images[keep]), raw.labels[keep] - 1)


def _check_labels(raw: RawSplit, classes: int, folder: Path) -> None:
    if raw.labels.size and (raw.labels.min() < 0 or raw.labels.max() >= classes):
        raise InputError(f"{folder}: labels outside 0..{classes - 1}")
