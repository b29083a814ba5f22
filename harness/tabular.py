"""Rows of plain values to stdout as JSON, CSV or an aligned text table (query commands of every space).

None prints as JSON null, an empty CSV cell and "n/a" in the table; floats show 4 decimals in the table only.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence


def write_rows(rows: Sequence[dict[str, object]], fmt: str, shown: Sequence[str]) -> None:
    """`fmt` json | csv (all keys) | table (the `shown` keys; the last one left-aligned, unpadded)."""
    if fmt == "json":
        json.dump(list(rows), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    keys = list(rows[0].keys())
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(keys)
        for r in rows:
            writer.writerow(["" if r[k] is None else r[k] for k in keys])
        return

    def cell(v: object) -> str:
        if v is None:
            return "n/a"
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v)

    table = [list(shown)] + [[cell(r[k]) for k in shown] for r in rows]
    widths = [max(len(line[c]) for line in table) for c in range(len(shown) - 1)]
    for line in table:
        sys.stdout.write(
            "  ".join(v.rjust(w) for v, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1] + "\n"
        )
