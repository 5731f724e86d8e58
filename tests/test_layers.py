"""The layers of DESIGN.md, read from the source: imports point downwards only (data, analytics,
tools, agent, watching, evals, then the interfaces in cxagent/ and app.py), no two modules import
each other at import time, and no LLM client outside agent/."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lower layers first: a module may import its own layer and the layers before it.
LAYERS = ("data", "analytics", "tools", "agent", "watching", "evals", "cxagent")
LLM_CLIENTS = ("openai", "langchain_openai")


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """Every absolute import of a module: (imported name, at import time?). Imports inside
    functions run later; `if TYPE_CHECKING:` imports never run and count as later too."""
    tree = ast.parse(path.read_text())
    eager = {id(node) for node in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            eager -= {id(child) for child in node.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            yield name, id(node) in eager


def _ours(name: str) -> str | None:
    """The project module an imported name resolves to (a package's or a module's)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_downwards_only(module: str) -> None:
    upward = sorted(
        {
            target
            for name, _ in _imports(MODULES[module])
            if (target := _ours(name)) is not None and _layer(target) > _layer(module)
        }
    )
    assert not upward, f"{module} ({LAYERS[_layer(module)]}) imports {upward}"


def test_no_modules_import_each_other_at_import_time() -> None:
    graph = {
        module: {
            target
            for name, eager in _imports(path)
            if eager
            and (target := _ours(name)) not in (None, module)
            and not module.startswith(f"{target}.")  # a package's own __init__
        }
        for module, path in MODULES.items()
    }
    cycles = []
    for start in graph:  # a path back to `start` through its eager imports
        seen, frontier = set(), [(start, (start,))]
        while frontier:
            node, path = frontier.pop()
            for target in graph.get(node, ()):
                if target == start:
                    cycles.append(" -> ".join((*path, start)))
                elif target not in seen:
                    seen.add(target)
                    frontier.append((target, (*path, target)))
    assert not cycles, cycles[:5]


def test_no_llm_client_outside_agent() -> None:
    clients = sorted(
        module
        for module, path in MODULES.items()
        if not module.startswith("agent.")
        and any(name.split(".")[0] in LLM_CLIENTS for name, _ in _imports(path))
    )
    assert not clients, clients


def test_the_layers_are_read_from_real_sources() -> None:
    # A check over no modules would pass vacuously: every layer holds modules with imports.
    for layer in LAYERS:
        imports = [n for m, p in MODULES.items() if m.split(".")[0] == layer for n in _imports(p)]
        assert imports, layer
    assert _ours("analytics.metrics.METRICS") == "analytics.metrics"
    assert _layer("cxagent.web.ui") > _layer("agent.service") > _layer("tools.base")
