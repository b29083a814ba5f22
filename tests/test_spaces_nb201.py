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
