"""The NAS-Bench-201 cell search space: canonical ops, edges, architecture values and index mapping.

Canonical encoding = the benchmark's own: its architecture string, its op order and its edge order
(edge i is the i-th op in the string). Every other library's encoding goes through a named converter.
The index <-> architecture mapping is a stored list (not computable); it ships in the package as
`data/nb201-index.txt` (converted from the official `meta_archs` list by `harness.oracle.convert`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import product

import numpy as np

from harness.errors import InputError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Canonical op order (benchmark order)."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""Canonical edge order as (to_node, from_node): e0=1<-0, e1=2<-0, e2=2<-1, e3=3<-0, e4=3<-1, e5=3<-2."""

NUM_OPS = len(OPS)
NUM_EDGES = len(EDGES)
NUM_NODES = 4
NUM_ARCHS = NUM_OPS**NUM_EDGES  # 15,625

HIERARCHIES: tuple[tuple[int, ...], ...] = ((0,), (1, 2), (3, 4, 5))
"""HEP-NAS hierarchies: edges grouped by their end node (nodes 1, 2, 3), in node order."""

NUM_DISCONNECTED = 341
NUM_ISOMORPHISM_CLASSES = 6466

_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_STRING_RE = re.compile(r"^\|[^|]+\|\+\|[^|]+\|[^|]+\|\+\|[^|]+\|[^|]+\|[^|]+\|$")
_INDEX_RESOURCE = "nb201-index.txt"
_INT_RE = re.compile(r"^-?[0-9]+$")


class ArchParseError(InputError):
    """An architecture string, op list or index that is not part of the NB201 space."""


def _ops_from_codes(codes: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(OPS[c] for c in codes)


@dataclass(frozen=True, slots=True)
class NB201Arch:
    """One NB201 cell: 6 op names in canonical edge order. Immutable and hashable (a table key)."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple) or len(self.ops) != NUM_EDGES:
            raise ArchParseError(f"an NB201 arch has {NUM_EDGES} ops, got {self.ops!r}")
        for op in self.ops:
            if op not in _OP_INDEX:
                raise ArchParseError(f"unknown NB201 op {op!r}; allowed: {', '.join(OPS)}")

    # --- string form -------------------------------------------------------------------------
    @classmethod
    def from_str(cls, text: str) -> NB201Arch:
        """Parse the benchmark string, e.g. `|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|`."""
        if not isinstance(text, str) or not _STRING_RE.match(text.strip()):
            raise ArchParseError(f"not an NB201 architecture string: {_short(text)}")
        ops: list[str] = []
        for node, part in enumerate(text.strip().split("+"), start=1):
            tokens = [t for t in part.split("|") if t]
            if len(tokens) != node:
                raise ArchParseError(f"node {node} needs {node} inputs in {_short(text)}")
            for source, token in enumerate(tokens):
                op, sep, src = token.rpartition("~")
                if not sep or src != str(source):
                    raise ArchParseError(
                        f"edge {_short(token, 40)} of node {node} must read 'op~{source}' in {_short(text)}"
                    )
                if op not in _OP_INDEX:
                    raise ArchParseError(
                        f"unknown NB201 op {_short(op, 40)} in {_short(text)}; allowed: {', '.join(OPS)}"
                    )
                ops.append(op)
        return cls(tuple(ops))

    def to_str(self) -> str:
        nodes = []
        for node in range(1, NUM_NODES):
            terms = [f"{self.ops[e]}~{src}" for e, (dst, src) in enumerate(EDGES) if dst == node]
            nodes.append("|" + "|".join(terms) + "|")
        return "+".join(nodes)

    def __str__(self) -> str:
        return self.to_str()

    # --- integer forms -------------------------------------------------------------------------
    @property
    def codes(self) -> tuple[int, ...]:
        """Op indices (canonical op order) per canonical edge."""
        return tuple(_OP_INDEX[op] for op in self.ops)

    @classmethod
    def from_codes(cls, codes: tuple[int, ...] | list[int]) -> NB201Arch:
        codes = tuple(int(c) for c in codes)
        if len(codes) != NUM_EDGES or any(not 0 <= c < NUM_OPS for c in codes):
            raise ArchParseError(f"op codes must be {NUM_EDGES} integers in 0..{NUM_OPS - 1}, got {codes!r}")
        return cls(_ops_from_codes(codes))

    @property
    def code(self) -> int:
        """Base-5 integer with edge 0 most significant (a dense key 0..15624, NOT the benchmark index)."""
        value = 0
        for c in self.codes:
            value = value * NUM_OPS + c
        return value

    @property
    def index(self) -> int:
        """The benchmark index (from the packaged official list)."""
        return int(_index_tables().code_to_index[self.code])

    @classmethod
    def from_index(cls, index: int) -> NB201Arch:
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < NUM_ARCHS:
            raise ArchParseError(f"NB201 index must be an integer in 0..{NUM_ARCHS - 1}, got {index!r}")
        return cls.from_codes(tuple(_index_tables().index_codes[int(index)]))

    # --- structure -------------------------------------------------------------------------
    def is_connected(self) -> bool:
        """True if some path of non-`none` ops leads from node 0 (input) to node 3 (output)."""
        reachable = [True, False, False, False]
        for e, (dst, src) in enumerate(EDGES):  # edges are ordered by destination node
            if self.ops[e] != "none" and reachable[src]:
                reachable[dst] = True
        return reachable[NUM_NODES - 1]

    def isomorph_key(self) -> str:
        """Canonical expression of the output node; equal keys = isomorphic cells (6,466 classes).

        Rule of the design guide, in the benchmark authors' exact textual form (the count 6,466 depends on it,
        since `+`-joined terms are not bracketed): node 0 is `0`; an edge contributes the zero marker `#` if its
        op is `none` or its source expression is exactly `#`, the source expression for `skip_connect`,
        otherwise `(source)@op`. A node's expression is its terms sorted and joined by `+`.
        """
        zero = "#"
        expr = ["0"]
        for node in range(1, NUM_NODES):
            terms = []
            for e, (dst, src) in enumerate(EDGES):
                if dst != node:
                    continue
                op, source = self.ops[e], expr[src]
                if op == "none" or source == zero:
                    terms.append(zero)
                elif op == "skip_connect":
                    terms.append(source)
                else:
                    terms.append(f"({source})@{op}")
            expr.append("+".join(sorted(terms)))
        return expr[-1]

    def with_ops(self, edge_ops: dict[int, str]) -> NB201Arch:
        ops = list(self.ops)
        for e, op in edge_ops.items():
            ops[e] = op
        return NB201Arch(tuple(ops))


@dataclass(frozen=True)
class _IndexTables:
    index_codes: np.ndarray  # [15625, 6] int8: op codes of benchmark index i
    code_to_index: np.ndarray  # [15625] int32: benchmark index of base-5 code c


@lru_cache(maxsize=1)
def _index_tables() -> _IndexTables:
    text = resources.files("harness.spaces.nb201").joinpath("data", _INDEX_RESOURCE).read_text(encoding="ascii")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    if len(lines) != NUM_ARCHS:
        raise RuntimeError(f"packaged index list has {len(lines)} entries, expected {NUM_ARCHS}")
    codes = np.array([[int(ch) for ch in ln] for ln in lines], dtype=np.int8)
    weights = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1)
    dense = codes.astype(np.int64) @ weights
    code_to_index = np.full(NUM_ARCHS, -1, dtype=np.int32)
    code_to_index[dense] = np.arange(NUM_ARCHS, dtype=np.int32)
    if (code_to_index < 0).any():
        raise RuntimeError("packaged index list does not cover the NB201 space exactly once")
    codes.setflags(write=False)
    code_to_index.setflags(write=False)
    return _IndexTables(codes, code_to_index)


def index_codes() -> np.ndarray:
    """Read-only [15625, 6] int8 array: row i holds the op codes of benchmark index i."""
    return _index_tables().index_codes


def all_archs() -> tuple[NB201Arch, ...]:
    """All 15,625 architectures in benchmark index order."""
    return tuple(NB201Arch(_ops_from_codes(tuple(row))) for row in index_codes().tolist())


def archs_in_product_order() -> tuple[NB201Arch, ...]:
    """All 15,625 architectures in base-5 product order (edge 0 slowest); for enumeration only."""
    return tuple(NB201Arch(_ops_from_codes(c)) for c in product(range(NUM_OPS), repeat=NUM_EDGES))


def parse_arch(token: str | int) -> NB201Arch:
    """An architecture from user input: a benchmark string or a benchmark index (int or digit string)."""
    if isinstance(token, int | np.integer) and not isinstance(token, bool):
        return NB201Arch.from_index(int(token))
    text = str(token).strip()
    if _INT_RE.match(text):  # ASCII digits only: str.isdigit() also accepts e.g. '²', which int() rejects
        digits = text.lstrip("-").lstrip("0")
        if len(digits) > len(str(NUM_ARCHS)):  # out of range anyway; int() refuses > 4300 digits
            raise ArchParseError(f"NB201 index must be an integer in 0..{NUM_ARCHS - 1}, got {_short(text)}")
        return NB201Arch.from_index(int(text))
    return NB201Arch.from_str(text)


def _short(value: object, limit: int = 80) -> str:
    """repr of a user value, cut to `limit` characters so an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def connected_mask() -> np.ndarray:
    """Boolean [15625] in benchmark index order: True where the cell is connected."""
    return _connected_mask()


@lru_cache(maxsize=1)
def _connected_mask() -> np.ndarray:
    mask = np.array([a.is_connected() for a in all_archs()], dtype=bool)
    mask.setflags(write=False)
    return mask


def region_size(active_mask: np.ndarray) -> int:
    """Number of architectures inside a region given as an active-op mask [6, 5] (product of kept ops)."""
    mask = np.asarray(active_mask, dtype=bool)
    if mask.shape != (NUM_EDGES, NUM_OPS):
        raise ValueError(f"active mask must have shape {(NUM_EDGES, NUM_OPS)}, got {mask.shape}")
    return int(np.prod(mask.sum(axis=1)))


def arch_in_region(arch: NB201Arch, active_mask: np.ndarray) -> bool:
    mask = np.asarray(active_mask, dtype=bool)
    return all(mask[e, c] for e, c in enumerate(arch.codes))


# --- NASLib converters ------------------------------------------------------------------------------
# NASLib (automl/NASLib, search_spaces/nasbench201) numbers ops as below and orders edges source-major:
# (1->2), (1->3), (1->4), (2->3), (2->4), (3->4) in its 1-based node names, i.e. canonical e0, e1, e3, e2, e4, e5.
# Its `op_indices` are NOT the benchmark index.
NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGE_ORDER: tuple[int, ...] = (0, 1, 3, 2, 4, 5)
"""NASLIB_EDGE_ORDER[k] = canonical edge at NASLib position k."""


def to_naslib_op_indices(arch: NB201Arch) -> tuple[int, ...]:
    return tuple(NASLIB_OPS.index(arch.ops[e]) for e in NASLIB_EDGE_ORDER)


def from_naslib_op_indices(op_indices: tuple[int, ...] | list[int]) -> NB201Arch:
    values = tuple(int(v) for v in op_indices)
    if len(values) != NUM_EDGES or any(not 0 <= v < NUM_OPS for v in values):
        raise ArchParseError(f"NASLib op_indices must be {NUM_EDGES} integers in 0..{NUM_OPS - 1}, got {values!r}")
    ops = [""] * NUM_EDGES
    for position, e in enumerate(NASLIB_EDGE_ORDER):
        ops[e] = NASLIB_OPS[values[position]]
    return NB201Arch(tuple(ops))
