"""The shape of src/shelf: data flows one way between its top-level packages (no import cycle,
deferred imports included), no module over 500 lines, no class over 300."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "shelf"
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def unit(path: Path) -> str:
    """The top-level package (or module) of ``src/shelf`` a file belongs to."""
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def import_graph() -> dict[str, set[str]]:
    """Top-level unit -> the units its files import from (every import, at any depth)."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        source = unit(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "shelf" and len(parts) > 1 and parts[1] != source:
                    graph.setdefault(source, set()).add(parts[1])
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_packages_import_each_other_one_way() -> None:
    graph = import_graph()
    assert "search" in graph and "cli" in graph  # the graph was read at all
    assert find_cycle(graph) is None, f"import cycle between packages: {find_cycle(graph)}"


def test_domain_packages_do_not_reach_up() -> None:
    """The stages import neither the CLI, the server nor the evaluation (only the CLI and the
    benchmarks import ``evaluate``); they import no typer."""
    graph = import_graph()
    for low in ("catalog", "formats", "store", "text", "ingest", "search", "recommend", "train"):
        assert not graph.get(low, set()) & {"cli", "serve", "web", "engine"}, low
    importers = sorted(u for u, targets in graph.items() if "evaluate" in targets)
    assert importers == ["cli"], f"only the CLI imports shelf.evaluate, not {importers}"
    for path in [*SRC.joinpath("search").rglob("*.py"), *SRC.joinpath("recommend").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "import typer" not in text and "shelf.store" not in text, path


def test_modules_and_classes_stay_small() -> None:
    too_long = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(SRC)} ({len(text.splitlines())} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    too_long.append(f"{path.relative_to(SRC)}:{node.name} ({lines} lines)")
    assert not too_long, f"split these by job: {too_long}"
