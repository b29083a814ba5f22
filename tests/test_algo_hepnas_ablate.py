"""`nas-harness ablate`: grid expansion (variants x seeds, variant names) and one-line input errors."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.commands.ablate import grid_points, parse_seeds
from harness.errors import InputError


def test_grid_points_smd_and_partition() -> None:
    pts = grid_points("smd", [0, 1])
    assert [(p.variant, p.seed) for p in pts] == [
        ("smd=none", 0),
        ("smd=none", 1),
        ("smd=teacher", 0),
        ("smd=teacher", 1),
        ("smd=mutual", 0),
        ("smd=mutual", 1),
        ("default (smd=both)", 0),
        ("default (smd=both)", 1),
    ]
    assert all(p.algorithm == "hepnas" for p in pts)
    assert [p.config["smd"] for p in pts] == ["none", "none", "teacher", "teacher", "mutual", "mutual", "both", "both"]
    partition = grid_points("partition", [3])
    assert [(p.variant, p.config["partition"]) for p in partition] == [
        ("default (partition=gm)", "gm"),
        ("partition=exhaustive", "exhaustive"),
    ]


def test_bad_inputs() -> None:
    with pytest.raises(InputError):
        parse_seeds("0,x")
    with pytest.raises(InputError):
        grid_points("lr", [0])


def test_dry_run_lists_distinct_runs(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(
        [
            "ablate",
            "--study",
            "partition",
            "--dataset",
            "cifar10",
            "--preset",
            "smoke",
            "--seeds",
            "0,1",
            "--out",
            str(tmp_path),
            "--dry-run",
        ]
    )
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert len({line.split()[0] for line in lines}) == 4  # distinct run ids
    assert sum("partition=exhaustive" in line for line in lines) == 2


def test_set_of_studied_key_is_rejected(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(
        [
            "ablate",
            "--study",
            "smd",
            "--dataset",
            "cifar10",
            "--preset",
            "smoke",
            "--set",
            "smd=none",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 2
    assert "conflicts" in capsys.readouterr().err


def test_smd_study_with_the_shared_batches_variant(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The published default draws per-child SMD batches; `--set shared_round_batches=true` (the named variant,
    every child of a round on the same batches) applies to every run of the grid and changes the run ids."""
    base = ["ablate", "--study", "smd", "--dataset", "cifar10", "--preset", "smoke", "--out", str(tmp_path)]
    assert main([*base, "--dry-run"]) == 0
    default_ids = {line.split()[0] for line in capsys.readouterr().out.strip().splitlines()}
    assert main([*base, "--set", "shared_round_batches=true", "--dry-run"]) == 0
    variant_ids = {line.split()[0] for line in capsys.readouterr().out.strip().splitlines()}
    assert len(default_ids) == len(variant_ids) == 4 and not default_ids & variant_ids
