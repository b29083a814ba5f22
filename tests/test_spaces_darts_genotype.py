"""DARTS genotype values: forms and round trips, safe parsing, errors, sampling, mutation, derivation, regions."""

from __future__ import annotations

import itertools
import json
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.spaces.darts.genotype import (
    CELL_TYPES,
    EDGE_ENDPOINTS,
    HIERARCHIES,
    NODE_EDGE_START,
    NUM_CELL_EDGES,
    OP_SETS,
    OPS_DARTS8,
    OPS_S5,
    DartsGenotype,
    GenotypeError,
    builtin_genotypes,
    builtin_names,
    builtin_sources,
    computed_params_m,
    count_genotypes_in_region,
    derive_genotype,
    edge_of,
    genotype_edge_ops,
    genotype_from_edge_ops,
    genotype_in_region,
    mutate_genotype,
    parse_genotype,
    published_params_m,
    sample_genotype,
)

SHARED_GENOTYPES = Path(__file__).resolve().parents[2] / "shared" / "data" / "darts" / "genotypes.json"
BUILTIN_NAMES = (
    "DARTS_V1",
    "DARTS_V2",
    "FEWSHOT_NAS",
    "GM_NAS_DARTS1_ID5",
    "HEP",
    "HEP2",
    "HEP_3",
    "HEP_4",
    "HEP_5",
    "HEP_6",
)

# DARTS_V2 exactly as quark0/darts cnn/genotypes.py defines it (a namedtuple, so this is also how it prints).
DARTS_V2_REPR = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)

ALL_SKIP = DartsGenotype(
    normal=(("skip_connect", 0), ("skip_connect", 1)) * 4, reduce=(("skip_connect", 0), ("skip_connect", 1)) * 4
)


@st.composite
def genotypes(draw: st.DrawFn, ops: tuple[str, ...] = OPS_DARTS8) -> DartsGenotype:
    cells = []
    for _ in CELL_TYPES:
        pairs = []
        for k in range(4):
            a, b = draw(st.lists(st.integers(0, k + 1), min_size=2, max_size=2, unique=True))
            pairs += [(draw(st.sampled_from(ops)), a), (draw(st.sampled_from(ops)), b)]
        cells.append(tuple(pairs))
    return DartsGenotype(normal=cells[0], reduce=cells[1])


def _one_line_error(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


# ---------------------------------------------------------------------------------------------------------- structure


def test_op_sets_and_cell_structure() -> None:
    assert OPS_DARTS8[0] == "none" and len(OPS_DARTS8) == 8
    assert OPS_S5 == OPS_DARTS8[1:] and "none" not in OPS_S5
    assert set(OP_SETS) == {"darts", "s5"} and OP_SETS["darts"] == OPS_DARTS8 and OP_SETS["s5"] == OPS_S5
    assert len(EDGE_ENDPOINTS) == NUM_CELL_EDGES == 14
    for e, (node, inp) in enumerate(EDGE_ENDPOINTS):
        assert edge_of(node, inp) == e
        assert e in HIERARCHIES[node]
    assert tuple(h[0] for h in HIERARCHIES) == NODE_EDGE_START
    assert [len(h) for h in HIERARCHIES] == [2, 3, 4, 5]
    for node, inp in [(4, 0), (0, 2), (-1, 0), (3, 6)]:
        with pytest.raises(GenotypeError):
            edge_of(node, inp)


def test_builtins_match_the_shared_file_and_are_hashable() -> None:
    builtins = builtin_genotypes()
    assert tuple(builtins) == BUILTIN_NAMES == builtin_names()
    assert len(set(builtins.values())) == len(builtins)  # hashable, all different
    if SHARED_GENOTYPES.is_file():
        raw = json.loads(SHARED_GENOTYPES.read_text())["genotypes"]
        for name, g in builtins.items():
            assert g.to_json()["normal"] == raw[name]["normal"]
            assert g.to_json()["reduce"] == raw[name]["reduce"]
    assert published_params_m("DARTS_V2") == {"cifar10": 3.349, "imagenet": 4.719}
    assert published_params_m("HEP") == {}
    assert computed_params_m("HEP")["cifar10"] == pytest.approx(2.955)
    assert "quark0/darts" in builtin_sources()["DARTS_V1"]
    with pytest.raises(GenotypeError, match="DARTS_V3"):
        published_params_m("DARTS_V3")


# ---------------------------------------------------------------------------------------------------------- forms


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_round_trips(name: str) -> None:
    g = builtin_genotypes()[name]
    text = g.to_str()
    assert str(g) == text
    assert " " not in text and "," not in text and "\n" not in text
    assert DartsGenotype.from_str(text) == g
    assert parse_genotype(text) == g
    assert parse_genotype(name) == g
    assert DartsGenotype.from_json(json.loads(json.dumps(g.to_json()))) == g
    assert parse_genotype(json.dumps(g.to_json())) == g


@settings(max_examples=150, deadline=None)
@given(genotypes())
def test_round_trips_for_any_genotype(g: DartsGenotype) -> None:
    assert DartsGenotype.from_str(g.to_str()) == g
    assert DartsGenotype.from_json(json.loads(json.dumps(g.to_json()))) == g
    assert hash(DartsGenotype.from_str(g.to_str())) == hash(g)
    assert g.canonical() == g.canonical().canonical()
    assert g.canonical().to_str() == DartsGenotype.from_str(g.to_str()).canonical().to_str()


def test_json_concat_keys_are_optional_and_checked() -> None:
    g = builtin_genotypes()["DARTS_V2"]
    obj = g.to_json()
    del obj["normal_concat"], obj["reduce_concat"]
    assert DartsGenotype.from_json(obj) == g
    with pytest.raises(GenotypeError, match="normal_concat") as exc:
        DartsGenotype.from_json({**obj, "normal_concat": [2, 3, 4]})
    _one_line_error(exc)
    with pytest.raises(GenotypeError, match="'extra'"):
        DartsGenotype.from_json({**obj, "extra": 1})
    with pytest.raises(GenotypeError, match="'reduce'"):
        DartsGenotype.from_json({"normal": obj["normal"]})


def test_darts_repr_is_parsed_without_eval() -> None:
    g = builtin_genotypes()["DARTS_V2"]
    assert parse_genotype(DARTS_V2_REPR) == g
    # the namedtuple's own repr, and the `range(2, 6)` concat DARTS' model_search.genotype() prints
    Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    as_searched = Genotype(
        normal=list(g.normal), normal_concat=range(2, 6), reduce=list(g.reduce), reduce_concat=range(2, 6)
    )
    assert parse_genotype(repr(as_searched)) == g
    assert "range(2, 6)" in repr(as_searched)
    # DARTS_V1 keeps its published pair order (rank order), which differs from input order
    v1 = builtin_genotypes()["DARTS_V1"]
    assert v1.normal[:2] == (("sep_conv_3x3", 1), ("sep_conv_3x3", 0))
    v1_repr = repr(Genotype(list(v1.normal), [2, 3, 4, 5], list(v1.reduce), [2, 3, 4, 5]))
    assert parse_genotype(v1_repr) == v1


@pytest.mark.parametrize(
    "token",
    [
        "Genotype(normal=__import__('os').system('true'), reduce=[])",
        "Genotype(normal=[__import__('os')], reduce=[])",
        "Genotype(normal=[('sep_conv_3x3', 0)] * 8, reduce=[])",
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce=[]",
        "Genotype(normal=[1], extra=[2])",
        "Genotype([('sep_conv_3x3', 0)])",
    ],
)
def test_hostile_or_broken_reprs_are_refused(token: str) -> None:
    with pytest.raises(GenotypeError) as exc:
        parse_genotype(token)
    _one_line_error(exc)


# ---------------------------------------------------------------------------------------------------------- errors

V2_TEXT = (
    "normal=sep_conv_3x3~0|sep_conv_3x3~1+sep_conv_3x3~0|sep_conv_3x3~1+sep_conv_3x3~1|skip_connect~0"
    "+skip_connect~0|dil_conv_3x3~2;reduce=max_pool_3x3~0|max_pool_3x3~1+skip_connect~2|max_pool_3x3~1"
    "+max_pool_3x3~0|skip_connect~2+skip_connect~2|max_pool_3x3~1"
)


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        ("DARTS_V3", "'DARTS_V3'"),
        ("darts_v2", "DARTS_V2"),  # names are case-sensitive; the message lists them
        ("", "unknown genotype"),
        ("normal=sep_conv_3x3~0", "malformed"),
        (V2_TEXT.replace("+skip_connect~0|dil_conv_3x3~2", ""), "3 nodes"),
        (V2_TEXT.replace("sep_conv_3x3~0|sep_conv_3x3~1+", "sep_conv_3x3~0+", 1), "node 0"),
        (V2_TEXT.replace("dil_conv_3x3~2", "dil_conv_3x3-2"), "'dil_conv_3x3-2'"),
        (V2_TEXT.replace("dil_conv_3x3~2", "dil_conv_3x3~02"), "'dil_conv_3x3~02'"),
        (V2_TEXT.replace("dil_conv_3x3~2", "conv_7x7~2"), "'conv_7x7'"),
        (V2_TEXT.replace("dil_conv_3x3~2", "dil_conv_3x3~5"), "input 5 of node 3"),
        (V2_TEXT.replace("sep_conv_3x3~1+sep_conv_3x3~1|", "sep_conv_3x3~1+sep_conv_3x3~0|"), "two equal inputs 0"),
        ('{"normal": [["sep_conv_3x3", 0]], "reduce": []}', "1 (op, input) pairs"),
        ('{"normal": ', "not valid JSON"),
        ('{"normal": [["sep_conv_3x3", true]]}', "'reduce'"),
    ],
)
def test_bad_genotype_text_is_refused_in_one_line(token: str, needle: str) -> None:
    with pytest.raises(GenotypeError) as exc:
        parse_genotype(token)
    assert needle in _one_line_error(exc)
    assert isinstance(exc.value, InputError)


def test_constructor_errors_name_the_value() -> None:
    v2 = builtin_genotypes()["DARTS_V2"]
    normal = list(v2.normal)
    bad_equal = normal.copy()
    bad_equal[5] = ("skip_connect", 1)  # node 2: inputs 1 and 1
    with pytest.raises(GenotypeError) as exc:
        DartsGenotype(normal=bad_equal, reduce=v2.reduce)
    assert _one_line_error(exc) == (
        "node 2 of the normal cell has two equal inputs 1 and 1; each node needs two different inputs"
    )
    cases = [
        (normal[:7], "has 7 (op, input) pairs"),
        (normal + [("skip_connect", 0)], "has 9 (op, input) pairs"),
        ([("sep_conv_3x3", 2)] + normal[1:], "input 2 of node 0"),
        ([("sep_conv_3x3", True)] + normal[1:], "input True"),
        ([("sep_conv_3x3", 0, 1)] + normal[1:], "pair 0"),
        ([("conv_1x1", 0)] + normal[1:], "'conv_1x1'"),
        ("sep_conv_3x3~0", "must be a sequence"),
    ]
    for cell, needle in cases:
        with pytest.raises(GenotypeError) as exc:
            DartsGenotype(normal=cell, reduce=v2.reduce)  # type: ignore[arg-type]
        assert needle in _one_line_error(exc)


def test_none_is_a_value_but_check_op_set_refuses_it() -> None:
    v2 = builtin_genotypes()["DARTS_V2"]
    with_none = DartsGenotype(normal=(("none", 0),) + v2.normal[1:], reduce=v2.reduce)
    assert with_none.check_op_set("darts") is with_none
    assert v2.check_op_set("s5") is v2
    with pytest.raises(GenotypeError) as exc:
        with_none.check_op_set("s5")
    msg = _one_line_error(exc)
    assert "'none'" in msg and "'s5'" in msg and "max_pool_3x3" in msg
    with pytest.raises(GenotypeError, match="'s7'"):
        v2.check_op_set("s7")


# ---------------------------------------------------------------------------------------------------------- sampling


def _assert_sampled_valid(g: DartsGenotype, ops: tuple[str, ...]) -> None:
    for cell in CELL_TYPES:
        pairs = g.cell(cell)
        for k in range(4):
            (op_a, a), (op_b, b) = pairs[2 * k : 2 * k + 2]
            assert 0 <= a < b <= k + 1  # distinct, stored sorted by input
            assert op_a in ops and op_b in ops and "none" not in (op_a, op_b)


def test_sample_is_valid_deterministic_and_covers_the_space() -> None:
    rng = np.random.default_rng(0)
    sample = [sample_genotype(rng) for _ in range(400)]
    for g in sample:
        _assert_sampled_valid(g, OPS_S5)
    again = np.random.default_rng(0)
    assert [sample_genotype(again) for _ in range(400)] == sample
    seen_ops = {op for g in sample for op, _ in g.normal}
    assert seen_ops == set(OPS_S5)
    node3_pairs = {(g.reduce[6][1], g.reduce[7][1]) for g in sample}
    assert node3_pairs == set(itertools.combinations(range(5), 2))
    darts_sample = [sample_genotype(rng, op_set="darts") for _ in range(50)]
    for g in darts_sample:
        _assert_sampled_valid(g, OPS_S5)  # `none` is never sampled, even from the 8-op set
    with pytest.raises(GenotypeError, match="'s6'"):
        sample_genotype(rng, op_set="s6")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["s5", "darts"]))
def test_mutate_changes_exactly_one_decision(seed: int, op_set: str) -> None:
    rng = np.random.default_rng(seed)
    g = sample_genotype(rng, op_set=op_set)
    for _ in range(5):
        m = mutate_genotype(g, rng, op_set=op_set)
        assert m != g and m.canonical() != g.canonical()
        diffs = [i for i, (x, y) in enumerate(zip(g.decisions(), m.decisions(), strict=True)) if x != y]
        assert len(diffs) == 1
        m.check_op_set("s5")
        g = m


def test_mutate_reaches_input_changes_and_refuses_out_of_set_genotypes() -> None:
    rng = np.random.default_rng(3)
    g = builtin_genotypes()["DARTS_V2"]
    kinds = set()
    for _ in range(300):
        m = mutate_genotype(g, rng)
        (i,) = [i for i, (x, y) in enumerate(zip(g.decisions(), m.decisions(), strict=True)) if x != y]
        kinds.add("op" if i % 2 == 0 else "input")
    assert kinds == {"op", "input"}
    with_none = DartsGenotype(normal=(("none", 0),) + g.normal[1:], reduce=g.reduce)
    with pytest.raises(GenotypeError, match="'none'"):
        mutate_genotype(with_none, rng, op_set="s5")


# ---------------------------------------------------------------------------------------------------------- edges


@settings(max_examples=80, deadline=None)
@given(genotypes())
def test_edge_ops_round_trip(g: DartsGenotype) -> None:
    normal, reduce = genotype_edge_ops(g, "normal"), genotype_edge_ops(g, "reduce")
    assert len(normal) == len(reduce) == 8
    assert list(normal) == sorted(normal)
    assert genotype_from_edge_ops(normal, reduce) == g.canonical()


def test_edge_ops_of_darts_v2_and_errors() -> None:
    g = builtin_genotypes()["DARTS_V2"]
    assert genotype_edge_ops(g, "normal") == {
        0: "sep_conv_3x3",
        1: "sep_conv_3x3",
        2: "sep_conv_3x3",
        3: "sep_conv_3x3",
        5: "skip_connect",
        6: "sep_conv_3x3",
        9: "skip_connect",
        11: "dil_conv_3x3",
    }
    normal = genotype_edge_ops(g, "normal")
    reduce = genotype_edge_ops(g, "reduce")
    with pytest.raises(GenotypeError, match="node 1 of the normal cell has 3 chosen edges"):
        genotype_from_edge_ops({**normal, 4: "skip_connect"}, reduce)
    with pytest.raises(GenotypeError, match="edge 14"):
        genotype_from_edge_ops({**normal, 14: "skip_connect"}, reduce)
    with pytest.raises(GenotypeError, match="'middle'"):
        genotype_edge_ops(g, "middle")


# ---------------------------------------------------------------------------------------------------------- derivation


def _weights_for(g: DartsGenotype, ops: tuple[str, ...]) -> np.ndarray:
    """Weights whose DARTS derivation is `g` (pair order = rank order), with decoys on `none` and dropped edges."""
    w = np.full((2, 14, len(ops)), 0.01)
    for c, cell in enumerate(CELL_TYPES):
        pairs = g.cell(cell)
        for k, edges in enumerate(HIERARCHIES):
            for e in edges:
                w[c, e, ops.index("none")] = 0.99  # largest of all, must be ignored
                w[c, e, ops.index("avg_pool_3x3")] = 0.05
            for rank, (op, inp) in enumerate(pairs[2 * k : 2 * k + 2]):
                w[c, edge_of(k, inp), ops.index(op)] = 0.9 - 0.1 * rank
    return w


@pytest.mark.parametrize("name", ["DARTS_V1", "DARTS_V2", "HEP_3"])
def test_derive_reads_the_expected_genotype_and_ignores_none(name: str) -> None:
    g = builtin_genotypes()[name]
    w = _weights_for(g, OPS_DARTS8)
    mask = np.ones_like(w, dtype=bool)
    assert derive_genotype(w, mask, OPS_DARTS8) == g  # exact, including DARTS' rank order inside a node
    assert derive_genotype(w.reshape(28, 8), mask.reshape(28, 8), OPS_DARTS8) == g  # flattened layout


def test_derive_respects_the_mask_and_tie_rules() -> None:
    ops = OPS_DARTS8
    g = builtin_genotypes()["DARTS_V2"]
    w = _weights_for(g, ops)
    mask = np.ones_like(w, dtype=bool)
    mask[0, 0, ops.index("sep_conv_3x3")] = False  # node 0 edge 0 loses its op: avg_pool_3x3 (0.05) is next best
    d = derive_genotype(w, mask, ops)
    assert d.normal[:2] == (("sep_conv_3x3", 1), ("avg_pool_3x3", 0))  # edge 1 now ranks first
    # ties: equal weights everywhere -> lowest edges (inputs 0, 1) and the lowest non-none op index
    flat = np.full((2, 14, len(ops)), 0.125)
    tied = derive_genotype(flat, np.ones_like(flat, dtype=bool), ops)
    assert tied == DartsGenotype(normal=(("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4, reduce=tied.reduce)
    assert tied.reduce == tied.normal
    # masked edges are never chosen, even with the largest weights
    mask2 = np.ones_like(w, dtype=bool)
    mask2[0, 9:11, :] = False
    d2 = derive_genotype(w, mask2, ops)
    assert {inp for _, inp in d2.normal[6:]}.isdisjoint({0, 1})
    # a node with one keepable edge
    mask3 = np.ones_like(w, dtype=bool)
    mask3[1, 2:4, 1:] = False  # reduce node 1 keeps only `none` on edges 2, 3
    with pytest.raises(ValueError, match="node 1 of the reduce cell"):
        derive_genotype(w, mask3, ops)
    with pytest.raises(ValueError, match="shape"):
        derive_genotype(w[:, :13], mask[:, :13], ops)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_derive_from_a_masked_softmax_lands_in_the_region(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ops = OPS_S5
    mask = rng.random((2, 14, len(ops))) < 0.6
    mask[:, :, 0] = True  # every edge keeps at least one op
    alpha = rng.normal(size=mask.shape)
    e = np.where(mask, np.exp(alpha), 0.0)
    weights = e / e.sum(axis=2, keepdims=True)
    g = derive_genotype(weights, mask, ops)
    assert genotype_in_region(g, mask, ops)


# ---------------------------------------------------------------------------------------------------------- regions


def test_region_count_matches_brute_force() -> None:
    ops = OPS_DARTS8
    rng = np.random.default_rng(7)
    candidates = ("skip_connect", "sep_conv_3x3")
    mask = np.zeros((2, 14, len(ops)), dtype=bool)
    # normal cell: a random subset of {none, skip_connect, sep_conv_3x3} per edge (some edges end up empty)
    for e in range(14):
        for op in ("none", *candidates):
            mask[0, e, ops.index(op)] = rng.random() < 0.6
    mask[0, :2, ops.index("skip_connect")] = True  # node 0 has a choice
    # reduce cell: exactly one genotype (two edges per node with skip_connect), plus `none` elsewhere
    mask[1, :, ops.index("none")] = True
    for k in range(4):
        mask[1, edge_of(k, 0), ops.index("skip_connect")] = True
        mask[1, edge_of(k, 1), ops.index("skip_connect")] = True
    reduce = (("skip_connect", 0), ("skip_connect", 1)) * 4

    node_options = []
    for k in range(4):
        node_options.append(
            [
                ((op_a, a), (op_b, b))
                for a, b in itertools.combinations(range(k + 2), 2)
                for op_a in candidates
                for op_b in candidates
            ]
        )
    found = set()
    for choice in itertools.product(*node_options):
        normal = tuple(pair for node in choice for pair in node)
        g = DartsGenotype(normal=normal, reduce=reduce)
        if genotype_in_region(g, mask, ops):
            found.add(g.canonical())
    expected = count_genotypes_in_region(mask, ops)
    assert expected == len(found) > 0  # the active `none` entries add nothing


def test_full_region_count_and_membership() -> None:
    full = np.ones((2, 14, len(OPS_S5)), dtype=bool)
    per_cell = 1
    for k in range(4):
        per_cell *= len(list(itertools.combinations(range(k + 2), 2))) * 7 * 7
    assert count_genotypes_in_region(full, OPS_S5) == per_cell**2
    with_none = np.ones((2, 14, 8), dtype=bool)
    assert count_genotypes_in_region(with_none, OPS_DARTS8) == per_cell**2  # `none` adds nothing
    g = builtin_genotypes()["DARTS_V2"]
    assert genotype_in_region(g, full, OPS_S5)
    cut = full.copy()
    cut[1, edge_of(3, 1), OPS_S5.index("max_pool_3x3")] = False
    assert not genotype_in_region(g, cut, OPS_S5)
    assert genotype_in_region(ALL_SKIP, cut, OPS_S5)
    with pytest.raises(GenotypeError, match="'conv_1x1'"):
        count_genotypes_in_region(full, ("conv_1x1",) + OPS_S5[1:])
