"""NB301 surrogate judge: the shared README's pinned predictions, encoding, refusals, percentiles, hashes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from harness.errors import InputError
from harness.spaces.darts import surrogate
from harness.spaces.darts.genotype import DartsGenotype, builtin_genotypes, sample_genotype
from harness.spaces.darts.surrogate import (
    COLUMNS,
    REFERENCE_SAMPLE_SIZE,
    REFERENCE_SEED,
    SURROGATE_LABEL,
    SurrogateInputError,
    SurrogateJudge,
)

README_SHA256 = "e7168d495cf7fe6419b69234a052571536c2a5f6d7a8a2aead4e9d04dffac1d6"
ALL_SKIP = DartsGenotype(
    normal=(("skip_connect", 0), ("skip_connect", 1)) * 4, reduce=(("skip_connect", 0), ("skip_connect", 1)) * 4
)


@pytest.fixture(scope="module")
def judge() -> SurrogateJudge:
    return SurrogateJudge()


def test_identity_and_label(judge: SurrogateJudge) -> None:
    assert judge.name == "nb301-surrogate-v2"
    assert judge.kind == "surrogate"
    assert judge.label == SURROGATE_LABEL and "not a measured accuracy" in SURROGATE_LABEL
    assert judge.epochs_allowed == range(1, 99)
    assert judge.reference_sample_size == REFERENCE_SAMPLE_SIZE == 10_000
    assert judge.reference_seed == REFERENCE_SEED == 20261129


def test_sha256_equals_the_readme_and_the_packaged_file(judge: SurrogateJudge) -> None:
    blob = resources.files("harness.spaces.darts").joinpath("data", "model_v2.onnx").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == README_SHA256
    assert judge.sha256 == README_SHA256


def test_readme_reference_predictions(judge: SurrogateJudge) -> None:
    b = builtin_genotypes()
    got = judge.predict([b["DARTS_V2"], b["DARTS_V1"], ALL_SKIP])
    assert got.dtype == np.float64 and got.shape == (3,)
    np.testing.assert_allclose(got, [92.910095, 92.554924, 89.920387], atol=1e-4, rtol=0)
    np.testing.assert_allclose(judge.predict(b["DARTS_V2"], epoch=50), [88.570641], atol=1e-4, rtol=0)


def test_predictions_are_batch_and_pair_order_invariant(judge: SurrogateJudge) -> None:
    rng = np.random.default_rng(11)
    sample = [sample_genotype(rng) for _ in range(64)]
    batch = judge.predict(sample)
    singles = np.concatenate([judge.predict(g) for g in sample[:8]])
    np.testing.assert_allclose(batch[:8], singles, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(judge.predict(sample), batch)  # deterministic
    v1 = builtin_genotypes()["DARTS_V1"]  # published in rank order; the model sees edges, not pair order
    np.testing.assert_array_equal(judge.encode(v1), judge.encode(v1.canonical()))
    assert judge.predict([]).shape == (0,)


def test_encoding_of_darts_v2(judge: SurrogateJudge) -> None:
    x = judge.encode(builtin_genotypes()["DARTS_V2"])
    assert x.dtype == np.int32 and x.shape == (1, 34) and len(COLUMNS) == 34
    row = dict(zip(COLUMNS, x[0].tolist(), strict=True))
    # codes of encoding_v2.json: avg_pool_3x3 1, dil_conv_3x3 2, dil_conv_5x5 3, max_pool_3x3 4, sep_conv_3x3 5,
    # sep_conv_5x5 6, skip_connect 7; 0 = edge not in the cell
    assert [row[f"edge_normal_{e}"] for e in range(14)] == [5, 5, 5, 5, 0, 7, 5, 0, 0, 7, 0, 2, 0, 0]
    assert [row[f"edge_reduce_{e}"] for e in range(14)] == [4, 4, 0, 4, 7, 4, 0, 7, 0, 0, 4, 7, 0, 0]
    # node inputs "a_b": normal nodes 1..3 use (0,1), (0,1), (0,2); reduce nodes 1..3 use (1,2), (0,2), (1,2)
    assert [row[f"inputs_node_normal_{n}"] for n in (3, 4, 5)] == [1, 1, 2]
    assert [row[f"inputs_node_reduce_{n}"] for n in (3, 4, 5)] == [3, 2, 5]


@pytest.mark.parametrize("epoch", [0, 99, 100, -1, 50.0, True, "98"])
def test_bad_epochs_are_refused(judge: SurrogateJudge, epoch: object) -> None:
    with pytest.raises(SurrogateInputError) as exc:
        judge.predict(builtin_genotypes()["DARTS_V2"], epoch=epoch)  # type: ignore[arg-type]
    assert isinstance(exc.value, InputError)
    assert "\n" not in str(exc.value) and "allowed: 1..98" in str(exc.value)
    if epoch == 99 and not isinstance(epoch, bool):
        assert str(exc.value) == "epoch 99 is not allowed; allowed: 1..98 (the surrogate saw epochs up to 98)"


def test_none_and_non_genotypes_are_refused(judge: SurrogateJudge) -> None:
    v2 = builtin_genotypes()["DARTS_V2"]
    with_none = DartsGenotype(normal=v2.normal, reduce=v2.reduce[:5] + (("none", 1),) + v2.reduce[6:])
    with pytest.raises(SurrogateInputError) as exc:
        judge.predict([v2, with_none])
    msg = str(exc.value)
    assert (
        "\n" not in msg and "'none'" in msg and "node 2" in msg and "reduce cell" in msg and with_none.to_str() in msg
    )
    with pytest.raises(SurrogateInputError, match="not a DartsGenotype"):
        judge.encode([v2.to_str()])  # type: ignore[list-item]


def test_percentile_of_darts_v2_and_its_definition(judge: SurrogateJudge) -> None:
    v2 = judge.predict(builtin_genotypes()["DARTS_V2"])
    pct = judge.percentile(v2)
    assert 80.0 < float(pct[0]) < 97.0  # the README: DARTS_V2 beats about 90 % of random cells
    ref = judge.reference_predictions()
    assert ref.shape == (REFERENCE_SAMPLE_SIZE,) and not ref.flags.writeable
    assert float(judge.percentile(ref.min())) == 0.0  # strictly below: the minimum beats nobody
    assert float(judge.percentile(ref.max() + 1e-9)) == 100.0
    assert float(judge.percentile(np.median(ref) + 1e-9)) == pytest.approx(50.0, abs=0.01)
    values = np.array([[85.0, 92.0], [93.0, 99.0]])
    got = judge.percentile(values)
    assert got.shape == values.shape
    np.testing.assert_array_equal(got, [[100.0 * np.mean(ref < v) for v in r] for r in values])
    assert float(judge.percentile(judge.predict(ALL_SKIP))[0]) < 5.0  # collapsed cells sit at the bottom
    # the sample matches the README's description of random cells (median 92.44, std 0.42 over 1,000)
    assert 92.2 < float(np.median(ref)) < 92.7 and 0.3 < float(ref.std()) < 0.55
    with pytest.raises(SurrogateInputError):
        judge.percentile([np.nan])
    with pytest.raises(SurrogateInputError):
        judge.percentile("high")


def test_reference_sample_is_deterministic(judge: SurrogateJudge) -> None:
    first = judge.reference_predictions().copy()
    surrogate._reference_predictions.cache_clear()
    surrogate._reference_sorted.cache_clear()
    second = judge.reference_predictions()
    np.testing.assert_array_equal(first, second)
    rng = np.random.default_rng(REFERENCE_SEED)
    head = [sample_genotype(rng, "s5") for _ in range(5)]
    np.testing.assert_array_equal(judge.predict(head), second[:5])


def test_judge_protocol_answers_cifar10_valid_only(judge: SurrogateJudge) -> None:
    from harness.spaces.base import Judge

    assert isinstance(judge, Judge)
    assert judge.targets(["cifar10", "cifar100"]) == (("cifar10", "valid"),)
    assert judge.targets(["cifar100"]) == ()
    acc, n_seeds = judge.accuracy([builtin_genotypes()["DARTS_V2"]], dataset="cifar10", split="valid")
    np.testing.assert_allclose(acc, [92.910095], atol=1e-4, rtol=0)
    assert n_seeds.tolist() == [0]
    with pytest.raises(SurrogateInputError, match="'cifar100'"):
        judge.accuracy([builtin_genotypes()["DARTS_V2"]], dataset="cifar100", split="valid")


def test_import_is_light() -> None:
    code = (
        "import sys; import harness.spaces.darts.surrogate, harness.spaces.darts.genotype; "
        "heavy = [m for m in ('torch', 'onnxruntime') if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
