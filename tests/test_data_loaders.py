"""Real-format loader tests: files written in the official CIFAR-10, CIFAR-100 and ImageNet16 formats (from
the shared samples) into tmp_path, read back through the public loader; download and offline paths, offline.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import NORM_STATS, load_search_data, loaders
from harness.data import download as dl
from harness.data.splits import official_split
from harness.errors import InputError

# the samples were normalised with these (README: "the usual CIFAR mean/std"; recovered from the data's range)
SAMPLE_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(1, 3, 1, 1)
SAMPLE_STD = np.array([0.2023, 0.1994, 0.2010], dtype=np.float32).reshape(1, 3, 1, 1)


def _cifar_uint8(shared: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    npz = np.load(shared / "samples" / f"{name}_sample320.npz", allow_pickle=False)
    x = np.clip(np.rint((npz["x"] * SAMPLE_STD + SAMPLE_MEAN) * 255.0), 0, 255).astype(np.uint8)
    return x, npz["y"].astype(np.int64)


def _write_pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_cifar10(root: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Official layout: cifar-10-batches-py/data_batch_1..5 + test_batch, dicts with bytes keys."""
    folder = root / "cifar-10-batches-py"
    chunks = np.array_split(np.arange(len(y)), 5)
    for i, idx in enumerate(chunks, start=1):
        _write_pickle(
            folder / f"data_batch_{i}",
            {
                b"batch_label": b"training batch",
                b"labels": y[idx].tolist(),
                b"data": x[idx].reshape(len(idx), -1),
            },
        )
    _write_pickle(folder / "test_batch", {b"labels": y[:64].tolist(), b"data": x[:64].reshape(64, -1)})
    return folder


def _expected_norm(x: np.ndarray, dataset: str) -> torch.Tensor:
    mean, std = NORM_STATS[dataset]
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (torch.from_numpy(x).float() / 255.0 - m) / s


def test_sample_denormalisation_is_exact(shared_nb201: Path) -> None:
    npz = np.load(shared_nb201 / "samples" / "cifar10_sample320.npz", allow_pickle=False)
    x, _ = _cifar_uint8(shared_nb201, "cifar10")
    back = (x.astype(np.float32) / 255.0 - SAMPLE_MEAN) / SAMPLE_STD
    assert np.abs(back - npz["x"]).max() < 1e-4  # the samples are uint8 images, normalised


def test_cifar10_roundtrip_train_half(shared_nb201: Path, tmp_path: Path) -> None:
    x, y = _cifar_uint8(shared_nb201, "cifar10")
    write_cifar10(tmp_path, x, y)
    raw = loaders.read_split("cifar10", tmp_path, "train")
    assert raw.images.shape == (320, 3, 32, 32) and raw.images.dtype == np.uint8
    assert np.array_equal(raw.images, x) and np.array_equal(raw.labels, y)
    test = loaders.read_split("cifar10", tmp_path, "test")
    assert np.array_equal(test.images, x[:64])

    d = load_search_data("cifar10", root=tmp_path, split="train_half", download=False)
    assert d.source == "real" and d.num_classes == 10 and d.image_size == 32
    assert len(d.weight) == 160 and len(d.held_out) == 160
    assert torch.equal(d.weight.labels, torch.from_numpy(y[:160]))
    assert torch.equal(d.held_out.labels, torch.from_numpy(y[160:]))
    assert torch.allclose(d.weight.images, _expected_norm(x[:160], "cifar10"), atol=1e-6)
    assert d.identity.startswith("cifar10:train_half:")
    again = load_search_data("cifar10", root=tmp_path, split="train_half", download=False)
    assert again.identity == d.identity
    # black pixel padding value after normalisation
    assert d.weight.pad_value[0] == pytest.approx(-NORM_STATS["cifar10"][0][0] / NORM_STATS["cifar10"][1][0])


def test_cifar10_official_split_needs_the_original_files(shared_nb201: Path, tmp_path: Path) -> None:
    x, y = _cifar_uint8(shared_nb201, "cifar10")
    write_cifar10(tmp_path, x, y)
    with pytest.raises(InputError, match="needs the original cifar10 files"):
        load_search_data("cifar10", root=tmp_path, split="nb201_official", download=False)


def test_cifar100_roundtrip(shared_nb201: Path, tmp_path: Path) -> None:
    x, y = _cifar_uint8(shared_nb201, "cifar100")
    folder = tmp_path / "cifar-100-python"
    _write_pickle(
        folder / "train",
        {
            b"filenames": [b"f"] * 256,
            b"fine_labels": y[:256].tolist(),
            b"coarse_labels": (y[:256] // 5).tolist(),
            b"data": x[:256].reshape(256, -1),
        },
    )
    _write_pickle(folder / "test", {b"fine_labels": y[256:].tolist(), b"data": x[256:].reshape(64, -1)})
    raw = loaders.read_split("cifar100", tmp_path, "test")
    assert np.array_equal(raw.images, x[256:]) and np.array_equal(raw.labels, y[256:])
    d = load_search_data("cifar100", root=tmp_path, download=False)
    assert d.num_classes == 100 and len(d.weight) == 128 and len(d.held_out) == 128
    assert torch.allclose(d.held_out.images, _expected_norm(x[128:256], "cifar100"), atol=1e-6)


def _write_imagenet16(root: Path, x: np.ndarray, file_labels: np.ndarray, n_test: int) -> Path:
    folder = root / "ImageNet16"
    chunks = np.array_split(np.arange(len(file_labels)), 10)
    for i, idx in enumerate(chunks, start=1):
        _write_pickle(
            folder / f"train_data_batch_{i}",
            {
                "data": x[idx].reshape(len(idx), -1),
                "labels": file_labels[idx].tolist(),
                "mean": np.zeros(768),
            },
        )
    reps = -(-n_test // len(file_labels))
    tx = np.concatenate([x] * reps)[:n_test]
    tl = (np.arange(n_test) % 120) + 1  # every test label in the 120-class subset
    _write_pickle(folder / "val_data", {"data": tx.reshape(n_test, -1), "labels": tl.tolist()})
    return folder


def test_imagenet16_filters_to_120_classes_and_official_split(shared_nb201: Path, tmp_path: Path) -> None:
    npz = np.load(shared_nb201 / "samples" / "imagenet_sample320.npz", allow_pickle=False)
    x = npz["x"]
    # the samples carry 1000-class labels (README); written here as the files' 1-based labels
    file_labels = npz["y"].astype(np.int64) + 1
    _write_imagenet16(tmp_path, x, file_labels, n_test=6000)
    raw = loaders.read_split("imagenet16-120", tmp_path, "train")
    keep = file_labels <= 120
    assert 0 < keep.sum() < len(keep)
    assert np.array_equal(raw.images, x[keep]) and np.array_equal(raw.labels, file_labels[keep] - 1)
    assert raw.labels.min() >= 0 and raw.labels.max() <= 119

    d = load_search_data("imagenet16-120", root=tmp_path, split="nb201_official", download=False)
    assert d.num_classes == 120 and d.image_size == 16 and d.weight.images.shape[1:] == (3, 16, 16)
    assert len(d.weight) == int(keep.sum())  # full (filtered) train set
    xvalid = official_split("imagenet16-120", "xvalid")
    test = loaders.read_split("imagenet16-120", tmp_path, "test")
    assert len(d.held_out) == 3000
    assert torch.equal(d.held_out.labels, torch.from_numpy(test.labels[xvalid]))
    half = load_search_data("imagenet16-120", root=tmp_path, split="train_half", download=False)
    assert half.identity != d.identity and len(half.weight) == int(keep.sum()) // 2


def test_missing_files_offline_message(tmp_path: Path) -> None:
    for ds in ("cifar10", "cifar100", "imagenet16-120"):
        with pytest.raises(InputError, match=f"{ds} not found: put .* in {tmp_path}"):
            load_search_data(ds, root=tmp_path, download=False)
    with pytest.raises(InputError, match="unknown search split"):
        load_search_data("cifar10", root=tmp_path, split="bogus", download=False)


def test_refuses_pickles_with_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    folder = tmp_path / "cifar-100-python"
    _write_pickle(folder / "train", {b"data": Evil(), b"fine_labels": []})
    _write_pickle(folder / "test", {b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [0]})
    with pytest.raises(InputError, match="refusing global"):
        loaders.read_split("cifar100", tmp_path, "train")


# ----- download (urlopen mocked: tests never touch the network) ---------------------------------------------


class _FakeResponse(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def _cifar10_archive(shared: Path, tmp: Path) -> bytes:
    x, y = _cifar_uint8(shared, "cifar10")
    src = tmp / "src"
    write_cifar10(src, x, y)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return buf.getvalue()


def test_download_offline_raises_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    root = tmp_path / "data"
    with pytest.raises(InputError, match=r"cifar10 not found: put .*download failed: no network"):
        load_search_data("cifar10", root=root)
    assert not any(p.name.startswith(".") for p in root.iterdir())  # temp folder cleaned up
    with pytest.raises(InputError, match="not found"):  # ImageNet16 is never downloaded
        load_search_data("imagenet16-120", root=root)


def test_download_checks_md5_and_extracts_atomically(
    shared_nb201: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _cifar10_archive(shared_nb201, tmp_path)
    calls: list[str] = []

    def fake_urlopen(url: str, timeout: float = 0):
        calls.append(url)
        return _FakeResponse(data)

    monkeypatch.setattr(dl.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "data"
    # official md5 does not match the fake archive: refused, nothing extracted
    with pytest.raises(InputError, match="md5"):
        load_search_data("cifar10", root=root)
    assert not (root / "cifar-10-batches-py").exists()
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]

    url, _, folder = dl.ARCHIVES["cifar10"]
    monkeypatch.setitem(dl.ARCHIVES, "cifar10", (url, hashlib.md5(data).hexdigest(), folder))
    d = load_search_data("cifar10", root=root)
    assert len(d.weight) == 160 and (root / "cifar-10-batches-py" / "test_batch").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]
    load_search_data("cifar10", root=root)  # present now: no second download
    assert len(calls) == 2
