"""NB201 space: index list, parser, connectivity, isomorphism classes, hierarchies, NASLib converter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.spaces import nb201
from harness.spaces.nb201 import (
    EDGES,
    HIERARCHIES,
    NUM_ARCHS,
    OPS,
    ArchParseError,
    NB201Arch,
    all_archs,
    archs_in_product_order,
    connected_mask,
    from_naslib_op_indices,
    index_codes,
    parse_arch,
    to_naslib_op_indices,
)

INDEX_0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
INDEX_9930 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_all_index_round_trips_match_shared_list(shared_nb201):
    strings = (shared_nb201 / "nb201-meta-archs.txt").read_text().split()
    assert len(strings) == NUM_ARCHS
    for i, text in enumerate(strings):
        arch = NB201Arch.from_str(text)
        assert arch.index == i
        assert NB201Arch.from_index(i) == arch
        assert arch.to_str() == text


def test_index_order_is_a_stored_list_not_product_order():
    product = archs_in_product_order()
    assert len(set(product)) == NUM_ARCHS
    assert [a.index for a in product] != list(range(NUM_ARCHS))
    assert sorted(a.index for a in product) == list(range(NUM_ARCHS))


@pytest.mark.parametrize(
    ("index", "text"),
    [
        (0, INDEX_0),
        (9930, INDEX_9930),
        (6111, None),
    ],
)
def test_pinned_strings(index, text, shared_nb201):
    if text is None:  # 6111 is pinned by index in the README; its string comes from the official list
        text = (shared_nb201 / "nb201-meta-archs.txt").read_text().split()[index]
    assert NB201Arch.from_index(index).to_str() == text
    assert parse_arch(text).index == index
    assert parse_arch(str(index)).index == index


def test_op_order_matches_benchmark_strings():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    arch = NB201Arch(
        ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3")
    )
    assert arch.to_str() == INDEX_9930
    # edge i = (to, from) matches the i-th "op~from" token of the string
    tokens = [t for part in INDEX_9930.split("+") for t in part.split("|") if t]
    assert [int(t.split("~")[1]) for t in tokens] == [src for _, src in EDGES]


def test_index_codes_table():
    codes = index_codes()
    assert codes.shape == (NUM_ARCHS, 6) and codes.dtype == np.int8
    assert not codes.flags.writeable
    assert NB201Arch.from_codes(codes[9930]).to_str() == INDEX_9930


def test_341_disconnected():
    mask = connected_mask()
    assert mask.shape == (NUM_ARCHS,)
    assert int((~mask).sum()) == 341
    assert not NB201Arch(("none",) * 6).is_connected()
    # output reached only through node 1 -> 3 via edge 4 when edge 0 is on
    assert NB201Arch(("skip_connect", "none", "none", "none", "nor_conv_1x1", "none")).is_connected()
    assert not NB201Arch(("none", "none", "none", "none", "nor_conv_1x1", "skip_connect")).is_connected()


def test_6466_isomorphism_classes():
    keys = {a.isomorph_key() for a in all_archs()}
    assert len(keys) == nb201.NUM_ISOMORPHISM_CLASSES == 6466


def test_isomorphic_pairs_share_a_key():
    # swapping the two parallel branches of node 2 (e1 from node 0, e2 from node 1 with node 1 = skip of 0)
    a = NB201Arch(("skip_connect", "nor_conv_3x3", "nor_conv_1x1", "none", "none", "skip_connect"))
    b = NB201Arch(("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "none", "none", "skip_connect"))
    assert a.isomorph_key() == b.isomorph_key()
    assert a.isomorph_key() != NB201Arch(("skip_connect",) * 6).isomorph_key()
    # the all-`none` cell and a cell whose only path is cut both reduce to zero markers
    assert set(NB201Arch(("none",) * 6).isomorph_key().split("+")) == {"#"}


def test_hierarchies_group_edges_by_end_node():
    assert HIERARCHIES == ((0,), (1, 2), (3, 4, 5))
    for node, edges in enumerate(HIERARCHIES, start=1):
        assert all(EDGES[e][0] == node for e in edges)
    assert sorted(e for h in HIERARCHIES for e in h) == list(range(6))


def test_naslib_converter_round_trip_all_archs():
    seen = set()
    for arch in all_archs():
        op_indices = to_naslib_op_indices(arch)
        assert from_naslib_op_indices(op_indices) == arch
        seen.add(op_indices)
    assert len(seen) == NUM_ARCHS


def test_naslib_converter_matches_naslib_conventions():
    # NASLib (automl/NASLib, search_spaces/nasbench201/conversions.py): op names
    # [skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3]; EDGE_LIST
    # ((1,2),(1,3),(1,4),(2,3),(2,4),(3,4))
    # with 1-based (from, to) nodes, and the op of edge (u, v) read as node_ops[v-2][u-1] from the string.
    naslib_ops = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
    edge_list = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
    for index in (0, 9930, 1835, 12345):
        text = NB201Arch.from_index(index).to_str()
        node_ops = [[t.split("~")[0] for t in part.strip("|").split("|")] for part in text.split("+")]
        expected = tuple(naslib_ops.index(node_ops[v - 2][u - 1]) for u, v in edge_list)
        assert to_naslib_op_indices(NB201Arch.from_index(index)) == expected


def test_naslib_converter_rejects_bad_input():
    with pytest.raises(ArchParseError):
        from_naslib_op_indices([0, 1, 2])
    with pytest.raises(ArchParseError):
        from_naslib_op_indices([0, 1, 2, 3, 4, 5])


@pytest.mark.parametrize("bad", [-1, NUM_ARCHS, "15625", "-3", True, 3.0])
def test_index_out_of_range_is_input_error(bad):
    with pytest.raises(InputError):
        if isinstance(bad, str):
            parse_arch(bad)
        else:
            NB201Arch.from_index(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|none~0|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|extra",
        "--5",
        "\u00b2",
        "\u0663",
    ],
)
def test_bad_strings_raise_parse_error(bad):
    with pytest.raises(ArchParseError):
        parse_arch(bad)


arch_codes = st.lists(st.integers(0, len(OPS) - 1), min_size=6, max_size=6)


@settings(max_examples=300, deadline=None)
@given(arch_codes)
def test_property_valid_strings_round_trip(codes):
    arch = NB201Arch.from_codes(codes)
    text = arch.to_str()
    assert NB201Arch.from_str(text) == arch
    assert parse_arch(text) == arch
    assert parse_arch(arch.index) == arch
    assert NB201Arch.from_index(arch.index).to_str() == text


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "|",
                "+",
                "~",
                "0",
                "1",
                "2",
                "3",
                " ",
                "x",
                "none",
                "skip_connect",
                "nor_conv_3x3",
                "avg_pool_3x3",
                "~0|",
                "~1|",
                "~2|",
                "|+|",
            ]
        ),
        max_size=40,
    )
)
def test_property_garbage_raises_only_parse_error(tokens):
    text = "".join(tokens)
    try:
        arch = parse_arch(text)
    except ArchParseError:
        return
    # anything accepted must be a genuine arch that round-trips
    assert isinstance(arch, NB201Arch)
    assert parse_arch(arch.to_str()) == arch


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_property_arbitrary_text_raises_only_parse_error(text):
    try:
        parse_arch(text)
    except ArchParseError:
        pass


# ------------------------------------------------------------------------------------- the SearchSpace object
def _space():  # type: ignore[no-untyped-def]
    from harness.spaces import get_space

    return get_space("nb201")


def test_space_object_capabilities_and_refusal():
    import dataclasses

    from harness.spaces.base import CapabilityMissing, OneShotAdapter, SinglePathAdapter

    space = _space()
    assert space.name == "nb201" and space.datasets == ("cifar10", "cifar100", "imagenet16-120")
    assert space.capabilities >= {"values", "judge", "one_shot", "single_path", "enumeration"}
    assert isinstance(space.one_shot, OneShotAdapter) and isinstance(space.one_shot, SinglePathAdapter)
    assert space.require("single_path", "test") is space.one_shot
    assert space.require("enumeration", "test") is space.enumeration
    bare = dataclasses.replace(space, one_shot=None, enumeration=None)
    assert not bare.capabilities & {"one_shot", "single_path", "enumeration"}
    with pytest.raises(CapabilityMissing, match="spos needs a search space with 'single_path'"):
        bare.require("single_path", "spos")
    assert issubclass(CapabilityMissing, InputError)
    with pytest.raises(ValueError):
        space.require("bogus", "test")
    with pytest.raises(InputError):
        space.check_dataset("mnist")


def test_one_shot_adapter_shapes_and_single_paths():
    one_shot = _space().one_shot
    assert one_shot.ops == OPS and one_shot.hierarchies == HIERARCHIES
    assert (one_shot.num_edges, one_shot.num_ops) == (6, 5)
    assert one_shot.edge_names == ("e0", "e1", "e2", "e3", "e4", "e5")
    full = one_shot.full_mask()
    assert full.shape == (6, 5) and full.dtype == bool and full.all()
    assert one_shot.region_size(full) == NUM_ARCHS
    for arch in all_archs()[::97]:
        codes = one_shot.op_indices(arch)
        assert codes == arch.codes and one_shot.arch_from_op_indices(list(codes)) == arch
        w = one_shot.arch_weights(arch)
        assert w.dtype == np.float32 and w.shape == (6, 5)
        assert w.sum(axis=1).tolist() == [1.0] * 6 and w.argmax(axis=1).tolist() == list(codes)


def test_path_connected_agrees_with_arch_connectivity():
    one_shot = _space().one_shot
    got = np.array([one_shot.path_connected(a.codes) for a in all_archs()])
    np.testing.assert_array_equal(got, connected_mask())


def test_region_archs_product_order_membership_and_connectivity():
    one_shot = _space().one_shot
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((6, 5)) < 0.4
        mask[np.arange(6), rng.integers(0, 5, 6)] = True  # every edge keeps an op
        archs = one_shot.region_archs(mask)
        assert len(archs) == one_shot.region_size(mask) == int(np.prod(mask.sum(axis=1)))
        assert [a.codes for a in archs] == sorted(a.codes for a in archs)  # product order: edge 0 slowest
        assert all(one_shot.in_region(a, mask) for a in archs)
        assert one_shot.region_has_connected(mask) == any(a.is_connected() for a in archs)
    outside = np.ones((6, 5), bool)
    outside[0, 3] = False
    assert not one_shot.in_region(NB201Arch.from_codes((3, 0, 0, 0, 0, 0)), outside)


def test_derive_is_masked_per_edge_argmax_with_ties_to_lower_op():
    one_shot = _space().one_shot
    w = np.zeros((6, 5))
    w[0] = [0.1, 0.2, 0.9, 0.3, 0.0]  # best op (nor_conv_1x1) masked out below
    w[1, 0] = 0.5  # `none` allowed
    mask = np.ones((6, 5), bool)
    mask[0, 2] = False
    assert one_shot.derive(w, mask).codes == (3, 0, 0, 0, 0, 0)
    assert one_shot.derive(np.zeros((6, 5)), np.ones((6, 5), bool)).codes == (0,) * 6


def test_enumeration_and_named_sets():
    enum = _space().enumeration
    assert enum.num_archs == NUM_ARCHS
    for i in (0, 9930, 15624):
        assert enum.index(enum.from_index(i)) == i
    assert enum.from_index(9930).to_str() == INDEX_9930
    assert enum.arch_set("all") == tuple(range(NUM_ARCHS))
    assert enum.arch_set("connected") == tuple(int(i) for i in np.flatnonzero(connected_mask()))
    noniso = enum.arch_set("noniso")
    assert len(noniso) == 6466 and noniso[0] == 0 and list(noniso) == sorted(noniso)
    with pytest.raises(ValueError):
        enum.arch_set("bogus")


def test_values_parse_sample_and_mutate_one_decision():
    values = _space().values
    assert values.parse("9930").to_str() == INDEX_9930 and values.parse(INDEX_0).index == 0
    with pytest.raises(InputError):
        values.parse("|bogus~0|")
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = values.sample(rng)
        assert values.is_valid(arch)
        child = values.mutate(arch, rng)
        diff = sum(a != b for a, b in zip(values.decisions(arch), values.decisions(child), strict=True))
        assert values.is_valid(child) and diff == 1


def test_table_judge_targets_and_accuracy():
    from harness.oracle.table import load_oracle

    judge = _space().judge
    assert (judge.kind, judge.epochs) == ("benchmark", 200)
    assert judge.sha256 == load_oracle().sha256 and len(judge.sha256) == 64
    assert judge.targets(("cifar10", "cifar100")) == (
        ("cifar10", "valid"),
        ("cifar10", "test"),
        ("cifar100", "valid"),
        ("cifar100", "test"),
    )
    archs = [NB201Arch.from_index(i) for i in (0, 9930)]
    values, n_seeds = judge.accuracy(archs, dataset="cifar10", split="test")
    ref = load_oracle().accuracy(archs, dataset="cifar10", split="test", epochs=200, seed="mean")
    np.testing.assert_array_equal(values, np.asarray(ref.values, dtype=np.float64))
    assert values.shape == (2,) and np.all(n_seeds >= 1)


def test_index_list_is_declared_package_data():
    """The packaged index list (harness/spaces/nb201/data/) is shipped: pyproject's package-data names it."""
    import fnmatch
    import tomllib
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["harness"]
    data = sorted((repo / "harness" / "spaces" / "nb201" / "data").iterdir())
    assert data, "no packaged NB201 data files"
    for path in data:
        rel = path.relative_to(repo / "harness").as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not in package-data {patterns}"
