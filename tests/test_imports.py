"""Import direction (design.md section 3), checked by parsing every module's imports with `ast`.

Forbidden edges:
  algorithms/*  -> harness.oracle, harness.records, harness.runner (and
  harness.context/config/registry/rank_eval:
                   algorithms reach the harness through the RunContext they are given)
  algorithms/X  -> algorithms/Y for X != Y (shared code lives in algorithms/common)
  harness/*     -> algorithms (only registry strings name them)
  reports/*     -> harness, algorithms (reports read run directories only)
  torch at module level in harness.config, spaces, oracle, metrics, rank_eval, records, registry, provenance,
  cli, commands/* (they must import fast, without torch); function-level (lazy) imports are allowed there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "algorithms", "reports")
ALGO_FORBIDDEN = (
    "harness.oracle",
    "harness.records",
    "harness.runner",
    "harness.context",
    "harness.config",
    "harness.registry",
    "harness.rank_eval",
)
NO_TORCH_AT_MODULE_LEVEL = (
    "harness.config",
    "harness.spaces",
    "harness.oracle",
    "harness.metrics",
    "harness.rank_eval",
    "harness.records",
    "harness.registry",
    "harness.provenance",
    "harness.cli",
    "harness.commands",
    "harness.errors",
    "harness.api",
    "reports",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import statement."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    is_pkg = path.name == "__init__.py"
    top_level = {id(node) for node in tree.body}
    # statements under `if TYPE_CHECKING:` / try at the top are still module level; functions are not
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            for child in ast.walk(node):
                top_level.add(id(child))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, id(node) in top_level, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            names = [name] + [f"{name}.{a.name}" for a in node.names]
            out.extend((n, id(node) in top_level, node.lineno) for n in names)
    return out


def _files() -> list[Path]:
    return sorted(p for pkg in PACKAGES if (REPO / pkg).is_dir() for p in (REPO / pkg).rglob("*.py"))


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations() -> list[str]:
    bad: list[str] = []
    for path in _files():
        module = _module_name(path)
        rel = path.relative_to(REPO)
        for name, module_level, line in _imports(path):
            where = f"{rel}:{line} imports {name}"
            if _under(module, "algorithms"):
                if any(_under(name, f) for f in ALGO_FORBIDDEN):
                    bad.append(f"{where} (algorithms reach ground truth/records only via the RunContext)")
                own = module.split(".")[1] if module.count(".") >= 1 else None
                if _under(name, "algorithms") and name.count(".") >= 1:
                    other = name.split(".")[1]
                    if own and other not in (own, "common") and own != "common":
                        bad.append(f"{where} (algorithms do not import each other; use algorithms.common)")
                    if own == "common" and other != "common":
                        bad.append(f"{where} (algorithms.common must not import a concrete algorithm)")
            if _under(module, "harness") and _under(name, "algorithms"):
                bad.append(f"{where} (harness names algorithms only by registry strings)")
            if _under(module, "reports") and (_under(name, "harness") or _under(name, "algorithms")):
                bad.append(f"{where} (reports read run directories only)")
            if (
                module_level
                and _under(name, "torch")
                and any(_under(module, m) for m in NO_TORCH_AT_MODULE_LEVEL)
            ):
                bad.append(f"{where} (torch at module level in a module that must import without torch)")
    seen: set[tuple[str, str]] = set()
    unique = []
    for item in bad:  # `from a.b import c` yields a.b and a.b.c: report one statement once per rule
        key = (item.split(" imports ")[0], item.rsplit(" (", 1)[-1])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def test_no_forbidden_import_edges():
    assert violations() == []


def test_checker_catches_a_violation(tmp_path, monkeypatch):
    """The checker itself can fail: a fake algorithms module importing the oracle is reported."""
    pkg = tmp_path / "algorithms" / "evil"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from harness.oracle.table import load_oracle\nimport algorithms.spos\n")
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "config.py").write_text("import torch\nimport algorithms.darts\n")
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    found = violations()
    assert len(found) == 4, found


@pytest.mark.parametrize(
    "module",
    [
        "harness.config",
        "harness.records",
        "harness.rank_eval",
        "harness.registry",
        "harness.commands.status",
        "harness.commands.search",
        "harness.commands.run",
    ],
)
def test_light_modules_import_without_torch(module):
    import subprocess
    import sys

    code = f"import sys, {module}; sys.exit(1 if 'torch' in sys.modules else 0)"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, f"{module} pulls in torch at import time: {res.stderr}"
