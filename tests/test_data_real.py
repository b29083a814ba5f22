"""Real CIFAR-10 of any size: class-balanced seeded subsets, the JPEG-zip layout, and the embedded subset the demo
trains on (its provenance is checked by rebuilding it from the shared JPEG copy when that copy is present)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.config import DataSpec, build_run_spec
from harness.data import EMBEDDED_ROOT, embed, jpeg, load_search_data
from harness.data.search import balanced_subset
from harness.errors import InputError

SHARED_JPEG = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg" / "cifar10-jpeg.zip"
EMBEDDED_SHA256 = "7a578f1915e249755656aaf4198be1d040a9ffaee17709b698612c695d34c9f0"


def _jpeg_bytes(value: int, size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, 255 - value, value // 2)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _write_zip(root: Path, entries: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / jpeg.ARCHIVE
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _tiny_copy(root: Path, per_class: int = 4) -> Path:
    entries = {}
    for part, n in (("train", per_class), ("test", 2)):
        for c, cls in enumerate(jpeg.CLASSES):
            for i in range(n):
                entries[f"cifar10-jpeg/{part}/{cls}/{i:04d}.jpg"] = _jpeg_bytes(20 * c + i)
    return _write_zip(root, entries)


# ------------------------------------------------------------------------------------------- subsets
def test_balanced_subset_is_seeded_class_balanced_and_sorted() -> None:
    labels = np.repeat(np.arange(10), 30)
    idx = np.arange(0, 300, 1)
    a = balanced_subset(labels, idx, 55, np.random.default_rng(3))
    b = balanced_subset(labels, idx, 55, np.random.default_rng(3))
    c = balanced_subset(labels, idx, 55, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0)
    counts = np.bincount(labels[a], minlength=10)
    assert sorted(counts.tolist()) == [5] * 5 + [6] * 5
    assert set(a.tolist()) <= set(idx.tolist())


def test_balanced_subset_refuses_what_a_class_cannot_give() -> None:
    labels = np.array([0] * 10 + [1] * 2)
    with pytest.raises(InputError, match="class 1"):
        balanced_subset(labels, np.arange(12), 8, np.random.default_rng(0))
    with pytest.raises(InputError, match="allowed: 1..12"):
        balanced_subset(labels, np.arange(12), 13, np.random.default_rng(0))


def test_embedded_subset_loads_and_names_its_sizes_and_seed() -> None:
    whole = load_search_data("cifar10", root=EMBEDDED_ROOT, split="train_half", download=False)
    assert (len(whole.weight), len(whole.held_out)) == (2500, 2500)
    sub = load_search_data(
        "cifar10", root=EMBEDDED_ROOT, split="train_half", download=False, n_weight=200, n_held_out=100
    )
    assert (len(sub.weight), len(sub.held_out)) == (200, 100)
    assert sub.weight.labels.bincount(minlength=10).tolist() == [20] * 10
    assert sub.held_out.labels.bincount(minlength=10).tolist() == [10] * 10
    assert ":n=200+100:seed=0:" in sub.identity and sub.identity != whole.identity
    other = load_search_data(
        "cifar10", root=EMBEDDED_ROOT, split="train_half", download=False, n_weight=200, n_held_out=100,
        subset_seed=1,
    )
    assert other.identity != sub.identity
    # the weight subset is drawn from the weight half only: every image of it is an image of the whole weight half
    rows = {bytes(r.numpy().tobytes()) for r in whole.weight.images}
    assert all(bytes(r.numpy().tobytes()) in rows for r in sub.weight.images[:20])


def test_data_spec_real_identity_names_subset_only_when_set() -> None:
    assert DataSpec(source="real", split="train_half").identity("cifar10") == "real:cifar10:train_half"
    spec = DataSpec(source="real", split="train_half", n_weight=5000, seed=2)
    assert spec.identity("cifar10") == "real:cifar10:train_half:n=5000+all:seed=2"
    assert spec.to_dict("cifar10")["n_weight"] == 5000
    synthetic = DataSpec()
    assert synthetic.identity("cifar10") == "synthetic:cifar10:seed=0:n=256+256:size=32"
    with pytest.raises(InputError, match="data.n_held_out=0"):
        DataSpec(source="real", n_held_out=0)
    with pytest.raises(InputError, match="data.source='files'"):
        DataSpec(source="files")  # type: ignore[arg-type]


def test_embedded_preset_becomes_real_with_a_data_root(tmp_path: Path) -> None:
    common = {"algorithm": "spos", "space": "nb201", "seed": 0, "preset": "demo"}
    spec = build_run_spec(search_dataset="cifar10", **common)
    assert spec.data.source == "embedded" and spec.data_root is None
    user = build_run_spec(search_dataset="cifar10", data_root=str(tmp_path), **common)
    assert user.data.source == "real" and user.data_root == str(tmp_path.resolve())
    assert (user.data.n_weight, user.data.n_held_out) == (spec.data.n_weight, spec.data.n_held_out)
    assert user.run_id != spec.run_id
    with pytest.raises(InputError, match="embedded real subset"):
        build_run_spec(search_dataset="cifar100", **common)


# ------------------------------------------------------------------------------------------- JPEG zip layout
def test_jpeg_zip_reads_labels_from_folders_in_the_fixed_order(tmp_path: Path) -> None:
    _tiny_copy(tmp_path)
    images, labels = jpeg.read_part(tmp_path / jpeg.ARCHIVE, "train")
    assert images.shape == (40, 3, 32, 32) and images.dtype == np.uint8
    names = sorted(f"cifar10-jpeg/train/{cls}/{i:04d}.jpg" for cls in jpeg.CLASSES for i in range(4))
    order = np.random.default_rng(jpeg.ORDER_SEED).permutation(40)
    assert labels.tolist() == [jpeg.CLASSES.index(names[i].split("/")[2]) for i in order]
    data = load_search_data("cifar10", root=tmp_path, split="train_half", download=False)
    assert len(data.weight) == 20 and len(data.held_out) == 20


@pytest.mark.parametrize(
    ("entry", "data", "message"),
    [
        ("cifar10-jpeg/train/airplane/0.jpg", _jpeg_bytes(1, size=16), "16x16"),
        ("cifar10-jpeg/train/airplane/0.jpg", b"not a jpeg", "not a readable JPEG"),
        ("cifar10-jpeg/train/unicorn/0.jpg", _jpeg_bytes(1), "unicorn"),
        ("cifar10-jpeg/train/airplane/0.jpg", b"\xff" * (jpeg.MAX_ENTRY_BYTES + 1), "over"),
    ],
)
def test_jpeg_zip_refuses_foreign_entries(tmp_path: Path, entry: str, data: bytes, message: str) -> None:
    _write_zip(tmp_path, {entry: data, "cifar10-jpeg/test/airplane/0.jpg": _jpeg_bytes(2)})
    with pytest.raises(InputError, match=message):
        jpeg.read_part(tmp_path / jpeg.ARCHIVE, "train")


def test_jpeg_zip_that_is_not_a_zip_is_input_error(tmp_path: Path) -> None:
    (tmp_path / jpeg.ARCHIVE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="not a readable zip"):
        load_search_data("cifar10", root=tmp_path, split="train_half", download=False)


def test_official_split_is_refused_on_a_jpeg_copy(tmp_path: Path) -> None:
    _tiny_copy(tmp_path)
    with pytest.raises(InputError, match="JPEG copy"):
        load_search_data("cifar10", root=tmp_path, split="nb201_official", download=False)


# ------------------------------------------------------------------------------------------- provenance
def test_embedded_zip_is_the_recorded_file() -> None:
    path = EMBEDDED_ROOT / jpeg.ARCHIVE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EMBEDDED_SHA256
    assert path.stat().st_size <= 10 * 2**20


@pytest.mark.skipif(not SHARED_JPEG.is_file(), reason="the shared CIFAR-10 JPEG copy is not beside the repository")
def test_embedded_zip_rebuilds_byte_identical_from_the_shared_copy(tmp_path: Path) -> None:
    out = tmp_path / "rebuilt.zip"
    embed.build(SHARED_JPEG, out, embed.TRAIN_PER_CLASS, embed.TEST_PER_CLASS)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == EMBEDDED_SHA256
