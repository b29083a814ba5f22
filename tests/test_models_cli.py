"""`inspect` and `bench supernet` commands: output, JSON keys, bad input -> exit 2."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.spaces.nb201 import NB201Arch


def test_inspect_json_matches_benchmark(capsys):
    assert main(["inspect", "9930", "--space", "nb201", "--dataset", "cifar10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["index"] == 9930
    assert out["params_m"] == pytest.approx(out["analytic_params_m"], abs=1e-9)
    assert out["flops_m"] == pytest.approx(out["analytic_flops_m"], abs=1e-9)
    assert round(out["params_m"], 4) == 1.2885
    if out["benchmark_params_m"] is not None:  # the embedded oracle is installed
        assert out["params_m"] == pytest.approx(out["benchmark_params_m"], abs=1e-9)
        assert out["flops_m"] == pytest.approx(out["benchmark_flops_m"], abs=1e-9)


def test_inspect_table_output(capsys):
    arch = NB201Arch(("nor_conv_1x1",) * 6).to_str()
    assert main(["inspect", arch, "--dataset", "ImageNet16-120"]) == 0
    text = capsys.readouterr().out
    assert "params_m" in text and "flops_m" in text and "16x16" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "15625", "--dataset", "cifar10"],
        ["inspect", "|bogus~0|", "--dataset", "cifar10"],
        ["inspect", "0", "--dataset", "mnist"],
        ["inspect", "0", "--dataset", "cifar10", "--space", "nosuchspace"],
        ["bench", "supernet", "--space", "nosuchspace"],
        ["bench", "supernet", "--device", "tpu"],
        ["bench", "supernet", "--active-ops", "0", "--steps", "1"],
    ],
)
def test_bad_input_exits_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bench_supernet_json_keys(capsys):
    # tiny run: batch 2, one step, one thread (restored afterwards)
    import torch

    before = torch.get_num_threads()
    try:
        argv = ["bench", "supernet", "--batch-size", "2", "--steps", "1", "--warmup", "0", "--device", "cpu"]
        assert main([*argv, "--threads", "1", "--active-ops", "2", "--json"]) == 0
    finally:
        torch.set_num_threads(before)
    out = json.loads(capsys.readouterr().out)
    for key in ("step_s_median", "images_per_s", "batch_size", "steps", "device", "torch_version"):
        assert key in out
    assert out["batch_size"] == 2 and out["steps"] == 1 and out["device"] == "cpu"
    assert out["step_s_median"] > 0 and out["images_per_s"] == pytest.approx(2 / out["step_s_median"])
