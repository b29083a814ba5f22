"""Options shared by the commands (output paths; --set / --device / --data-root of the commands that launch runs).
Not a command itself."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def out_folder(text: str) -> Path:
    """argparse type of --out / -o folders: a non-empty path (an empty one would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder (an empty value would write into the current one)")
    return Path(text)


def out_file(text: str) -> Path:
    """argparse type of -o files: a non-empty path that does not end in a folder separator."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file (got an empty value)")
    if text.endswith(("/", "\\")) or Path(text).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names a folder; name the file to write")
    return Path(text)


def positive_int(text: str) -> int:
    """argparse type of counts such as --threads: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; expected an integer >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; expected an integer >= 1")
    return value


#: --preset help of every command that launches runs (harness/experiments/*.toml)
PRESET_HELP = (
    "smoke (CPU, synthetic data, CI), demo (CPU, the embedded real CIFAR-10 subset), cpu (CPU, real data from "
    "--data-root, shortened schedules) or paper (published schedules, GPU)"
)


def add_run_options(p: argparse.ArgumentParser, *, set_help: str) -> None:
    """`--set KEY=VALUE` (repeatable, typed), `--device`, `--data-root` and `--threads`."""
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=set_help)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: the preset's")
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        metavar="PATH",
        help="real data folder (cpu / paper presets; replaces the demo preset's embedded subset)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="torch CPU threads per run (default: the cores this process may use); recorded in the spec",
    )


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """`--executor local|ray`, `--jobs N`, `--ray-address ADDR` of the commands that run grids."""
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: this process (--jobs 1) or a process pool; ray: Ray tasks (pip install -e '.[ray]')",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="runs at once (local executor); each run's default --threads is the usable cores / N",
    )
    p.add_argument("--ray-address", default=None, metavar="ADDR", help="join this Ray cluster (default: start one)")


def run_threads(args: argparse.Namespace) -> int:
    """--threads, or the usable cores divided by --jobs (one process per core set)."""
    from harness.config import default_threads

    return args.threads if args.threads is not None else default_threads(getattr(args, "jobs", 1))


def execute_and_report(spec: Any, out: Path, *, command: str, as_json: bool) -> int:
    """Run `spec` into `out` and print its status summary: exit 0 when ok, 1 when the run failed."""
    import json
    import sys

    from harness.commands.status import format_text, summarize
    from harness.runner import execute

    result = execute(spec, out)
    if result.skipped:
        print(f"run {result.run_id} already complete in {result.run_dir}; skipped", file=sys.stderr)
    summary = summarize(result.run_dir)
    print(json.dumps(summary, indent=2, allow_nan=False) if as_json else format_text(summary))
    if result.status != "ok":
        from harness.cli import one_line

        err = result.error or {}
        message = one_line(f"{err.get('type')}: {err.get('message')}")
        if len(message) > 300:  # the whole message and its traceback are in spec.json
            message = message[:297] + "..."
        print(
            f"nas-harness {command}: run failed: {message} (traceback in {result.run_dir / 'spec.json'})",
            file=sys.stderr,
        )
        return 1
    return 0
