"""Typed errors. Library code raises these; only `harness.cli` turns them into exit codes and one-line messages."""

from __future__ import annotations


class InputError(ValueError):
    """A user-supplied value is not allowed (bad arch, dataset, file, column, option). CLI exit 2."""


class CheckFailed(Exception):
    """A check ran and failed (regression, threshold, pinned value mismatch). CLI exit 1."""
