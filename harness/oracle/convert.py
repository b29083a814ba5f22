"""Convert `shared/data/nb201/` into the compact files shipped in the package.

Run: `python -m harness.oracle.convert --source ../shared/data/nb201`. The outputs are committed; this module is
the only code that reads the shared folder. Each output carries the SHA-256 of the input it came from.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from harness.spaces.nb201 import NUM_ARCHS, NB201Arch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
INDEX_OUT = PACKAGE_ROOT / "spaces" / "data" / "nb201-index.txt"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_index_list(source: Path, out: Path = INDEX_OUT) -> None:
    """`nb201-meta-archs.txt` (line i = arch string of index i) -> one line of 6 op codes per index."""
    src = source / "nb201-meta-archs.txt"
    strings = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(strings) != NUM_ARCHS:
        raise ValueError(f"{src} has {len(strings)} architectures, expected {NUM_ARCHS}")
    lines = [
        "# NAS-Bench-201 index list: line k (after these comments) = op codes of benchmark index k,",
        "# one digit per canonical edge (e0..e5), op codes 0..4 = none, skip_connect, nor_conv_1x1,",
        "# nor_conv_3x3, avg_pool_3x3. Source: official meta_archs list (repository D-X-Y/NATS-Bench,",
        "# fake_torch_dir/, MIT), via shared/data/nb201/nb201-meta-archs.txt",
        f"# sha256 {sha256_file(src)}; converted by harness.oracle.convert",
    ]
    lines += ["".join(str(c) for c in NB201Arch.from_str(s).codes) for s in strings]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("../shared/data/nb201"))
    args = parser.parse_args(argv)
    convert_index_list(args.source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
