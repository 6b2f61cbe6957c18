"""The code stays in small pieces (issue 28): workflow files of at most ~250 lines, package modules
of at most 450, and no import circle between the package's modules (lazy imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "equiglass"
MAX_WORKFLOW_LINES = 260  # "~250"
MAX_MODULE_LINES = 450


def n_lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_workflow_files_are_small():
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    assert len(files) > 5
    big = {f.name: n_lines(f) for f in files if n_lines(f) > MAX_WORKFLOW_LINES}
    assert not big, f"split these workflow files by concern (at most ~250 lines each): {big}"


def test_package_modules_are_small():
    big = {str(f.relative_to(PACKAGE)): n_lines(f) for f in PACKAGE.rglob("*.py") if n_lines(f) > MAX_MODULE_LINES}
    assert not big, f"move a coherent piece of these modules to its own (at most {MAX_MODULE_LINES} lines): {big}"


def module_name(path: Path) -> str:
    parts = ("equiglass", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Package module -> the package modules it imports anywhere in its body (lazy imports too)."""
    files = {module_name(f): f for f in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                names = [target, *(f"{target}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[mod] |= {n for n in names if n in files and n != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_between_package_modules():
    graph = import_graph()
    assert "equiglass.stats" in graph["equiglass.metrics"]  # the finder sees relative imports
    assert not cycles(graph), "package modules import each other in a circle: " + "; ".join(
        " <-> ".join(c) for c in cycles(graph))
