"""The DARTS space through the CLI: `inspect` (published parameter counts), `query` (the surrogate, always
labelled), bad genotype input (exit 2, one line naming the value), and the rule that no general module names a
concrete space."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
LABEL = "surrogate (NB301 protocol: 100 epochs, C=32, 8 cells), not a measured accuracy"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("name", "dataset", "published"),
    [
        ("DARTS_V2", "cifar10", 3.349),
        ("DARTS_V2", "imagenet", 4.719),
        ("FEWSHOT_NAS", "cifar10", 3.79),
        ("GM_NAS_DARTS1_ID5", "cifar10", 3.660),
    ],
)
def test_inspect_reproduces_published_parameter_counts(capsys, name, dataset, published):
    code, out, _ = _cli(capsys, "inspect", name, "--space", "darts", "--dataset", dataset, "--json")
    assert code == 0
    doc = json.loads(out)
    digits = len(str(published).split(".")[1])
    assert round(doc["params_m"], digits) == published == doc["published_params_m"]
    assert doc["name"] == name and doc["auxiliary_head"].startswith("excluded")


def test_query_darts_v2_is_the_pinned_surrogate_prediction_with_its_label(capsys):
    code, out, err = _cli(capsys, "query", "DARTS_V2", "--space", "darts", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert abs(row["predicted_valid_acc"] - 92.91) < 0.01
    assert row["label"] == LABEL and LABEL in err
    assert 80 < row["percentile"] < 97


def test_query_table_and_csv_carry_the_label(capsys):
    code, out, err = _cli(capsys, "query", "DARTS_V1", "HEP", "--space", "darts", "--format", "csv")
    assert code == 0 and out.count(LABEL) == 2
    code, out, err = _cli(capsys, "query", "DARTS_V1", "--space", "darts")
    assert code == 0 and LABEL in err and "92.55" in out


V2_TEXT = (
    "normal=sep_conv_3x3~0|sep_conv_3x3~1+sep_conv_3x3~0|sep_conv_3x3~1+sep_conv_3x3~1|skip_connect~0+"
    "skip_connect~0|dil_conv_3x3~2;reduce=max_pool_3x3~0|max_pool_3x3~1+skip_connect~2|max_pool_3x3~1+"
    "max_pool_3x3~0|skip_connect~2+skip_connect~2|max_pool_3x3~1"
)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["query", "DARTS_V9", "--space", "darts"], "DARTS_V9"),
        (["query", "normal=broken", "--space", "darts"], "normal=broken"),
        (["query", '{"normal": [["sep_conv_3x3", 0]]}', "--space", "darts"], "reduce"),
        (["query", '{"normal": ', "--space", "darts"], "JSON"),
        (["query", V2_TEXT.replace("sep_conv_3x3~0|sep_conv_3x3~1", "sep_conv_3x3~1|sep_conv_3x3~1", 1),
          "--space", "darts"], "two equal inputs"),
        (["query", V2_TEXT.replace("sep_conv_3x3~0", "none~0", 1), "--space", "darts"], "none"),
        (["inspect", V2_TEXT.replace("sep_conv_3x3~0", "none~0", 1), "--space", "darts-s5", "--dataset",
          "cifar10"], "'none'"),
        (["inspect", V2_TEXT.replace("sep_conv_3x3", "conv_7x7", 1), "--space", "darts", "--dataset",
          "cifar10"], "conv_7x7"),
        (["query", "DARTS_V2", "--space", "darts", "--epoch", "0"], "epoch 0"),
        (["query", "DARTS_V2", "--space", "darts", "--epoch", "99"], "epoch 99"),
        (["query", "DARTS_V2", "--space", "darts", "--all"], "--all"),
        (["query", "DARTS_V2", "--space", "darts", "--dataset", "cifar100"], "cifar100"),
        (["inspect", "DARTS_V2", "--space", "darts", "--dataset", "imagenet16-120"], "imagenet16-120"),
        (["query", "9930", "--space", "nope"], "nope"),
    ],
)
def test_bad_genotype_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and needle in err


def test_no_general_module_names_a_concrete_space():
    """`"nb201"` appears only inside harness/spaces/, the registry and tests (the issue's grep)."""
    found = subprocess.run(
        ["grep", "-rn", '"nb201"', "harness/", "algorithms/", "--include=*.py"],
        cwd=REPO, capture_output=True, text=True,
    ).stdout.splitlines()
    outside = [ln for ln in found if not re.match(r"^harness/(spaces/|registry\.py:)", ln)]
    assert outside == []
    darts = subprocess.run(
        ["grep", "-rln", "-E", "\"darts(-s5)?\"|spaces\\.darts", "harness/", "--include=*.py"],
        cwd=REPO, capture_output=True, text=True,
    ).stdout.split()
    assert [f for f in darts if not re.match(r"^harness/(spaces/|registry\.py)", f)] == []
