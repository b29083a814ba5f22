"""DARTS-space architecture values: the genotype, its text / JSON / repr forms, sampling, mutation, derivation.

Why this module exists apart from the networks: a DARTS architecture is a *value* (design §1). Searches,
run records, the surrogate judge and the CLI all pass genotypes around, and none of them should need torch
for it. So everything here is pure Python + numpy.

The cell (algorithms.md §1 "DARTS cell"): two cell inputs (input 0 = c_{k-2}, input 1 = c_{k-1}) and four
intermediate nodes k = 0..3. Node k may read from inputs 0..k+1 (input j >= 2 is intermediate node j-2), so the
cell has 2 + 3 + 4 + 5 = 14 edges; edge (k, j) has index `NODE_EDGE_START[k] + j`. A genotype keeps two
(op, input) pairs per node with two *different* inputs, for the normal and the reduction cell; the cell output
concatenates all four intermediate nodes (concat 2..5, the only concat this harness supports). Nodes are
numbered k = 0..3 in every message.

Pair order inside a node is kept as given (DARTS lists a node's two edges in rank order, so the published
DARTS_V1 has `('sep_conv_3x3', 1)` before `('sep_conv_3x3', 0)`); two genotypes that differ only in that order
are the same network. `DartsGenotype.canonical()` sorts each node's pairs by input for comparisons.

Text forms (all exact round trips, none needs `eval`):
* canonical text, one line without spaces or commas (CSV and shell friendly):
  `normal=sep_conv_3x3~0|sep_conv_3x3~1+...;reduce=max_pool_3x3~0|max_pool_3x3~1+...`
  (nodes joined by '+', a node's two edges by '|', each edge `op~input`);
* JSON: `{"normal": [[op, input], ...], "reduce": [...], "normal_concat": [2, 3, 4, 5], ...}`;
* input only: the repr printed by the DARTS code base, `Genotype(normal=[('sep_conv_3x3', 0), ...], ...)`,
  read with a small tokenizer and `ast.literal_eval` on each list literal.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import combinations
from types import MappingProxyType
from typing import Any

import numpy as np

from harness.errors import InputError

OPS_DARTS8: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The eight DARTS primitives, in the DARTS code's PRIMITIVES order."""

OPS_S5: tuple[str, ...] = OPS_DARTS8[1:]
"""The HEP-NAS / GM-NAS `s5` space: the seven primitives without `none`, same order."""

OP_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType({"darts": OPS_DARTS8, "s5": OPS_S5})
"""Op sets by name (read-only)."""

NUM_NODES = 4
NODE_EDGE_START: tuple[int, ...] = (0, 2, 5, 9)
NUM_CELL_EDGES = 14
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
HIERARCHIES: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12, 13))
"""Cell-edge indices into each intermediate node (the HEP-NAS hierarchies), in node order."""

EDGE_ENDPOINTS: tuple[tuple[int, int], ...] = tuple((k, j) for k in range(NUM_NODES) for j in range(k + 2))
"""(node, input) of each cell-edge index 0..13."""

CONCAT: tuple[int, ...] = (2, 3, 4, 5)
PAIRS_PER_CELL = 2 * NUM_NODES

_NODE_INPUT_PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple(combinations(range(k + 2), 2)) for k in range(NUM_NODES)
)
_PAIR_COUNTS = np.array([len(p) for p in _NODE_INPUT_PAIRS] * len(CELL_TYPES), dtype=np.int64)
_PACKAGE = "harness.spaces.darts"
_GENOTYPES_RESOURCE = "genotypes.json"
_JSON_KEYS: tuple[str, ...] = ("normal", "reduce", "normal_concat", "reduce_concat")
_EDGE_RE = re.compile(r"^([a-z0-9_]+)~(0|[1-9][0-9]*)$")
_RANGE_RE = re.compile(r"^range\(\s*([0-9]+)\s*,\s*([0-9]+)\s*\)$")
_KEYWORD_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*=\s*(.*?)\s*$", re.S)
_MAX_TOKEN_CHARS = 20_000
_TEXT_FORM = "'normal=op~input|op~input+...;reduce=...' (4 nodes joined by '+')"


class GenotypeError(InputError):
    """A genotype, genotype text or op set that the DARTS space does not allow."""


def _short(value: Any, limit: int = 80) -> str:
    """repr of a user value, cut to one short line for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def edge_of(node: int, input: int) -> int:
    """Cell-edge index (0..13) of the edge from `input` into intermediate node `node`."""
    if isinstance(node, bool) or not isinstance(node, int | np.integer) or not 0 <= node < NUM_NODES:
        raise GenotypeError(f"node {_short(node)} does not exist; nodes are 0..{NUM_NODES - 1}")
    if isinstance(input, bool) or not isinstance(input, int | np.integer) or not 0 <= input <= node + 1:
        raise GenotypeError(f"input {_short(input)} of node {node} is out of range; node {node} allows 0..{node + 1}")
    return NODE_EDGE_START[int(node)] + int(input)


def resolve_op_set(op_set: str) -> tuple[str, ...]:
    """The ops of a named op set ('darts' or 's5')."""
    if not isinstance(op_set, str) or op_set not in OP_SETS:
        raise GenotypeError(f"unknown op set {_short(op_set)}; allowed: {', '.join(OP_SETS)}")
    return OP_SETS[op_set]


def _sampling_ops(op_set: str) -> tuple[str, ...]:
    # `none` is never drawn: a DARTS genotype lists the two edges a node keeps, and a kept `none` edge would be a
    # node with one input, which DARTS derivation never produces and the surrogate cannot encode.
    return tuple(op for op in resolve_op_set(op_set) if op != "none")


def _check_cell(cell: str, pairs: Any) -> tuple[tuple[str, int], ...]:
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence):
        raise GenotypeError(
            f"the {cell} cell must be a sequence of {PAIRS_PER_CELL} (op, input) pairs, got {_short(pairs)}"
        )
    if len(pairs) != PAIRS_PER_CELL:
        raise GenotypeError(
            f"the {cell} cell has {len(pairs)} (op, input) pairs; a DARTS cell needs {PAIRS_PER_CELL} "
            f"(two per node 0..{NUM_NODES - 1})"
        )
    out: list[tuple[str, int]] = []
    for slot, pair in enumerate(pairs):
        node = slot // 2
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise GenotypeError(f"pair {slot} of the {cell} cell is {_short(pair)}; each pair is (op, input)")
        op, inp = pair
        if not isinstance(op, str) or op not in OPS_DARTS8:
            raise GenotypeError(
                f"op {_short(op)} of node {node} in the {cell} cell is not a DARTS primitive; "
                f"allowed: {', '.join(OPS_DARTS8)}"
            )
        if isinstance(inp, bool) or not isinstance(inp, int | np.integer):
            raise GenotypeError(
                f"input {_short(inp)} of node {node} in the {cell} cell must be an integer 0..{node + 1}"
            )
        if not 0 <= inp <= node + 1:
            raise GenotypeError(
                f"input {int(inp)} of node {node} in the {cell} cell is out of range; node {node} allows 0..{node + 1}"
            )
        out.append((op, int(inp)))
    for node in range(NUM_NODES):
        a, b = out[2 * node][1], out[2 * node + 1][1]
        if a == b:
            raise GenotypeError(
                f"node {node} of the {cell} cell has two equal inputs {a} and {b}; each node needs two different inputs"
            )
    return tuple(out)


def _check_concat(cell: str, value: Any) -> tuple[int, ...]:
    try:
        concat = tuple(int(v) for v in value) if not isinstance(value, str | bytes) else None
    except (TypeError, ValueError):
        concat = None
    if concat != CONCAT:
        raise GenotypeError(
            f"{cell}_concat {_short(value)} is not supported; only {list(CONCAT)} (all four intermediate nodes)"
        )
    return CONCAT


@dataclass(frozen=True, slots=True)
class DartsGenotype:
    """One DARTS architecture: 8 (op, input) pairs per cell type, two per node k = 0..3 in node order.

    Immutable and hashable (a table key). `none` is a valid op here (the 8-op space has it); use
    `check_op_set` to refuse ops outside a chosen op set. Lists, numpy integers and `range` concats are
    accepted by the constructor and stored as plain tuples.
    """

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...] = CONCAT
    reduce_concat: tuple[int, ...] = CONCAT

    def __post_init__(self) -> None:
        for cell in CELL_TYPES:
            object.__setattr__(self, cell, _check_cell(cell, getattr(self, cell)))
            object.__setattr__(self, f"{cell}_concat", _check_concat(cell, getattr(self, f"{cell}_concat")))

    def cell(self, cell: str) -> tuple[tuple[str, int], ...]:
        """The 8 pairs of cell type 'normal' or 'reduce'."""
        if cell not in CELL_TYPES:
            raise GenotypeError(f"unknown cell type {_short(cell)}; allowed: {', '.join(CELL_TYPES)}")
        return self.normal if cell == "normal" else self.reduce

    def canonical(self) -> DartsGenotype:
        """The same network with each node's two pairs sorted by input (for comparing genotypes)."""
        cells = {
            c: tuple(p for k in range(NUM_NODES) for p in sorted(self.cell(c)[2 * k : 2 * k + 2], key=_input))
            for c in CELL_TYPES
        }
        return DartsGenotype(normal=cells["normal"], reduce=cells["reduce"])

    def decisions(self) -> tuple[str | int, ...]:
        """All 32 choices in a fixed order: per cell, per pair: op, then input (for one-decision mutation)."""
        return tuple(x for c in CELL_TYPES for op, inp in self.cell(c) for x in (op, inp))

    def check_op_set(self, op_set: str) -> DartsGenotype:
        """Self, or GenotypeError naming the first op outside op set `op_set` ('darts' or 's5')."""
        allowed = resolve_op_set(op_set)
        for c in CELL_TYPES:
            for slot, (op, inp) in enumerate(self.cell(c)):
                if op not in allowed:
                    raise GenotypeError(
                        f"op {op!r} on node {slot // 2} (input {inp}) of the {c} cell is not in op set {op_set!r}; "
                        f"allowed: {', '.join(allowed)}"
                    )
        return self

    def to_str(self) -> str:
        """Canonical one-line text (no spaces, no commas); `from_str(g.to_str()) == g`."""
        return ";".join(f"{c}={_cell_text(self.cell(c))}" for c in CELL_TYPES)

    def __str__(self) -> str:
        return self.to_str()

    @classmethod
    def from_str(cls, text: str) -> DartsGenotype:
        """Parse the canonical text form (surrounding whitespace is ignored)."""
        if not isinstance(text, str):
            raise GenotypeError(f"genotype text must be a string, got {_short(text)}")
        t = text.strip()
        parts = t.split(";")
        if len(parts) != 2 or not parts[0].startswith("normal=") or not parts[1].startswith("reduce="):
            raise GenotypeError(f"genotype text {_short(t)} is malformed; expected {_TEXT_FORM}")
        cells = {c: _parse_cell_text(c, part[len(c) + 1 :], t) for c, part in zip(CELL_TYPES, parts, strict=True)}
        return cls(normal=cells["normal"], reduce=cells["reduce"])

    def to_json(self) -> dict[str, list[Any]]:
        """JSON-safe dict: normal / reduce as [[op, input], ...], concats as lists."""
        return {
            "normal": [[op, inp] for op, inp in self.normal],
            "reduce": [[op, inp] for op, inp in self.reduce],
            "normal_concat": list(self.normal_concat),
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_json(cls, obj: Any) -> DartsGenotype:
        """Inverse of `to_json`; the concat keys are optional."""
        if not isinstance(obj, Mapping):
            raise GenotypeError(f"a genotype JSON value must be an object, got {_short(obj)}")
        for key in obj:
            if key not in _JSON_KEYS:
                raise GenotypeError(
                    f"unknown key {_short(key)} in a genotype JSON object; allowed: {', '.join(_JSON_KEYS)}"
                )
        for key in CELL_TYPES:
            if key not in obj:
                have = ", ".join(map(str, obj)) or "none"
                raise GenotypeError(f"a genotype JSON object needs key {key!r}; it has {have}")
        return cls(
            normal=obj["normal"],
            reduce=obj["reduce"],
            normal_concat=obj.get("normal_concat", CONCAT),
            reduce_concat=obj.get("reduce_concat", CONCAT),
        )

    def edge_ops(self, cell: str) -> dict[int, str]:
        """Cell-edge index -> op for the 8 chosen edges of `cell` (see `genotype_edge_ops`)."""
        return genotype_edge_ops(self, cell)


def _input(pair: tuple[str, int]) -> int:
    return pair[1]


def _cell_text(pairs: tuple[tuple[str, int], ...]) -> str:
    return "+".join("|".join(f"{op}~{inp}" for op, inp in pairs[2 * k : 2 * k + 2]) for k in range(NUM_NODES))


def _parse_cell_text(cell: str, text: str, whole: str) -> list[tuple[str, int]]:
    nodes = text.split("+")
    if len(nodes) != NUM_NODES:
        raise GenotypeError(
            f"the {cell} cell of genotype text {_short(whole)} has {len(nodes)} nodes; "
            f"expected {NUM_NODES} joined by '+'"
        )
    pairs: list[tuple[str, int]] = []
    for k, node in enumerate(nodes):
        edges = node.split("|")
        if len(edges) != 2:
            raise GenotypeError(
                f"node {k} of the {cell} cell in genotype text is {_short(node)}; expected 'op~input|op~input'"
            )
        for edge in edges:
            m = _EDGE_RE.match(edge)
            if m is None:
                raise GenotypeError(
                    f"edge {_short(edge)} of node {k} in the {cell} cell is malformed; expected op~input, "
                    f"e.g. sep_conv_3x3~0"
                )
            pairs.append((m.group(1), int(m.group(2))))
    return pairs


def _split_top_level(text: str) -> list[str]:
    """Split `text` at commas outside brackets and string literals (the Genotype repr's arguments)."""
    closing = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    parts: list[str] = []
    start = 0
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in closing:
            stack.append(closing[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                raise GenotypeError(f"the Genotype repr has an unmatched {ch!r} at character {i}")
        elif ch == "," and not stack:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quote is not None or stack:
        raise GenotypeError("the Genotype repr has an unclosed string or bracket")
    parts.append(text[start:])
    if parts and not parts[-1].strip():
        parts.pop()  # a trailing comma
    return parts


def _repr_value(key: str, text: str) -> Any:
    m = _RANGE_RE.match(text)
    if m is not None:
        return range(int(m.group(1)), int(m.group(2)))
    if not text.startswith(("[", "(")):
        raise GenotypeError(f"{key}= in the Genotype repr is {_short(text)}; expected a list literal or range(2, 6)")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise GenotypeError(f"{key}= in the Genotype repr is not a literal list: {_short(text)}") from exc
    if not isinstance(value, list | tuple):
        raise GenotypeError(f"{key}= in the Genotype repr is {_short(value)}; expected a list")
    return value


def _parse_repr(text: str) -> DartsGenotype:
    if not (text.startswith("Genotype(") and text.endswith(")")):
        raise GenotypeError(f"genotype repr {_short(text)} is malformed; expected Genotype(normal=[...], ...)")
    fields: dict[str, Any] = {}
    for arg in _split_top_level(text[len("Genotype(") : -1]):
        m = _KEYWORD_RE.match(arg)
        if m is None:
            raise GenotypeError(f"argument {_short(arg.strip())} of the Genotype repr is not keyword=value")
        key, value = m.group(1), m.group(2)
        if key not in _JSON_KEYS:
            raise GenotypeError(f"unknown keyword {key!r} in the Genotype repr; allowed: {', '.join(_JSON_KEYS)}")
        if key in fields:
            raise GenotypeError(f"keyword {key!r} appears twice in the Genotype repr")
        fields[key] = _repr_value(key, value)
    for key in CELL_TYPES:
        if key not in fields:
            raise GenotypeError(f"the Genotype repr has no {key}= argument")
    return DartsGenotype(
        normal=fields["normal"],
        reduce=fields["reduce"],
        normal_concat=fields.get("normal_concat", CONCAT),
        reduce_concat=fields.get("reduce_concat", CONCAT),
    )


# ----------------------------------------------------------------------------------------------------------------
# Built-in (published) genotypes


@lru_cache(maxsize=1)
def _builtin_table() -> Mapping[str, Mapping[str, Any]]:
    raw = json.loads(resources.files(_PACKAGE).joinpath("data", _GENOTYPES_RESOURCE).read_text(encoding="utf-8"))
    table: dict[str, Mapping[str, Any]] = {}
    for name, entry in raw["genotypes"].items():
        table[name] = MappingProxyType(
            {
                "genotype": DartsGenotype.from_json({k: entry[k] for k in _JSON_KEYS if k in entry}),
                "source": str(entry.get("source", "")),
                "published_params_m": MappingProxyType(dict(entry.get("published_params_m", {}))),
                "computed_params_m": MappingProxyType(
                    {k: float(v) for k, v in entry.get("computed_params_m", {}).items() if k != "note"}
                ),
            }
        )
    return MappingProxyType(table)


def builtin_names() -> tuple[str, ...]:
    """Names of the packaged published genotypes (case-sensitive), in file order."""
    return tuple(_builtin_table())


def builtin_genotypes() -> dict[str, DartsGenotype]:
    """name -> genotype for the packaged published cells (data/genotypes.json; see data/PROVENANCE.md)."""
    return {name: entry["genotype"] for name, entry in _builtin_table().items()}


def _builtin_entry(name: str) -> Mapping[str, Any]:
    table = _builtin_table()
    if name not in table:
        raise GenotypeError(f"unknown built-in genotype {_short(name)}; known: {', '.join(table)}")
    return table[name]


def builtin_sources() -> dict[str, str]:
    """name -> where the genotype was published (paper and repository file)."""
    return {name: entry["source"] for name, entry in _builtin_table().items()}


def published_params_m(name: str) -> dict[str, float]:
    """Parameter counts (millions) quoted by the genotype's paper, per data set; empty when none was published."""
    return {k: float(v) for k, v in _builtin_entry(name)["published_params_m"].items()}


def computed_params_m(name: str) -> dict[str, float]:
    """An independent parameter count (millions) shipped with the data, NOT a published figure; may be empty."""
    return dict(_builtin_entry(name)["computed_params_m"])


def parse_genotype(token: str) -> DartsGenotype:
    """A genotype from user text: a built-in name, the canonical text, a JSON object or a DARTS `Genotype(...)` repr."""
    if not isinstance(token, str):
        raise GenotypeError(f"a genotype must be given as text, got {_short(token)}")
    t = token.strip()
    if len(t) > _MAX_TOKEN_CHARS:
        raise GenotypeError(f"genotype text of {len(t)} characters is too long; at most {_MAX_TOKEN_CHARS}")
    table = _builtin_table()
    if t in table:
        return table[t]["genotype"]
    if t.startswith("{"):
        try:
            obj = json.loads(t)
        except json.JSONDecodeError as exc:
            raise GenotypeError(
                f"genotype JSON {_short(t)} is not valid JSON ({exc.msg} at character {exc.pos})"
            ) from exc
        return DartsGenotype.from_json(obj)
    if t.startswith("Genotype("):
        return _parse_repr(t)
    if t.startswith("normal="):
        return DartsGenotype.from_str(t)
    raise GenotypeError(
        f"unknown genotype {_short(t)}; give a built-in name ({', '.join(table)}), the canonical text {_TEXT_FORM}, "
        'a JSON object {"normal": [[op, input], ...], "reduce": [...]} or a DARTS Genotype(normal=[...], ...) repr'
    )


# ----------------------------------------------------------------------------------------------------------------
# Sampling and mutation


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def sample_genotype(rng: np.random.Generator, op_set: str = "s5") -> DartsGenotype:
    """A uniform random genotype: per cell and node, a uniform pair of distinct inputs (stored sorted by input)
    and, per kept edge, a uniform op from `op_set` without `none` (a kept edge is never `none` in DARTS).

    Draw order (fixed, it defines reproducible samples): one draw of the 8 node input pairs (normal nodes 0..3,
    then reduce nodes 0..3, each uniform over that node's sorted pairs), then 16 op draws in pair order.
    """
    _check_rng(rng)
    ops = _sampling_ops(op_set)
    pair_codes = rng.integers(0, _PAIR_COUNTS)
    op_codes = rng.integers(0, len(ops), size=2 * PAIRS_PER_CELL)
    cells: list[list[tuple[str, int]]] = [[], []]
    for n, code in enumerate(pair_codes):
        c, k = divmod(n, NUM_NODES)
        for side, inp in enumerate(_NODE_INPUT_PAIRS[k][int(code)]):
            cells[c].append((ops[int(op_codes[2 * n + side])], inp))
    return DartsGenotype(normal=tuple(cells[0]), reduce=tuple(cells[1]))


def mutate_genotype(g: DartsGenotype, rng: np.random.Generator, op_set: str = "s5") -> DartsGenotype:
    """A genotype that differs from `g` in exactly one decision, uniform over all such neighbours.

    A decision is one pair's op (changed to another op of `op_set`, never `none`) or one pair's input (changed to
    another input of that node, different from the node's other input). The pair keeps its position.
    """
    _check_rng(rng)
    if not isinstance(g, DartsGenotype):
        raise GenotypeError(f"mutate_genotype needs a DartsGenotype, got {_short(g)}")
    g.check_op_set(op_set)
    ops = _sampling_ops(op_set)
    moves: list[tuple[int, int, str, int]] = []
    for c, cell in enumerate(CELL_TYPES):
        pairs = g.cell(cell)
        for slot, (op, inp) in enumerate(pairs):
            other = pairs[slot ^ 1][1]
            moves.extend((c, slot, new_op, inp) for new_op in ops if new_op != op)
            moves.extend((c, slot, op, new_in) for new_in in range(slot // 2 + 2) if new_in not in (inp, other))
    c, slot, op, inp = moves[int(rng.integers(len(moves)))]
    cells = [list(g.normal), list(g.reduce)]
    cells[c][slot] = (op, inp)
    return DartsGenotype(normal=tuple(cells[0]), reduce=tuple(cells[1]))


# ----------------------------------------------------------------------------------------------------------------
# Edge-indexed views


def genotype_edge_ops(g: DartsGenotype, cell: str) -> dict[int, str]:
    """Cell-edge index (0..13) -> op for the 8 edges `g` keeps in `cell`, in ascending edge order."""
    return dict(sorted((edge_of(slot // 2, inp), op) for slot, (op, inp) in enumerate(g.cell(cell))))


def _pairs_from_edge_ops(cell: str, edge_ops: Mapping[int, str]) -> list[tuple[str, int]]:
    if not isinstance(edge_ops, Mapping):
        raise GenotypeError(f"the {cell} cell's edge ops must be a mapping edge -> op, got {_short(edge_ops)}")
    for edge in edge_ops:
        if isinstance(edge, bool) or not isinstance(edge, int | np.integer) or not 0 <= edge < NUM_CELL_EDGES:
            raise GenotypeError(
                f"edge {_short(edge)} of the {cell} cell does not exist; edges are 0..{NUM_CELL_EDGES - 1}"
            )
    pairs: list[tuple[str, int]] = []
    for k, edges in enumerate(HIERARCHIES):
        chosen = [e for e in edges if e in edge_ops]
        if len(chosen) != 2:
            raise GenotypeError(
                f"node {k} of the {cell} cell has {len(chosen)} chosen edges {tuple(chosen)}; "
                f"each node needs exactly 2 of edges {edges}"
            )
        pairs.extend((edge_ops[e], e - NODE_EDGE_START[k]) for e in chosen)
    return pairs


def genotype_from_edge_ops(normal: Mapping[int, str], reduce: Mapping[int, str]) -> DartsGenotype:
    """Inverse of `genotype_edge_ops` (pairs come out sorted by input); exactly 2 edges per node."""
    return DartsGenotype(normal=_pairs_from_edge_ops("normal", normal), reduce=_pairs_from_edge_ops("reduce", reduce))


# ----------------------------------------------------------------------------------------------------------------
# Derivation and regions (masks of shape [2, 14, O]: cell type, cell edge, op)


def _check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    ops_t = tuple(ops)
    for op in ops_t:
        if op not in OPS_DARTS8:
            raise GenotypeError(f"op {_short(op)} is not a DARTS primitive; allowed: {', '.join(OPS_DARTS8)}")
    if len(set(ops_t)) != len(ops_t) or not ops_t:
        raise GenotypeError(f"op list {_short(ops_t)} must be non-empty without repeats")
    return ops_t


def _as_cell_array(name: str, array: Any, num_ops: int) -> np.ndarray:
    a = np.asarray(array)
    if a.shape == (len(CELL_TYPES) * NUM_CELL_EDGES, num_ops):
        a = a.reshape(len(CELL_TYPES), NUM_CELL_EDGES, num_ops)
    if a.shape != (len(CELL_TYPES), NUM_CELL_EDGES, num_ops):
        raise ValueError(
            f"{name} has shape {a.shape}; expected ({len(CELL_TYPES)}, {NUM_CELL_EDGES}, {num_ops}) "
            f"or ({len(CELL_TYPES) * NUM_CELL_EDGES}, {num_ops})"
        )
    return a


def _choosable(mask: Any, ops: tuple[str, ...]) -> np.ndarray:
    """bool [2, 14, O]: active and not `none`."""
    m = _as_cell_array("mask", mask, len(ops)) != 0
    return m & np.array([op != "none" for op in ops], dtype=bool)


def derive_genotype(weights: np.ndarray, mask: np.ndarray, ops: tuple[str, ...]) -> DartsGenotype:
    """The DARTS derivation rule (quark0/darts `genotype()`), restricted to the active ops of `mask`.

    `weights` and `mask` have shape [2, 14, O] (cell type, cell edge, op; a flattened [28, O] is accepted too);
    `weights` is the masked softmax of alpha. Per cell and node: rank the node's incoming edges by their largest
    weight over active non-`none` ops, keep the top two (ties -> lower edge index) and put on each its argmax
    active non-`none` op (ties -> lower op index). Pairs are listed in rank order, as DARTS prints them. An edge
    with no active non-`none` op is never kept; ValueError when a node has fewer than two keepable edges.
    """
    ops_t = _check_ops(ops)
    w = _as_cell_array("weights", weights, len(ops_t)).astype(np.float64)
    ok = _choosable(mask, ops_t)
    if not np.all(np.isfinite(w[ok])):
        raise ValueError("weights hold non-finite values on active ops")
    scores = np.where(ok, w, -np.inf)
    edge_score = scores.max(axis=2)
    best_op = scores.argmax(axis=2)
    cells: list[list[tuple[str, int]]] = [[], []]
    for c, cell in enumerate(CELL_TYPES):
        for k, edges in enumerate(HIERARCHIES):
            keepable = [e for e in edges if ok[c, e].any()]
            if len(keepable) < 2:
                raise ValueError(
                    f"node {k} of the {cell} cell has {len(keepable)} edges with an active non-none op; it needs 2"
                )
            ranked = sorted(keepable, key=lambda e, c=c: (-edge_score[c, e], e))[:2]
            cells[c].extend((ops_t[int(best_op[c, e])], e - NODE_EDGE_START[k]) for e in ranked)
    return DartsGenotype(normal=tuple(cells[0]), reduce=tuple(cells[1]))


def count_genotypes_in_region(mask: np.ndarray, ops: tuple[str, ...]) -> int:
    """Number of distinct genotypes (pair order ignored, `none` never kept) whose every kept edge's op is active
    in `mask` [2, 14, O]: the product over cells and nodes of sum over input pairs i < j of a_i * a_j, with a_e
    the number of active non-`none` ops on edge e."""
    ops_t = _check_ops(ops)
    active = _choosable(mask, ops_t).sum(axis=2)
    total = 1
    for c in range(len(CELL_TYPES)):
        for edges in HIERARCHIES:
            total *= sum(int(active[c, i]) * int(active[c, j]) for i, j in combinations(edges, 2))
    return total


def genotype_in_region(g: DartsGenotype, mask: np.ndarray, ops: tuple[str, ...]) -> bool:
    """True when every kept edge of `g` carries an op that is active in `mask` [2, 14, O] (`none` never counts)."""
    ops_t = _check_ops(ops)
    ok = _choosable(mask, ops_t)
    index = {op: i for i, op in enumerate(ops_t)}
    for c, cell in enumerate(CELL_TYPES):
        for slot, (op, inp) in enumerate(g.cell(cell)):
            if op not in index or not ok[c, edge_of(slot // 2, inp), index[op]]:
                return False
    return True
