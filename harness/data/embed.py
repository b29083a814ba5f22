"""Build the real CIFAR-10 subset the package embeds (harness/data/embedded/cifar10-jpeg.zip) from the JPEG copy.

    python -m harness.data.embed ../shared/data/cifar10-jpeg/cifar10-jpeg.zip [--train-per-class K] [--test-per-class K]

Why a subset of JPEG files: `make demo` must run on real images on a machine with no data and no network, and the
repository can carry ~10 MB. The entries are the source's own JPEG bytes (no re-encoding) under the source's own
names, K per class chosen with numpy PCG64(SEED) from each class's sorted file list, written stored (uncompressed;
JPEG does not deflate) with a fixed timestamp in name order, so the same source gives a byte-identical zip. The
harness reads it through the same code path as a user's JPEG copy (harness/data/jpeg.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from harness.data import jpeg

SEED = 0
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100
#: the source copy this subset was cut from (../shared/data/cifar10-jpeg/README.md)
SOURCE_SHA256 = "d0bb132ddcd829171ce8a9017680e2cabb873869b8acb47b3b6e7ca4ab384f0f"
_STAMP = (2020, 1, 1, 0, 0, 0)
DEFAULT_OUT = Path(__file__).parent / "embedded" / jpeg.ARCHIVE


def chosen_names(zf: zipfile.ZipFile, part: str, per_class: int, seed: int) -> list[str]:
    """`per_class` entries of every class of `part`, seeded, in name order."""
    rng = np.random.default_rng(seed)
    names = jpeg.entry_names(zf, part)
    chosen: list[str] = []
    for cls in jpeg.CLASSES:
        members = [n for n in names if n.split("/")[2] == cls]
        if per_class > len(members):
            raise ValueError(f"{part}/{cls} holds {len(members)} images; asked for {per_class} per class")
        pick = rng.choice(len(members), size=per_class, replace=False)
        chosen.extend(members[i] for i in pick)
    return sorted(chosen)


def build(source: Path, out: Path, train_per_class: int, test_per_class: int, seed: int = SEED) -> list[str]:
    """Write the subset zip to `out` (via a temporary file, then rename); returns the entry names."""
    with zipfile.ZipFile(source) as src:
        names = chosen_names(src, "train", train_per_class, seed) + chosen_names(src, "test", test_per_class, seed)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # a name of our own, renamed over `out` at the end
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as dst:
                for name in names:
                    info = zipfile.ZipInfo(name, date_time=_STAMP)
                    info.external_attr = 0o644 << 16
                    dst.writestr(info, src.read(name))
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.data.embed", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="cifar10-jpeg.zip (the project's shared JPEG copy)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="a new file (default: the packaged subset)")
    parser.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    parser.add_argument("--test-per-class", type=int, default=TEST_PER_CLASS)
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"source {args.source}: no such file; allowed: the CIFAR-10 JPEG copy's cifar10-jpeg.zip")
    if args.out.exists() and args.out.resolve() != DEFAULT_OUT.resolve():  # only the packaged subset is replaced
        parser.error(f"--out {args.out} exists; name a new file")
    if min(args.train_per_class, args.test_per_class) < 1:
        parser.error("--train-per-class and --test-per-class must be integers >= 1")
    digest = hashlib.sha256(args.source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"warning: {args.source} sha256 {digest} is not the recorded source {SOURCE_SHA256}", file=sys.stderr)
    try:
        names = build(args.source, args.out, args.train_per_class, args.test_per_class)
    except (ValueError, zipfile.BadZipFile, OSError) as err:
        parser.error(str(err))
    out_digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {len(names)} images, {args.out.stat().st_size} bytes, sha256 {out_digest}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
