"""Statistics a reader can trust: bootstrap intervals of seed means (agg.bootstrap_ci / summarize), rank
correlations with an interval over the scored architectures (agg.rank_correlation_ci), and the tables that print
them: every mean with n and [lo, hi], n = 1 said in words, per-child rank rows folded out of the main table."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reports_fake_runs import make_comparison, make_run
from scipy import stats
from test_reports import _golden_runs

from reports import aggregate as agg
from reports import load as rload
from reports import tables
from reports.build import write_report

CELL = re.compile(r"^\d+\.\d+ \[\d+\.\d+, \d+\.\d+\] \(n=\d+\)$")


# --------------------------------------------------------------------------------------------- bootstrap_ci
@pytest.mark.parametrize("values", [[], [93.1], [93.1, float("nan")]])
def test_bootstrap_ci_needs_two_values(values: list[float]) -> None:
    lo, hi = agg.bootstrap_ci(values)
    assert math.isnan(lo) and math.isnan(hi)


def test_bootstrap_ci_of_equal_values_is_the_value() -> None:
    assert agg.bootstrap_ci([72.5, 72.5, 72.5]) == (72.5, 72.5)


def test_bootstrap_ci_of_two_values_is_their_range() -> None:
    """Resampled means of two seeds are a, (a+b)/2 or b (a quarter of them each end): 2.5 / 97.5 % = a / b."""
    assert agg.bootstrap_ci([90.0, 91.0]) == (90.0, 91.0)


def test_bootstrap_ci_of_a_normal_sample() -> None:
    sample = np.random.default_rng(3).normal(50.0, 4.0, size=200)
    lo, hi = agg.bootstrap_ci(sample)
    assert lo < sample.mean() < hi
    expected = 2 * 1.96 * sample.std(ddof=1) / math.sqrt(sample.size)  # the normal-theory width
    assert 0.8 * expected < hi - lo < 1.2 * expected
    assert agg.bootstrap_ci(sample) == (lo, hi)  # fixed seed: the same report twice
    other = agg.bootstrap_ci(sample, seed=1)  # another seed: other resamples, nearly the same interval
    assert other != (lo, hi) and abs(other[0] - lo) < 0.1 * (hi - lo) and abs(other[1] - hi) < 0.1 * (hi - lo)
    lo_med, hi_med = agg.bootstrap_ci(sample, statistic=np.median)
    assert lo_med < float(np.median(sample)) < hi_med


def test_summarize_adds_the_interval_and_keeps_its_columns() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "a", "b", "c"], "v": [1.0, 2.0, 3.0, 5.0, float("nan")]})
    out = agg.summarize(frame, ["g"], "v").set_index("g")
    assert list(out.columns) == ["mean", "std", "n", "ci_lo", "ci_hi"]
    assert out.loc["a", "n"] == 3 and out.loc["a", "mean"] == 2.0 and out.loc["a", "std"] == 1.0
    assert 1.0 <= out.loc["a", "ci_lo"] < 2.0 < out.loc["a", "ci_hi"] <= 3.0
    assert out.loc["b", "n"] == 1 and math.isnan(out.loc["b", "ci_lo"]) and math.isnan(out.loc["b", "ci_hi"])
    assert out.loc["c", "n"] == 0 and math.isnan(out.loc["c", "ci_lo"])


# ---------------------------------------------------------------------------------------- rank correlations
@pytest.mark.parametrize("ties", [False, True])
def test_resampled_correlations_equal_scipy_on_the_resampled_arrays(ties: bool) -> None:
    """The draw-count formulas behind the rank interval give scipy's τ-b and ρ of each resampled array, ties
    (from the data and from drawing one architecture twice) included."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    if ties:
        x, y = np.round(x), np.round(2 * y) / 2
    sample = agg._RankSample.of(x, y)
    positions = rng.integers(0, 60, size=(40, 60))
    counts = agg._draw_counts(positions, 60)
    want_tau = [stats.kendalltau(x[p], y[p])[0] for p in positions]
    want_rho = [stats.spearmanr(x[p], y[p])[0] for p in positions]
    np.testing.assert_allclose(sample.kendall(counts), want_tau, atol=1e-12)
    np.testing.assert_allclose(sample.spearman(counts), want_rho, atol=1e-12)


def _shared_runs(root: Path, n_rank: int = 300, seeds: tuple[int, ...] = (0, 1, 2)) -> rload.RunSet:
    """hepnas and spos runs that all score one rank-eval set (as the runner's fixed set), score ~ 0.3 GT + noise."""
    make_comparison(root, algorithms=("hepnas", "spos"), seeds=seeds, n_rank=n_rank, rank_sample=7)
    return rload.load(root)


def test_rank_ci_of_a_shared_sample_contains_the_value_and_excludes_zero(tmp_path: Path) -> None:
    rs = _shared_runs(tmp_path)
    ci = agg.rank_correlation_ci(rs)
    assert list(ci.columns) == list(agg.RANK_CI_COLUMNS)
    assert len(ci) == 2 * 2 * 2  # methods x (cifar10 test, valid) x (tau, rho)
    assert ci["matched"].all() and set(ci["n_archs"]) == {300} and set(ci["n_seeds"]) == {3}
    assert (ci["ci_lo"] < ci["value"]).all() and (ci["value"] < ci["ci_hi"]).all()
    assert (ci["ci_lo"] > 0.2).all()  # strongly correlated: far from 0
    # the value is the mean over seeds of the statistic rank.csv holds for owner all / arch set all
    recorded = agg.rank_metrics(rs)
    recorded = recorded[(recorded["owner"] == "all") & (recorded["arch_set"] == "all")]
    keys = [*agg.GROUP_KEYS, *agg.EVAL_KEYS, "metric"]
    both = ci.merge(recorded, on=keys)
    assert len(both) == len(ci)
    np.testing.assert_allclose(both["value"], both["mean"], atol=1e-6)
    assert agg.rank_correlation_ci(rs).equals(ci)  # fixed seed: the same report twice


def test_rank_ci_narrows_with_more_architectures(tmp_path: Path) -> None:
    def width(n_rank: int) -> float:
        ci = agg.rank_correlation_ci(_shared_runs(tmp_path / str(n_rank), n_rank=n_rank, seeds=(0,)))
        row = ci[(ci["algorithm"] == "spos") & (ci["split"] == "test") & (ci["metric"] == "kendall_tau")].iloc[0]
        return float(row["ci_hi"] - row["ci_lo"])

    assert width(1000) < 0.6 * width(100)


def test_rank_ci_of_runs_with_their_own_samples_resamples_each(tmp_path: Path) -> None:
    """Runs that scored different architectures (no shared set): each run's sample is resampled on its own."""
    make_comparison(tmp_path, algorithms=("spos",), seeds=(0, 1), n_rank=150)
    ci = agg.rank_correlation_ci(rload.load(tmp_path))
    assert not ci["matched"].any() and set(ci["n_archs"]) == {150}
    assert (ci["ci_lo"] < ci["value"]).all() and (ci["value"] < ci["ci_hi"]).all()


def test_rank_ci_of_eight_runs_of_1000_archs_is_fast(tmp_path: Path) -> None:
    """A report's rank intervals (8 runs x 1,000 architectures x 2 evaluations) take a few seconds of CPU."""
    rs = _shared_runs(tmp_path, n_rank=1000, seeds=(0, 1, 2, 3))
    cpu0 = time.process_time()
    ci = agg.rank_correlation_ci(rs)
    cpu = time.process_time() - cpu0
    print(f"rank_correlation_ci of 8 runs x 1000 archs: cpu {cpu:.2f} s")
    assert len(ci) == 8 and cpu < 5.0


# ------------------------------------------------------------------------------------------------- rendering
def test_fmt_ci_says_n_and_when_there_is_no_interval() -> None:
    assert tables.fmt_ci(tables.Stat(93.12, 92.8, 93.44, 2)) == "93.12 [92.80, 93.44] (n=2)"
    assert tables.fmt_ci(tables.Stat(93.12, float("nan"), float("nan"), 1)) == "93.12 (n=1, no CI)"
    assert tables.fmt_ci(tables.Stat(0.5, 0.4, 0.6, 3, "1000×3"), digits=3) == "0.500 [0.400, 0.600] (n=1000×3)"
    assert tables.fmt_ci(tables.NO_STAT) == tables.NA


def test_table1_cells_carry_n_and_the_interval(tmp_path: Path) -> None:
    (t1,) = tables.table1(rload.load(_golden_runs(tmp_path)), references=[])
    hepnas = next(row for row in t1.rows if row[0].text == "hepnas")
    texts = [c.text for c in hepnas[2:9]]
    assert all(CELL.match(t) for t in texts if "no CI" not in t)
    assert texts.count("46.00 (n=1, no CI)") == 1  # the one cell a single run gives
    assert tables.CI_NOTE in t1.notes
    assert "[93.00, 94.00] (n=2)" in tables.to_csv(t1)


def test_rank_table_leads_with_the_whole_space_and_folds_per_child_rows(tmp_path: Path) -> None:
    rs = _shared_runs(tmp_path)
    ci = agg.rank_correlation_ci(rs)
    main = tables.rank_tables(rs, ci)[0]
    assert main.name == "rank_nb201_cifar10_cifar10_test"
    assert "Owner" not in main.columns and [row[1].text for row in main.rows] == ["all", "connected"] * 2
    tau = main.columns.index("Kendall τ-b")
    want = ci[(ci["algorithm"] == "hepnas") & (ci["split"] == "test") & (ci["metric"] == "kendall_tau")].iloc[0]
    assert main.rows[0][tau].text == (
        f"{want['value']:.3f} [{want['ci_lo']:.3f}, {want['ci_hi']:.3f}] (n=300×3)"
    )
    assert main.rows[1][tau].text.endswith("(n=3)")  # arch set connected: over seeds
    p1 = main.columns.index("P@1%")
    assert main.rows[0][p1].text == "n/a (k=3 of n=300)"  # top 1 % of 300: 3 archs
    assert CELL.match(main.rows[0][main.columns.index("P@10%")].text)  # 30 archs: a number, over seeds
    md = tables.to_markdown(main)
    head, section = md.split("<details>")
    assert "stage1/child" not in head and "| hepnas | all | 300 | 3 |" in head
    assert section.startswith("<summary>per-child rows (n = architectures each child owns)</summary>")
    assert section.rstrip().endswith("</details>") and "| hepnas | stage1/child" in section
    child_rows = main.folded.rows
    assert child_rows and all(row[1].text.startswith("stage") for row in child_rows)
    assert all(row[main.folded.columns.index("P@1%")].text.startswith("n/a (k=1 of n=") for row in child_rows)
    assert "<details>" not in tables.to_latex(main) and "stage1" not in tables.to_csv(main)


def test_precision_from_ten_or_more_archs_is_a_number(tmp_path: Path) -> None:
    make_run(tmp_path, "spos", 0, n_rank=1000)
    make_run(tmp_path, "spos", 1, n_rank=1000)
    main = tables.rank_tables(rload.load(tmp_path))[0]
    row = main.rows[0]  # spos, arch set all: P@1% of 1000 = 10 archs
    assert CELL.match(row[main.columns.index("P@1%")].text) and row[main.columns.index("P@1%")].text.endswith("(n=2)")


def test_latex_cell_opening_with_a_bracket_is_not_a_row_argument() -> None:
    rows = ((tables.Cell("a"), tables.Cell("1")), (tables.Cell("[quoted] b"), tables.Cell("2")))
    table = tables.Table("t", "t", ("Method", "x"), (rows,))
    assert "\\\\\n{}[quoted] b & 2 \\\\" in tables.to_latex(table)


def test_report_writes_the_folded_rows_and_the_rank_intervals(tmp_path: Path) -> None:
    _shared_runs(tmp_path / "runs", n_rank=100, seeds=(0, 1))
    result = write_report(tmp_path / "runs", tmp_path / "report", ("md", "csv"))
    names = {p.name for p in result.tables}
    assert {"rank_nb201_cifar10_cifar10_test_per_child.md", "rank_nb201_cifar10_cifar10_test_per_child.csv"} <= names
    assert "rank_correlation_ci.csv" in names
    index = result.index.read_text(encoding="utf-8")
    assert "<details><summary>per-child rows" in index and "per-child: [md]" in index
    saved = pd.read_csv(tmp_path / "report" / "data" / "rank_correlation_ci.csv")
    assert list(saved.columns) == list(agg.RANK_CI_COLUMNS) and len(saved) == 8
