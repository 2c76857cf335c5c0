"""The shape DESIGN §1 asks for, checked on the source: no import cycles (lazy and type-only imports
count), drivers never import posd, SQL only in posd/db, modules and classes within their size limits."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("posd", "drivers")
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400
SQL = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|INSERT (OR \w+ )?INTO\s|UPDATE \w+ SET\s|DELETE FROM\s"
    r"|CREATE (TABLE|INDEX|TRIGGER)\s|DROP \w+\s|ALTER TABLE\s|PRAGMA\s)",
    re.S,
)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every posd/drivers module this one imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_imports() -> None:
    # guards the checks below against passing because the parser found nothing
    assert len(MODULES) > 40
    assert sum(len(v) for v in GRAPH.values()) > 100


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_cycle_detector_finds_a_cycle() -> None:
    saved = {k: set(v) for k, v in GRAPH.items()}
    try:
        user = next(m for m, deps in GRAPH.items() if "posd.errors" in deps)
        GRAPH["posd.errors"].add(user)
        assert any("posd.errors" in c for c in _cycles())
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_drivers_never_import_posd() -> None:
    bad = {m: sorted(t for t in deps if t.startswith("posd")) for m, deps in GRAPH.items()}
    assert {m: d for m, d in bad.items() if m.startswith("drivers") and d} == {}


def test_the_driver_registry_is_a_leaf() -> None:
    # every driver imports drivers.registry, so it may lean on drivers.base alone
    assert "drivers.manager" in GRAPH and "drivers.printers.escpos" in GRAPH
    assert GRAPH["drivers.registry"] <= {"drivers.base"}
    assert GRAPH["drivers.base"] == set()


def test_only_the_cli_imports_the_composition_root() -> None:
    users = {m for m, deps in GRAPH.items() if any(d.startswith("posd.app") for d in deps)}
    assert {m for m in users if not m.startswith(("posd.cli", "posd.app"))} == set()


def test_posd_holds_packages() -> None:
    flat = sorted(p.name for p in (ROOT / "posd").glob("*.py") if p.name != "__init__.py")
    assert flat == ["errors.py"]


def test_sql_detector_sees_sql() -> None:
    assert SQL.match("SELECT amount, time FROM proofs WHERE seq = ?")
    assert SQL.match("UPDATE print_jobs SET state = 'printed' WHERE id = ?")
    assert not SQL.match("Create, validate and show the configuration.")


def test_sql_only_in_the_db_package() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("posd.db"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SQL.match(node.value) and " " in node.value.strip():
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_module_and_class_sizes() -> None:
    big = []
    for path in MODULES.values():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            big.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    big.append(f"{path.relative_to(ROOT)}:{node.name}: {size} lines")
    assert big == []
