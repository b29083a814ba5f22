"""CLI: query, correlate and oracle check through harness.cli.main, plus one real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.commands import correlate as correlate_cmd
from harness.oracle import base
from harness.spaces.nb201 import query as query_cmd  # `query --space nb201` (harness.commands.query dispatches)

REPO = Path(__file__).resolve().parents[1]
PEER = REPO.parent / "shared" / "data" / "peer-scores"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_choices_match_oracle_vocabulary():
    assert query_cmd.DATASET_CHOICES == base.DATASETS == correlate_cmd.DATASET_CHOICES
    assert correlate_cmd.SPLIT_CHOICES == base.SPLITS
    assert query_cmd.EPOCH_CHOICES == base.EPOCHS


def test_query_9930_json(capsys):
    code, out, err = run_cli(capsys, "query", "9930", "--dataset", "cifar10", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert set(query_cmd.COLUMNS) <= set(row)
    assert row["index"] == 9930 and row["epochs"] == 200 and row["dataset"] == "cifar10"
    assert row["test_acc"] == pytest.approx(94.3633, abs=5e-5)
    assert row["valid_acc"] == pytest.approx(91.5533, abs=5e-5)
    assert row["params_m"] == pytest.approx(1.2885, abs=5e-5)
    assert row["n_seeds"] == 3
    assert "200-epoch" in err and "mean over seeds" in err and "defaults" in err


def test_query_by_string_and_table(capsys):
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    code, out, err = run_cli(capsys, "query", text, "0", "--dataset", "cifar10")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "94.3633" in lines[1] and "85.8633" in lines[2]
    assert "defaults" in err


def test_query_seed_gives_na_for_cifar10_test(capsys):
    code, out, err = run_cli(
        capsys, "query", "0", "--dataset", "cifar10", "--seed", "888", "--format", "json"
    )
    assert code == 0
    (row,) = json.loads(out)
    assert row["valid_acc"] == pytest.approx(81.616, abs=5e-5) and row["test_acc"] is None
    assert "n/a" in err and "per-seed CIFAR-10 test" in err


def test_query_12_epochs(capsys):
    code, out, err = run_cli(
        capsys, "query", "0", "--dataset", "cifar10", "--epochs", "12", "--format", "json"
    )
    (row,) = json.loads(out)
    assert code == 0 and row["epochs"] == 12 and row["test_acc"] == pytest.approx(69.55)
    assert "12-epoch" in err


def test_query_all_cifar100_csv_matches_shared_data(capsys, shared_nb201):
    code, out, _ = run_cli(capsys, "query", "--all", "--dataset", "cifar100", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 15625
    with open(shared_nb201 / "nb201-consolidated.csv", newline="") as fh:
        ref = list(csv.DictReader(fh))
    for got, want in zip(rows, ref, strict=True):
        assert got["index"] == want["arch_idx"] and got["arch"] == want["arch_str"]
    for ours, theirs in (
        ("valid_acc", "cifar100_valid"),
        ("test_acc", "cifar100_test"),
        ("params_m", "params_MB_cifar100"),
        ("flops_m", "flops_M_cifar100"),
        ("train_time_per_epoch_s", "cifar100_train_time_per_epoch_s"),
    ):
        a = np.array([float(r[ours]) for r in rows])
        b = np.array([float(r[theirs]) for r in ref])
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "15625", "--dataset", "cifar10"],
        ["query", "-1", "--dataset", "cifar10"],
        ["query", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--dataset", "cifar10"],
        ["query", "0", "--dataset", "mnist"],
        ["query", "--dataset", "cifar10"],
        ["query", "0", "--all", "--dataset", "cifar10"],
        ["query", "0", "--dataset", "cifar10", "--seed", "median"],
        ["query", "0", "--dataset", "cifar10", "--epochs", "100"],
        ["query", "0", "--dataset", "cifar10", "--benchmark-file", "/nonexistent/file.pth"],
    ],
)
def test_bad_query_input_exits_2_one_line(capsys, argv):
    code, _, err = run_cli_catching_exit(capsys, argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def run_cli_catching_exit(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    # the query note line is informational; errors are what remains
    err = "\n".join(line for line in err.splitlines() if not line.startswith("note:"))
    return code, out, err


def write_scores(path, rows, header=("arch", "score")):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_correlate_json_and_connected(capsys, tmp_path):
    from harness.oracle.table import load_oracle

    truth = (
        load_oracle()
        .accuracy(np.arange(15625), dataset="cifar10", split="test", epochs=200, seed="mean")
        .values
    )
    rng = np.random.default_rng(0)
    idx = rng.choice(15625, size=800, replace=False)
    rows = [(int(i) if k % 2 else f"{int(i)}", float(truth[i] + rng.normal(0, 3))) for k, i in enumerate(idx)]
    path = write_scores(tmp_path / "s.csv", rows)
    code, out, err = run_cli(
        capsys, "correlate", "--scores", str(path), "--dataset", "cifar10", "--split", "test", "--json"
    )
    assert code == 0
    res = json.loads(out)
    for key in ("n", "kendall_tau", "spearman_rho", "precision_at_k", "best_rank_at_k", "connected"):
        assert key in res
    import scipy.stats as ss

    scores = np.array([r[1] for r in rows])
    assert res["n"] == 800
    assert res["kendall_tau"] == pytest.approx(ss.kendalltau(scores, truth[idx]).statistic, abs=1e-12)
    assert res["connected"]["n"] == 800 - res["n_disconnected"]
    assert "mean over seeds" in err


def test_correlate_table_output(capsys, tmp_path):
    path = write_scores(tmp_path / "s.csv", [(0, 1.0), (9930, 3.0), (6111, 2.0), (1835, 0.5)])
    code, out, _ = run_cli(
        capsys, "correlate", "--scores", str(path), "--dataset", "cifar100", "--split", "valid"
    )
    assert code == 0 and "kendall_tau" in out and "connected" in out


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        ([(0, 1.0), (0, 2.0)], ("arch", "score")),  # duplicated arch
        (
            [
                (0, 1.0),
                (
                    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
                    "skip_connect~2|",
                    2.0,
                ),
            ],
            ("arch", "score"),
        ),  # same arch as index and string
        ([(0, 1.0)], ("arch", "value")),  # missing column
        ([("not-an-arch", 1.0)], ("arch", "score")),
        ([(99999, 1.0)], ("arch", "score")),
        ([(0, "high")], ("arch", "score")),
        ([(0, "nan")], ("arch", "score")),
        ([], ("arch", "score")),
    ],
)
def test_bad_score_files_exit_2(capsys, tmp_path, rows, header):
    path = write_scores(tmp_path / "bad.csv", rows, header)
    code, _, err = run_cli_catching_exit(
        capsys, ["correlate", "--scores", str(path), "--dataset", "cifar10", "--split", "test"]
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_correlate_missing_file_and_bad_split(capsys, tmp_path):
    code, _, err = run_cli_catching_exit(
        capsys,
        ["correlate", "--scores", str(tmp_path / "none.csv"), "--dataset", "cifar10", "--split", "test"],
    )
    assert code == 2 and "does not exist" in err
    path = write_scores(tmp_path / "s.csv", [(0, 1.0), (1, 2.0), (2, 3.0)])
    code, _, err = run_cli_catching_exit(
        capsys, ["correlate", "--scores", str(path), "--dataset", "cifar10", "--split", "valtest"]
    )
    assert code == 2 and "valtest" in err


@pytest.mark.skipif(not PEER.is_dir(), reason="shared peer scores not present")
def test_few_shot_supernet_correlates_better_than_one_shot(capsys):
    results = {}
    for name in ("one-shot", "few-shot"):
        code, out, _ = run_cli(
            capsys,
            "correlate",
            "--scores",
            str(PEER / f"fewshotnas-{name}-supernet.csv"),
            "--dataset",
            "cifar10",
            "--split",
            "test",
            "--json",
        )
        assert code == 0
        results[name] = json.loads(out)
    one, few = results["one-shot"], results["few-shot"]
    assert one["n"] == few["n"] == 15625 and one["n_disconnected"] == 341
    assert 0.2 < one["kendall_tau"] < few["kendall_tau"] < 0.8  # moderate, few-shot better
    assert few["spearman_rho"] > one["spearman_rho"]
    assert few["connected"]["kendall_tau"] > one["connected"]["kendall_tau"]
    for res in (one, few):
        assert abs(res["topk_kendall_tau"]["1"]) < 0.2  # near zero within the true top 1%
        assert res["best_rank_at_k"]["1"] > 1  # the top-scored archs miss the true optimum


def test_oracle_check_passes(capsys):
    code, out, _ = run_cli(capsys, "oracle", "check", "--json")
    res = json.loads(out)
    assert code == 0 and res["ok"] and len(res["checks"]) >= 30


def test_oracle_check_fails_on_mismatch(capsys, monkeypatch):
    from harness.commands import oracle as oracle_cmd

    monkeypatch.setattr(
        oracle_cmd,
        "PINNED_ACCURACY",
        (("index 0 CIFAR-10 test (wrong on purpose)", "cifar10", "test", 0, 85.9),),
    )
    code, out, err = run_cli(capsys, "oracle", "check")
    assert code == 1 and "FAIL" in out and "check failed" in err


def test_oracle_info(capsys):
    code, out, _ = run_cli(capsys, "oracle", "info", "--json")
    assert code == 0 and len(json.loads(out)["sha256"]) == 64


def test_query_subprocess_and_no_torch_import():
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "query", "9930", "--dataset", "cifar10", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["test_acc"] == pytest.approx(94.3633, abs=5e-5)
    bad = subprocess.run(
        [sys.executable, "-m", "harness", "query", "abc", "--dataset", "cifar10"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    code = (
        "import sys, harness.cli; harness.cli.build_parser(); import harness.oracle.table, harness.metrics, "
        "harness.oracle.official; print('torch' in sys.modules)"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert probe.stdout.strip() == "False", probe.stderr
