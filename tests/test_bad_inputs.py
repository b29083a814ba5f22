"""No tracebacks for user-named files and values (issue 11).

1. A TABLE of bad inputs drives every CLI command through `harness.cli.main`: each case must exit 2 with exactly
   one non-empty stderr line, no traceback, and leave the folder tree (inputs and working folder) unchanged.
2. Property tests (hypothesis) per text parser: NB201 arch strings, DARTS genotype text, `--set` parsing and
   typing, score CSV parsing: each returns a value or raises harness.errors.InputError, never anything else.
3. Random bytes per file reader (score CSV, experiment TOML, data-set batch pickle, spec.json, archs / records /
   rank CSVs, baseline JSON, NATS meta file): a valid result or the reader's typed error.

A case that needs a fix in a file this change does not own is marked xfail(strict=True) with the fix named.
"""

from __future__ import annotations

import bz2
import json
import os
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reports_fake_runs import make_comparison, make_run

from harness import config, records, registry
from harness.cli import main
from harness.commands.correlate import read_scores
from harness.data.loaders import read_pickle
from harness.errors import InputError
from harness.oracle.official import OfficialOracle
from harness.spaces.darts.genotype import parse_genotype
from harness.spaces.nb201 import parse_arch
from reports import load as rload
from reports import regression

REPO = Path(__file__).resolve().parents[1]
SHARED_NATS = REPO.parent / "shared" / "data" / "nb201" / "nats-fixture"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

#: hypothesis: reproducible (derandomize), no example database written into the working folder, no deadline
FAST = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SCORES_OK = "arch,score\n0,1.5\n9930,2.5\n"
EXPERIMENT_OK = (
    '[experiment]\nname = "t"\nspace = "nb201"\nsearch_dataset = "cifar10"\neval_datasets = ["cifar10"]\n'
    'seeds = [0]\npreset = "smoke"\n\n[[runs]]\nalgorithm = "random_search"\n'
)
SEARCH = ["search", "--algorithm", "random_search", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]
TRAIN = ["train", "0", "--dataset", "cifar10", "--preset", "smoke", "--seed", "0"]


# ------------------------------------------------------------------------------------------------ fixtures
def _file(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _scores(data: bytes | str) -> Callable[[Path], list[str]]:
    def build(d: Path) -> list[str]:
        return ["correlate", "--scores", str(_file(d, "s.csv", data)), "--dataset", "cifar10", "--split", "valid"]

    return build


def _nats(meta: bytes, arch0: bytes | None = None, *, real_meta: bool = False) -> Callable[[Path], Path]:
    """A NATS-Bench archive folder: a meta file (raw bytes, or the shared fixture's) and optionally record 0."""

    def build(d: Path) -> Path:
        folder = d / "nats"
        folder.mkdir()
        if real_meta:
            if not SHARED_NATS.is_dir():
                pytest.skip(f"shared fixture {SHARED_NATS} not found")
            shutil.copy(SHARED_NATS / "meta.pickle.pbz2", folder)
        else:
            _file(folder, "meta.pickle.pbz2", meta)
        if arch0 is not None:
            _file(folder, "000000.pickle.pbz2", arch0)
        return folder

    return build


def _query_bench(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda d: ["query", "0", "--dataset", "cifar10", "--benchmark-file", str(make(d))]


def _correlate_bench(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    def build(d: Path) -> list[str]:
        scores = _file(d, "s.csv", "arch,score\n0,1\n")
        return ["correlate", "--scores", str(scores), "--dataset", "cifar10", "--split", "valid",
                "--benchmark-file", str(make(d))]  # fmt: skip

    return build


def _pth(data: bytes) -> Callable[[Path], Path]:
    return lambda d: _file(d, "bench.pth", data)


def _toml(data: bytes | str) -> Callable[[Path], list[str]]:
    return lambda d: ["run", str(_file(d, "exp.toml", data)), "--out", str(d / "out")]


def _runs(d: Path) -> Path:
    """One fake hepnas run under d/runs (made once per case)."""
    root = d / "runs"
    return root if root.is_dir() else make_comparison(root, algorithms=("hepnas",), seeds=(0,), n_rank=10)


def _readonly(d: Path) -> Path:
    """A folder nobody but root may write into (restored to 0o700 by the test)."""
    ro = d / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    return ro


def _baseline_of(d: Path) -> Path:
    runs = _runs(d)
    path = d / "baseline.json"
    assert main(["baseline", str(runs), "-o", str(path)]) == 0
    return path


def _check(baseline: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda d: ["check", str(_runs(d)), "--baseline", str(baseline(d))]


# ---------------------------------------------------------------------------------------------------- table
@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Path], list[str]]
    xfail: str | None = None  # "needs fix in <file>: ..."
    needs_non_root: bool = False  # chmod folders do not stop root


CASES: list[Case] = [
    # correlate: score files
    Case("correlate-scores-utf16", _scores("arch,score\n0,1\n".encode("utf-16"))),
    Case("correlate-scores-latin1", _scores("arch,score\n0,1.5\n# caf\xe9\n".encode("latin-1"))),
    Case("correlate-scores-binary", _scores(bytes(range(256)) * 16)),
    Case("correlate-scores-nul", _scores(b"arch,score\n0,1\x00\n")),
    Case("correlate-scores-folder", lambda d: ["correlate", "--scores", str(d), "--dataset", "cifar10", "--split",
                                               "valid"]),  # fmt: skip
    Case("correlate-scores-missing", lambda d: ["correlate", "--scores", str(d / "no.csv"), "--dataset", "cifar10",
                                                "--split", "valid"]),  # fmt: skip
    Case("correlate-scores-empty", _scores(b"")),
    Case("correlate-scores-no-columns", _scores("a,b\n1,2\n")),
    Case("correlate-scores-bad-arch", _scores("arch,score\n|conv~0|,1\n")),
    Case("correlate-scores-huge-index", _scores("arch,score\n" + "9" * 5000 + ",1\n")),
    Case("correlate-scores-not-a-number", _scores("arch,score\n0,high\n")),
    Case("correlate-scores-infinite", _scores("arch,score\n0,inf\n")),
    Case("correlate-scores-duplicate", _scores("arch,score\n0,1\n0,2\n")),
    Case("correlate-scores-field-too-large", _scores('arch,score\n0,"' + "1" * 200_000 + '"\n')),
    Case("correlate-bad-split", lambda d: _scores(SCORES_OK)(d)[:-1] + ["train"]),
    Case("correlate-benchmark-not-a-pth", _correlate_bench(_pth(b"PK\x03\x04 not a torch file"))),
    Case("correlate-benchmark-garbage-archive", _correlate_bench(_nats(b"garbage"))),
    Case(
        "correlate-benchmark-corrupt-arch-record",
        _correlate_bench(_nats(b"", bz2.compress(b"\x80\x04garbage"), real_meta=True)),
    ),
    # query: benchmark files and values
    Case("query-benchmark-text-pth", _query_bench(_pth(b"hello"))),
    Case("query-benchmark-random-pth", _query_bench(_pth(bytes(range(256)) * 4))),
    Case("query-benchmark-pickled-list-pth", _query_bench(_pth(pickle.dumps([1, 2, 3])))),
    Case("query-benchmark-wrong-suffix", _query_bench(lambda d: _file(d, "bench.txt", "hello"))),
    Case("query-benchmark-missing", _query_bench(lambda d: d / "none.pth")),
    Case("query-benchmark-empty-folder", _query_bench(lambda d: (d / "empty").mkdir() or d / "empty")),
    Case("query-benchmark-garbage-meta", _query_bench(_nats(b"garbage"))),
    Case("query-benchmark-truncated-meta", _query_bench(_nats(bz2.compress(pickle.dumps({"meta_archs": []}))[:20]))),
    Case("query-benchmark-meta-a-list", _query_bench(_nats(bz2.compress(pickle.dumps([1, 2]))))),
    Case("query-benchmark-meta-without-archs", _query_bench(_nats(bz2.compress(pickle.dumps({"x": 1}))))),
    Case("query-benchmark-meta-3-archs", _query_bench(_nats(bz2.compress(pickle.dumps({"meta_archs": ["a"] * 3}))))),
    Case(
        "query-benchmark-corrupt-arch-record",
        _query_bench(_nats(b"", bz2.compress(pickle.dumps({"200": [1, 2]})), real_meta=True)),
    ),
    Case("query-huge-index", lambda d: ["query", "9" * 5000, "--dataset", "cifar10"]),
    Case("query-bad-arch", lambda d: ["query", "|x~0|", "--dataset", "cifar10"]),
    Case("query-bad-genotype", lambda d: ["query", "normal=x", "--space", "darts", "--dataset", "cifar10"]),
    Case("query-unknown-space", lambda d: ["query", "0", "--space", "nb999", "--dataset", "cifar10"]),
    # inspect, oracle, bench
    Case("inspect-bad-arch", lambda d: ["inspect", "15625", "--dataset", "cifar10"]),
    Case("inspect-bad-dataset", lambda d: ["inspect", "0", "--dataset", "mnist"]),
    Case("oracle-unknown-action", lambda d: ["oracle", "verify"]),
    Case("bench-zero-batch", lambda d: ["bench", "supernet", "--batch-size", "0", "--steps", "1"]),
    # run: experiment TOML files and --out
    Case("run-toml-folder", lambda d: ["run", str(d), "--out", str(d / "out")]),
    Case("run-toml-missing", lambda d: ["run", str(d / "none.toml"), "--out", str(d / "out")]),
    Case("run-toml-binary", _toml(bytes(range(256)) * 4)),
    Case("run-toml-latin1", _toml('[experiment]\nname = "caf\xe9"\n'.encode("latin-1"))),
    Case("run-toml-syntax", _toml("[experiment\nname = \n")),
    Case("run-toml-not-an-experiment", _toml("[something]\nx = 1\n")),
    Case("run-bad-set", lambda d: _toml(EXPERIMENT_OK)(d) + ["--set", "no_such_key=1"]),
    Case("run-out-existing-file", lambda d: _toml(EXPERIMENT_OK)(d)[:2]
         + ["--out", str(_file(d, "f", "x"))]),  # fmt: skip
    Case("run-out-proc", lambda d: _toml(EXPERIMENT_OK)(d)[:2] + ["--out", "/proc/nas-harness-out"]),  # fmt: skip
    # search: --out and --set
    Case("search-out-existing-file", lambda d: [*SEARCH, "--out", str(_file(d, "f", "x"))]),
    Case("search-out-proc", lambda d: [*SEARCH, "--out", "/proc/nas-harness-out"]),
    Case("search-out-user-folder", lambda d: [*SEARCH, "--out", str(_file(d, "mine/notes.txt", "x").parent)]),
    Case("search-out-readonly", lambda d: [*SEARCH, "--out", str(_readonly(d) / "run")], needs_non_root=True),
    Case("search-out-empty", lambda d: [*SEARCH, "--out", ""]),
    Case("search-set-no-equals", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "supernet.C"]),
    Case("search-set-no-key", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "=3"]),
    Case("search-set-unknown-key", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "no.such.key=1"]),
    Case("search-set-group", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "data=3"]),
    Case("search-set-not-a-number", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "max_steps_per_epoch=x"]),
    Case("search-set-negative", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "max_steps_per_epoch=-5"]),
    Case("search-set-bad-choice", lambda d: [*SEARCH, "--out", str(d / "o"), "--set", "data.source=bogus"]),
    Case("search-set-nan-lr", lambda d: [*SEARCH[:2], "darts", *SEARCH[3:], "--out", str(d / "o"),
                                         "--set", "weight_opt.lr=nan"]),  # fmt: skip
    Case("search-set-zero-channels", lambda d: [*SEARCH[:2], "darts", *SEARCH[3:], "--out", str(d / "o"),
                                                "--set", "supernet.C=0"]),  # fmt: skip
    Case(
        "search-set-overflowing-channels",
        lambda d: [*SEARCH[:2], "darts", *SEARCH[3:], "--out", str(d / "o"), "--set", "supernet.C=" + "9" * 20],
    ),
    Case("search-data-root-is-a-file", lambda d: [*SEARCH, "--out", str(d / "o"), "--data-root",
                                                  str(_file(d, "f", "x")), "--set", "data.source=real"]),  # fmt: skip
    # train
    Case("train-out-existing-file", lambda d: [*TRAIN, "--out", str(_file(d, "f", "x"))]),
    Case("train-out-proc", lambda d: [*TRAIN, "--out", "/proc/nas-harness-out"]),
    Case("train-bad-arch", lambda d: ["train", "|x~0|", *TRAIN[2:], "--out", str(d / "o")]),
    Case("train-set-arch", lambda d: [*TRAIN, "--out", str(d / "o"), "--set", "arch=1"]),
    Case("train-set-not-an-int", lambda d: [*TRAIN, "--out", str(d / "o"), "--set", "epochs=two"]),
    # status
    Case("status-missing", lambda d: ["status", str(d / "none")]),
    Case("status-a-file", lambda d: ["status", str(_file(d, "f", "x"))]),
    Case("status-no-runs", lambda d: ["status", str(d)]),
    # report
    Case("report-missing", lambda d: ["report", str(d / "none")]),
    Case("report-bad-format", lambda d: ["report", str(_runs(d)), "--format", "docx"]),
    Case("report-out-existing-file", lambda d: ["report", str(_runs(d)), "--out", str(_file(d, "f", "x"))]),
    Case("report-out-user-folder", lambda d: ["report", str(_runs(d)), "--out", str(_file(d, "m/a.csv", "x").parent)]),
    Case("report-out-proc", lambda d: ["report", str(_runs(d)), "--out", "/proc/nas-harness-report"]),
    Case("report-out-readonly", lambda d: ["report", str(_runs(d)), "--out", str(_readonly(d) / "rep")],
         needs_non_root=True),  # fmt: skip
    # baseline
    Case("baseline-o-folder", lambda d: ["baseline", str(_runs(d)), "-o", str(d)]),
    Case("baseline-o-user-file", lambda d: ["baseline", str(_runs(d)), "-o", str(_file(d, "notes.json", "{}"))]),
    Case("baseline-o-trailing-slash", lambda d: ["baseline", str(_runs(d)), "-o", str(d / "new") + "/"]),
    Case("baseline-o-empty", lambda d: ["baseline", str(_runs(d)), "-o", ""]),
    Case("baseline-o-proc", lambda d: ["baseline", str(_runs(d)), "-o", "/proc/nas-harness.json"]),
    Case("baseline-o-readonly", lambda d: ["baseline", str(_runs(d)), "-o", str(_readonly(d) / "b.json")],
         needs_non_root=True),  # fmt: skip
    Case("baseline-bad-tolerance", lambda d: ["baseline", str(_runs(d)), "-o", str(d / "b.json"), "--tolerance",
                                              "speed=1"]),  # fmt: skip
    # check
    Case("check-baseline-folder", _check(lambda d: d)),
    Case("check-baseline-missing", _check(lambda d: d / "none.json")),
    Case("check-baseline-binary", _check(lambda d: _file(d, "b.json", bytes(range(256))))),
    Case("check-baseline-utf16", _check(lambda d: _file(d, "b.json", '{"format": 1}'.encode("utf-16")))),
    Case("check-baseline-deep", _check(lambda d: _file(d, "b.json", "[" * 100_000 + "]" * 100_000))),
    Case("check-baseline-nan", _check(lambda d: _file(d, "b.json", '{"format": NaN}'))),
    Case("check-baseline-bad-n", _check(lambda d: _file(d, "b.json", _baseline_of(d).read_text().replace(
        '"n": 1', '"n": "one"')))),  # fmt: skip
    Case("check-bad-tolerance", lambda d: [*_check(_baseline_of)(d), "--tolerance", "acc_pct=-1"]),
    # compare, ablate (their run folders are written by the runner)
    Case("compare-bad-seeds", lambda d: ["compare", "--algorithms", "spos", "--dataset", "cifar10", "--preset",
                                         "smoke", "--seeds", "x", "--out", str(d / "o")]),  # fmt: skip
    Case("compare-out-existing-file", lambda d: ["compare", "--algorithms", "random_search", "--dataset", "cifar10",
                                                 "--preset", "smoke", "--seeds", "0", "--out",
                                                 str(_file(d, "f", "x"))]),  # fmt: skip
    Case("ablate-bad-study", lambda d: ["ablate", "--study", "x", "--dataset", "cifar10", "--preset", "smoke",
                                        "--seeds", "0", "--out", str(d / "o")]),  # fmt: skip
    Case("ablate-out-existing-file", lambda d: ["ablate", "--study", "smd", "--dataset", "cifar10", "--preset",
                                                "smoke", "--seeds", "0",
                                                "--out", str(_file(d, "f", "x"))]),  # fmt: skip
]


def _params() -> list[object]:
    out = []
    for case in CASES:
        marks = []
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
        if case.needs_non_root:
            marks.append(pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders"))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path below `folder` (files with their bytes, folders as None)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def test_every_command_is_in_the_table() -> None:
    parser_commands = {
        name for name in (p.stem for p in (REPO / "harness" / "commands").glob("*.py")) if not name.startswith("_")
    }
    covered = {case.id.split("-")[0] for case in CASES}
    assert parser_commands <= covered, parser_commands - covered


@pytest.mark.parametrize("case", _params())
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case: Case, tmp_path: Path, monkeypatch, capsys) -> None:
    inputs = tmp_path / "inputs"
    work = tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    try:
        argv = case.argv(inputs)
        capsys.readouterr()
        monkeypatch.chdir(work)
        before = _snapshot(tmp_path)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        err = capsys.readouterr().err
        after = _snapshot(tmp_path)
    finally:
        for ro in inputs.glob("readonly"):
            ro.chmod(0o700)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, lines
    assert after == before, sorted(set(after) ^ set(before))


@pytest.mark.parametrize(
    "argv",
    [
        lambda d, ro: [*SEARCH, "--out", str(ro / "run")],
        lambda d, ro: ["report", str(_runs(d)), "--out", str(ro / "rep")],
        lambda d, ro: ["baseline", str(_runs(d)), "-o", str(ro / "b.json")],
    ],
    ids=["search", "report", "baseline"],
)
def test_read_only_folder_simulated_for_root(argv, tmp_path: Path, monkeypatch, capsys) -> None:
    """What chmod 0o500 does for a non-root user, simulated so that it runs everywhere: creating a folder or a
    file in `ro` fails with PermissionError. One line naming the path, exit 2, nothing written."""
    import tempfile

    ro = tmp_path / "ro"
    ro.mkdir()
    args = argv(tmp_path, ro)
    real_mkdir, real_mkstemp = os.mkdir, tempfile.mkstemp

    def mkdir(path, *a, **k):
        if Path(path).parent == ro:
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *a, **k)

    def mkstemp(*a, dir=None, **k):
        if dir is not None and Path(dir) == ro:
            raise PermissionError(13, "Permission denied", str(Path(dir) / "tmpname"))
        return real_mkstemp(*a, dir=dir, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    capsys.readouterr()
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "Permission denied" in err[0] and str(ro) in err[0]
    assert list(ro.iterdir()) == []


# ---------------------------------------------------------------------------------------- parser properties
NB201_TOKENS = ["|", "~", "+", "0", "1", "2", "3", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                "avg_pool_3x3", " ", "-", "15624", "15625", "\x00", "é"]  # fmt: skip
DARTS_TOKENS = ["normal=", "reduce=", ";", "+", "|", "~", "0", "1", "2", "5", "sep_conv_3x3", "skip_connect", "none",
                "max_pool_3x3", "Genotype(", ")", "[", "]", "(", ",", "'", '"', "range(2, 6)", "normal_concat=",
                "{", "}", ":", '"normal"', "null", "1e999", "DARTS_V2"]  # fmt: skip


def _joined(tokens: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(tokens), max_size=40).map("".join)


@pytest.mark.parametrize("space", sorted(registry.SPACES))
def test_arch_parser_of_each_space_returns_or_raises_input_error(space: str) -> None:
    """`SearchSpace.values.parse` (what query / inspect / train call on ARCH) for every space: random text,
    joined tokens of both arch grammars, and huge integers."""
    from harness.spaces import get_space

    values = get_space(space).values

    @FAST
    @given(st.one_of(st.text(max_size=300), _joined(NB201_TOKENS), _joined(DARTS_TOKENS),
                     st.integers(-10**30, 10**30).map(str)))  # fmt: skip
    def check(text: str) -> None:
        try:
            arch = values.parse(text)
        except InputError:
            return
        assert values.parse(arch.to_str()) == arch

    check()


@FAST
@given(st.one_of(st.text(max_size=200), _joined(NB201_TOKENS), st.integers(-10**30, 10**30).map(str)))
def test_nb201_arch_parser_returns_or_raises_input_error(text: str) -> None:
    try:
        arch = parse_arch(text)
    except InputError:
        return
    assert parse_arch(arch.to_str()) == arch


@FAST
@given(st.one_of(st.text(max_size=300), _joined(DARTS_TOKENS)))
def test_genotype_parser_returns_or_raises_input_error(text: str) -> None:
    try:
        genotype = parse_genotype(text)
    except InputError:
        return
    assert parse_genotype(genotype.to_str()) == genotype


def _keys(cls: type, prefix: str = "") -> list[str]:
    """Every settable dotted key of a Config dataclass."""
    out = []
    for f in fields(cls):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        if is_dataclass(default):
            out += _keys(type(default), prefix + f.name + ".")
        out.append(prefix + f.name)
    return out


ALGORITHMS = (*registry.ALGORITHMS, *registry.JOBS)
SET_KEYS = sorted({k for a in ALGORITHMS for k in _keys(registry.algorithm_config_class(a))})
SET_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0", "-1", "1e999", "nan", "inf", "true", "none", "1,2", "0.5,0.999", "9" * 30, "", "()"]),
    st.integers(-(10**6), 10**6).map(str),
)


@FAST
@given(
    st.sampled_from(ALGORITHMS),
    st.lists(st.one_of(st.text(max_size=20), st.tuples(st.sampled_from(SET_KEYS), SET_VALUES).map("=".join)),
             max_size=4),
)  # fmt: skip
def test_set_parsing_and_typing_return_or_raise_input_error(algorithm: str, items: list[str]) -> None:
    try:
        overrides = config.parse_set_args(items)
        config.resolve_config(algorithm, config.load_preset("smoke"), space="nb201", set_overrides=overrides)
    except InputError:
        pass


COERCE_TYPES = [int, float, bool, str, tuple[int, ...], tuple[float, float], int | None, float | None,
                tuple[str, ...]]  # fmt: skip


@FAST
@given(st.sampled_from(COERCE_TYPES), SET_VALUES)
def test_coerce_returns_or_raises_input_error(tp: object, text: str) -> None:
    try:
        config.coerce(text, tp, key="k", from_text=True)
    except InputError:
        pass


CSV_TOKENS = ["arch", "score", ",", "\n", "\r\n", '"', "0", "9930", "15625", "-1", "1.5", "nan", "inf", "e", "|",
              "~", "+", "none~0", "skip_connect~1", " ", "\ufeff", "\x00"]  # fmt: skip


@FAST
@given(st.one_of(st.text(max_size=300), _joined(CSV_TOKENS).map(lambda t: "arch,score\n" + t)))
def test_score_csv_parser_returns_or_raises_input_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        indices, scores = read_scores(path)
    except InputError:
        return
    assert len(indices) == len(scores) == len(set(indices)) > 0


# ------------------------------------------------------------------------------------- random bytes readers
def _bytes_and_cuts(valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, the valid file cut anywhere, and the valid file with random bytes appended."""
    return st.one_of(
        st.binary(max_size=1500),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.binary(max_size=50).map(lambda tail: valid + tail),
    )


@FAST
@given(_bytes_and_cuts(SCORES_OK.encode()))
def test_score_reader_on_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    try:
        read_scores(path)
    except InputError:
        pass


@FAST
@given(st.one_of(_bytes_and_cuts(EXPERIMENT_OK.encode()), st.text(max_size=300).map(str.encode)))
def test_toml_reader_on_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "exp.toml"
    path.write_bytes(data)
    try:
        config.load_experiment(path)
    except InputError:
        pass


TOML_VALUES = st.sampled_from(['"x"', "1", "[]", "[1]", "{}", "true", '["cifar10"]', "{ a = 1 }", '"nb201"', "-1"])


@FAST
@given(
    st.lists(
        st.tuples(st.sampled_from(["experiment", "runs", "data", "rank_eval", "x"]),
                  st.sampled_from(["name", "space", "search_dataset", "eval_datasets", "seeds", "preset", "algorithm",
                                   "config", "grid", "variant", "set", "n"]),
                  TOML_VALUES),
        max_size=8,
    )
)  # fmt: skip
def test_toml_experiment_structure_returns_or_raises_input_error(tmp_path: Path, entries) -> None:
    """Valid TOML of the wrong shape (a table where a list belongs, a number for a name ...)."""
    text = "".join(f"[{table}]\n{key} = {value}\n" for table, key, value in entries)
    path = tmp_path / "exp.toml"
    path.write_text(text)
    try:
        config.load_experiment(path)
    except InputError:
        pass


BATCH_OK = pickle.dumps({b"data": [[0] * 3072], b"labels": [1]}, protocol=2)


@FAST
@given(_bytes_and_cuts(BATCH_OK))
def test_data_batch_reader_on_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(data)
    try:
        assert isinstance(read_pickle(path), dict)
    except InputError:
        pass


def _spec_ok(tmp: Path) -> bytes:
    return (make_run(tmp, "hepnas", 0, n_rank=5) / "spec.json").read_bytes()


JSON_LEAVES = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    JSON_LEAVES | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["schema_version", "run_id", "spec", "status", "algorithm", "provenance", "outcome", "error",
                         "extras", "judge", "eval_datasets", "seed", "format", "version", "entries", "tolerances",
                         "accuracy_pct", "n", "space", "search_dataset", "variant", "acc_pct", "tau"]),
        children, max_size=6),
    max_leaves=20,
)  # fmt: skip


def _as_spec(value: object) -> bytes:
    """A spec.json of a readable schema version holding random JSON (to reach the key and type checks)."""
    return json.dumps({"schema_version": 1, **(value if isinstance(value, dict) else {"x": value})}).encode()


@pytest.fixture(scope="module")
def spec_ok(tmp_path_factory) -> bytes:
    return _spec_ok(tmp_path_factory.mktemp("spec"))


@FAST
@given(data=st.data())
def test_spec_readers_on_random_bytes(tmp_path: Path, spec_ok: bytes, data) -> None:
    raw = data.draw(st.one_of(_bytes_and_cuts(spec_ok), JSON.map(_as_spec)))
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "spec.json").write_bytes(raw)
    try:
        records.read_run_spec(run)
    except InputError:
        pass
    try:
        rload.read_spec(run)
    except rload.RunLoadError:
        pass
    from harness.commands.status import format_text, summarize

    try:
        summary = summarize(run)
    except InputError:  # an unknown schema_version
        return
    json.dumps(summary, allow_nan=False)
    format_text(summary)


CSV_FILES = {
    "records.csv": (records.RECORDS_COLUMNS, records.read_records, rload.RECORDS_COLUMNS,
                    ("stage", "child", "epoch", "step", "value")),
    "archs.csv": (records.ARCHS_COLUMNS, records.read_archs, rload.ARCHS_COLUMNS,
                  ("stage", "child", "index", "score", "epochs", "gt_acc", "n_seeds")),
    "rank.csv": (records.RANK_COLUMNS, records.read_rank, rload.RANK_COLUMNS, ("n", "value")),
}  # fmt: skip


@pytest.fixture(scope="module")
def csv_ok(tmp_path_factory) -> dict[str, bytes]:
    run = make_run(tmp_path_factory.mktemp("csv"), "hepnas", 0, n_rank=3)
    return {name: (run / name).read_bytes() for name in CSV_FILES}


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_run_record_readers_on_random_bytes(tmp_path: Path, csv_ok: dict[str, bytes], name: str) -> None:
    _, reader, columns, numeric = CSV_FILES[name]

    @FAST
    @given(st.one_of(_bytes_and_cuts(csv_ok[name]), _joined(["1", ",", "\n", '"', "x", "", "nan", "1.5"]).map(
        lambda t: csv_ok[name].split(b"\n")[0] + b"\n" + t.encode())))  # fmt: skip
    def check(data: bytes) -> None:
        (tmp_path / name).write_bytes(data)
        try:
            rows = reader(tmp_path)
        except records.CorruptRunError:
            rows = None
        try:
            frame = rload._read_table(tmp_path / name, columns, numeric)
        except rload.CorruptRunError:
            frame = None
        assert (rows is None) == (frame is None)  # the two readers agree on what is damaged
        if rows is not None and frame is not None:
            assert len(rows) == len(frame)

    check()


@pytest.fixture(scope="module")
def baseline_ok(tmp_path_factory) -> bytes:
    return _baseline_of(tmp_path_factory.mktemp("bl")).read_bytes()


@FAST
@given(data=st.data())
def test_baseline_reader_on_random_bytes(tmp_path: Path, baseline_ok: bytes, data) -> None:
    doc = json.loads(baseline_ok)
    raw = data.draw(st.one_of(
        _bytes_and_cuts(baseline_ok),
        JSON.map(lambda d: json.dumps(d).encode()),
        JSON.map(lambda d: json.dumps({**doc, "entries": [d]}).encode()),
        JSON.map(lambda d: json.dumps({**doc, "tolerances": d}).encode()),
    ))  # fmt: skip
    path = tmp_path / "b.json"
    path.write_bytes(raw)
    try:
        regression.read_baseline(path)
    except regression.BaselineError:
        pass


@FAST
@given(st.one_of(st.binary(max_size=500), st.binary(max_size=500).map(bz2.compress),
                 JSON.map(lambda d: bz2.compress(pickle.dumps(d)))))  # fmt: skip
def test_nats_meta_reader_on_random_bytes(tmp_path: Path, data: bytes) -> None:
    folder = tmp_path / "nats"
    folder.mkdir(exist_ok=True)
    (folder / "meta.pickle.pbz2").write_bytes(data)
    with pytest.raises(InputError):
        OfficialOracle.open(folder)
