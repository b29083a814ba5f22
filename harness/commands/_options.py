"""Options shared by the commands that launch runs (search, run, compare, ablate). Not a command itself."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_run_options(p: argparse.ArgumentParser, *, set_help: str) -> None:
    """`--set KEY=VALUE` (repeatable, typed), `--device` and `--data-root`."""
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: the preset's")
    p.add_argument("--data-root", type=Path, default=None, metavar="PATH", help="real data folder (paper preset)")
