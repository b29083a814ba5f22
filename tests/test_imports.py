"""Import direction (design.md section 3), checked by parsing every module's imports with `ast`.

Forbidden edges:
  algorithms/*  -> harness.oracle, harness.records, harness.runner (and
  harness.context/config/registry/rank_eval:
                   algorithms reach the harness through the RunContext they are given)
  algorithms/*  -> a concrete space (harness.spaces.nb201, harness.spaces.darts): algorithms receive the
                   `SearchSpace` object and may import only harness.spaces / harness.spaces.base
  algorithms/X  -> algorithms/Y for X != Y (shared code lives in algorithms/common)
  harness/*     -> algorithms (only registry strings name them)
  reports/*     -> harness, algorithms (reports read run directories only)
  torch at module level in harness.config, spaces, oracle, metrics, rank_eval, records, registry, provenance,
  cli, commands/* (they must import fast, without torch); function-level (lazy) imports are allowed there.
  Inside harness.spaces only a space's torch model modules (`ops`, `network`, `supernet`, `gm`, e.g.
  harness.spaces.nb201.supernet) may import torch at module level; the space object, its architecture
  values, cost, inspector (harness.spaces, .base, .nb201, .nb201.arch/.cost/.space/.inspect) may not.
  harness.supernet_bench uses torch (it is not a light module).
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
CONCRETE_SPACES = ("harness.spaces.nb201", "harness.spaces.darts")
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
SPACE_TORCH_MODULES = ("ops", "network", "supernet", "cell_engine", "gm")
"""Leaf names of the modules of a space package (harness.spaces.<name>.<leaf>) that build torch models."""


def _torch_allowed(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 4 and parts[:2] == ["harness", "spaces"] and parts[3] in SPACE_TORCH_MODULES


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
                if any(_under(name, sp) for sp in CONCRETE_SPACES):
                    bad.append(f"{where} (algorithms get the SearchSpace object; they name no concrete space)")
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
                and not _torch_allowed(module)
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


def test_checker_catches_space_violations(tmp_path, monkeypatch):
    """An algorithm naming a concrete space and torch in a light space module are reported; torch in a space's
    supernet module is not."""
    (tmp_path / "algorithms" / "evil").mkdir(parents=True)
    (tmp_path / "algorithms" / "evil" / "__init__.py").write_text("from harness.spaces.nb201 import NB201Arch\n")
    space = tmp_path / "harness" / "spaces" / "nb201"
    space.mkdir(parents=True)
    (tmp_path / "harness" / "spaces" / "base.py").write_text("import torch\n")
    (space / "space.py").write_text("import torch\n")
    (space / "supernet.py").write_text("import torch\n")
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    found = violations()
    assert len(found) == 3, found
    assert not any("supernet.py" in f for f in found), found


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
        "harness.commands.inspect",
        "harness.spaces",
        "harness.spaces.base",
        "harness.spaces.nb201",
        "harness.spaces.nb201.arch",
        "harness.spaces.nb201.cost",
        "harness.spaces.nb201.space",
        "harness.spaces.nb201.inspect",
    ],
)
def test_light_modules_import_without_torch(module):
    import subprocess
    import sys

    code = f"import sys, {module}; sys.exit(1 if 'torch' in sys.modules else 0)"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, f"{module} pulls in torch at import time: {res.stderr}"


def test_resolving_the_nb201_space_does_not_import_torch():
    """get_space("nb201") and its torch-free capabilities (values, enumeration, judge hash) stay light."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from harness.spaces import get_space\n"
        "space = get_space('nb201')\n"
        "arch = space.enumeration.from_index(123)\n"
        "assert space.one_shot.in_region(arch, space.one_shot.full_mask())\n"
        "assert len(space.judge.sha256) == 64\n"
        "sys.exit(1 if 'torch' in sys.modules else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, f"resolving the nb201 space pulls in torch: {res.stderr}"


@pytest.mark.parametrize(
    "module",
    [
        "harness.spaces.nb201.ops",
        "harness.spaces.nb201.network",
        "harness.spaces.nb201.supernet",
        "harness.spaces.nb201.cell_engine",
        "harness.spaces.nb201.gm",
        "harness.supernet_bench",
    ],
)
def test_torch_model_modules_are_allowed_torch(module):
    """The torch-backed modules of the NB201 space are exempt from the light-module rule (and do use torch)."""
    path = REPO / (module.replace(".", "/") + ".py")
    assert any(_under(name, "torch") and level for name, level, _ in _imports(path))
    assert not any(_under(module, m) for m in NO_TORCH_AT_MODULE_LEVEL) or _torch_allowed(module)
