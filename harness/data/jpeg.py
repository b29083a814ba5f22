"""Reader for CIFAR-10 as a zip of JPEG files in an ImageFolder layout: `cifar10-jpeg.zip` holding
`cifar10-jpeg/{train,test}/<class>/NNNN.jpg` (the layout of the project's shared JPEG copy, whose README names
its provenance, and of the real subset the harness embeds for `make demo`).

Why an order is imposed: such a copy carries no image order, and the `train_half` split cuts the training set by
position. The images are therefore put in one fixed pseudo-random order: file names sorted, then permuted by numpy
PCG64 seeded with ORDER_SEED. That is the order the shared copy's `to_batches.py` writes, so reading its zip here
gives the same arrays (and the same data identity) as reading the `cifar-10-batches-py/` files it produces.

The zip is the user's file: entries are size-checked before decoding, and anything that is not a 32x32 image in
a known class folder is an InputError naming the entry. JPEG decoding is Pillow's (the same libjpeg decode as
`to_batches.py`); the data identity hashes the decoded pixels, so a different decoder would show as other data.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from harness.errors import InputError

ARCHIVE = "cifar10-jpeg.zip"
TOP = "cifar10-jpeg"
#: class folder names, in CIFAR-10 label order 0..9
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: the permutation seed of the shared copy's to_batches.py (../shared/data/cifar10-jpeg/README.md)
ORDER_SEED = 20261129
#: no CIFAR JPEG comes near this; a larger entry is not one of ours (and is not decompressed)
MAX_ENTRY_BYTES = 1 << 16
SIDE = 32


def archive_path(root: Path) -> Path | None:
    """`root`/cifar10-jpeg.zip when it is a file, else None."""
    path = Path(root).expanduser() / ARCHIVE
    return path if path.is_file() else None


def entry_names(zf: zipfile.ZipFile, part: str) -> list[str]:
    """The `part` ("train" | "test") JPEG entries, sorted by name."""
    prefix = f"{TOP}/{part}/"
    return sorted(n for n in zf.namelist() if n.startswith(prefix) and n.endswith(".jpg"))


def label_of(name: str) -> int:
    """The class index of an entry `cifar10-jpeg/<part>/<class>/<file>.jpg`; InputError for other paths."""
    parts = name.split("/")
    if len(parts) != 4 or parts[2] not in CLASSES:
        raise InputError(f"{name}: not <part>/<class>/<file>.jpg with a CIFAR-10 class; allowed classes: "
                         f"{', '.join(CLASSES)}")
    return CLASSES.index(parts[2])


def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only: the size is checked before decoding
            if img.size != (SIDE, SIDE):
                size = img.size
                pixels = None
            else:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as err:
        raise InputError(f"{name}: not a readable JPEG ({type(err).__name__})") from None
    if pixels is None:
        raise InputError(f"{name}: image is {size[0]}x{size[1]}; CIFAR-10 images are 32x32")
    return pixels


def read_part(path: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N,3,32,32] and int64 labels [N] of `part`, in the fixed order (see the module docstring)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = entry_names(zf, part)
            if not names:
                raise InputError(f"{path}: no {TOP}/{part}/<class>/*.jpg entries")
            images = np.empty((len(names), SIDE, SIDE, 3), dtype=np.uint8)
            labels = np.empty(len(names), dtype=np.int64)
            for i, name in enumerate(names):
                if zf.getinfo(name).file_size > MAX_ENTRY_BYTES:
                    raise InputError(f"{path}: entry {name} is over {MAX_ENTRY_BYTES} bytes; not a CIFAR JPEG")
                labels[i] = label_of(name)
                images[i] = _decode(zf.read(name), name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        # damaged archive, unsupported compression, encrypted entry: the user's file, not our bug
        raise InputError(f"{path}: not a readable zip archive ({err})") from None
    order = np.random.default_rng(ORDER_SEED).permutation(len(names))
    return np.ascontiguousarray(images[order].transpose(0, 3, 1, 2)), labels[order]
