"""HEP-NAS step breakdown (issue 14): the structure of `HepNas.step_breakdown` and `nas-harness bench hepnas-step`
(--json keys, bad input -> exit 2) on a tiny supernet (C=4, N=1, 2 batches of 4 images). Speed itself is measured
by tests/benchmarks/test_bench_hepnas_step.py."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness import cli
from harness.errors import InputError
from harness.registry import resolve_algorithm

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(space="nb201", C=4, N=1, batch_size=4, batches=2, device="cpu", threads=1)


@pytest.fixture
def main():  # type: ignore[no-untyped-def]
    return cli.main


def test_breakdown_structure() -> None:
    b = resolve_algorithm("hepnas").step_breakdown(**TINY, stages=2)
    assert [s.stage for s in b.stages] == [1, 2] and [s.children for s in b.stages] == [2, 4]
    assert [s.edges for s in b.stages] == [(0,), (1, 2)]
    assert (b.C, b.N, b.batch_size, b.batches, b.device, b.threads) == (4, 1, 4, 2, "cpu", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.stages[0].ratio = 1.0  # type: ignore[misc]
    for s in b.stages:
        assert s.supernet.steps == 2 and s.supernet.epoch_s > 0
        assert s.supernet.arch_step_s > 0 and s.supernet.weight_step_s > 0
        k = s.children
        for c in s.child_epochs:
            assert c.siblings == tuple(j for j in range(k) if j != c.child)
            assert len(c.sibling_forward_s) == k - 1
            # no logit cache by default: every step runs the teacher and every sibling
            assert (c.teacher_forwards, c.nominal_teacher_forwards) == (2, 2)
            assert c.sibling_forwards == c.nominal_sibling_forwards == 2 * (k - 1)
            pieces = c.weight_step_s + c.arch_step_s + c.teacher_forward_s + sum(c.sibling_forward_s)
            assert 0 < pieces <= c.epoch_s
            assert c.other_s + c.kd_other_s == pytest.approx(c.epoch_s - pieces, abs=1e-9)
            assert c.ratio == pytest.approx(c.epoch_s / s.supernet.epoch_s)
            assert c.smd_share == pytest.approx((c.teacher_forward_s + sum(c.sibling_forward_s)) / c.epoch_s)
        assert s.child_epoch_s_mean == pytest.approx(sum(c.epoch_s for c in s.child_epochs) / k)
        assert s.ratio == pytest.approx(s.child_epoch_s_mean / s.supernet.epoch_s)
    # stage 1 splits edge 0's 5 ops into 2 + 3 (GM): the children keep 30 - 3 and 30 - 2 of the 30 (edge, op) pairs
    assert sorted(c.active_ops for c in b.stages[0].child_epochs) == [27, 28]
    text = b.table()
    assert "child 3" in text and "stage 2: 4 children" in text
    json.dumps(b.to_dict())


@pytest.mark.parametrize(
    "bad", [{"batches": 0}, {"stages": 4}, {"C": 1.5}, {"threads": 0}, {"smd": "all"}, {"device": "tpu"}]
)
def test_breakdown_bad_values_raise_input_error(bad: dict) -> None:
    with pytest.raises(InputError) as exc:
        resolve_algorithm("hepnas").step_breakdown(**{**TINY, **bad})
    message = str(exc.value)
    assert "\n" not in message and repr(next(iter(bad.values()))) in message


def test_cli_json_with_the_logit_cache(main, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["bench", "hepnas-step", "--C", "4", "--N", "1", "--batch-size", "4", "--batches", "2", "--stages", "1"]
    assert main([*argv, "--device", "cpu", "--threads", "1", "--shared-round-batches", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shared_round_batches"] is True and out["smd"] == "both" and out["threads"] == 1
    (stage,) = out["stages"]
    for key in ("supernet", "child_epochs", "ratio", "smd_share", "child_epoch_s_mean", "split_s"):
        assert key in stage
    first, second = stage["child_epochs"]
    # child 1 reads the teacher's logits from the cache; its sibling (child 0) has trained since: recomputed
    assert (first["teacher_forwards"], second["teacher_forwards"]) == (2, 0)
    assert (first["sibling_forwards"], second["sibling_forwards"]) == (2, 2)
    assert second["nominal_teacher_forwards"] == 2


@pytest.mark.parametrize(
    "bad",
    [
        ["--batches", "0"],
        ["--batch-size", "-1"],
        ["--C", "0"],
        ["--stages", "4"],
        ["--threads", "0"],
        ["--device", "tpu"],
        ["--smd", "all"],
        ["--batches", "many"],
    ],
)
def test_cli_bad_input_exits_2(main, capsys, bad: list[str]) -> None:  # type: ignore[no-untyped-def]
    try:
        code = main(["bench", "hepnas-step", *bad])
    except SystemExit as exc:  # argparse's own errors (not an int) exit from parse_args, as in the console script
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and bad[1] in err
