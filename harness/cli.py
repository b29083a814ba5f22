"""The `nas-harness` command line.

Each subcommand lives in its own module under `harness/commands/` and exposes `register(subparsers)`, which adds
its parser and sets `func` (a callable taking the parsed namespace and returning an exit code). Command modules
import only light modules at import time so that `query` and `correlate` start fast.

Exit codes: 0 success, 1 a failed check, 2 bad input (one line on stderr, never a traceback).

Why OSError is caught here too: a path the user named (an --out under /proc, a read-only folder, a folder where a
file is expected) fails inside the standard library with an OSError that carries the path; that is a bad input,
answered with one line naming the path and the reason, not a traceback. Other exceptions are bugs and keep their
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from harness.errors import CheckFailed, InputError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="nas-harness", description="NAS benchmark harness and evaluator.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    import harness.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"harness.commands.{info.name}")
        module.register(sub)
    return parser


def one_line(text: object) -> str:
    """`text` on one line (line breaks shown as ' / '), so every error is exactly one stderr line."""
    return " / ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "(no message)"


def os_error_message(exc: OSError) -> str:
    """'PATH: reason' for an OSError about a user-named path (both paths for a failed rename or link)."""
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return f"{reason} ({exc})"
    where = str(exc.filename) if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {reason}; check that the path exists, is of the right kind (file or folder) and is writable"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"nas-harness {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CheckFailed as exc:
        print(f"nas-harness {args.command}: check failed: {one_line(exc)}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except OSError as exc:
        print(f"nas-harness {args.command}: error: {one_line(os_error_message(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"nas-harness {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
