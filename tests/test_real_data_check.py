"""A real-data regression check in the default suite: the demo's SPOS search on the embedded real CIFAR-10 subset
(2,000 + 1,000 images, C=8 N=1, 30 epochs), checked with `nas-harness check` against the committed baseline
reports/baselines/demo-cpu-spos.json. The synthetic smoke baselines only see numbers move; this one fails when
learning on real images breaks (a supernet learning rate of 0 drops its Kendall tau from ~0.2 to about 0).

One torch thread, as the baseline was made (CPU kernels round differently with other thread counts)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "reports" / "baselines" / "demo-cpu-spos.json"


def test_demo_spos_on_real_images_matches_committed_baseline(tmp_path: Path, capsys, one_torch_thread) -> None:  # type: ignore[no-untyped-def]
    assert BASELINE.is_file(), f"{BASELINE.name} is committed with the project"
    out = tmp_path / "real"
    argv = ["compare", "--algorithms", "spos", "--dataset", "cifar10", "--preset", "demo", "--seeds", "0"]
    start = time.perf_counter()
    assert main([*argv, "--out", str(out), "--threads", "1", "--format", "md"]) == 0
    print(f"real-data SPOS run: {time.perf_counter() - start:.1f} s")
    capsys.readouterr()
    assert main(["check", str(out), "--baseline", str(BASELINE), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    taus = [c for c in result["comparisons"] if c["quantity"] == "kendall_tau"]
    assert taus and all(c["current"] > 0.1 for c in taus), "the demo SPOS supernet must rank real images"
