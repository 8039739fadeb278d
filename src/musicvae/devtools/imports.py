"""The import check: no module of ``musicvae`` imports a later stage of the flow, and no import cycle.

A developer tool outside the flow (it reads source files, it imports nothing of ``musicvae``); run it
with ``python -m musicvae.devtools.imports``; ``tests/test_imports.py`` runs it in ``make test``.

The flow, written once (``STAGES``)::

    music -> representations -> data -> models -> training -> generation -> evaluation -> cli

- ``studio`` (the web front end), ``devtools`` and ``__main__`` sit with ``cli``.
- ``render`` is a leaf on ``music``: it imports only ``music`` (and the foundation), and only the ``cli``
  stage imports it.
- The foundation (``utils``, ``config``, ``presets`` and the package's own ``__init__``) comes before
  ``music``: every stage may import it, it imports nothing but itself. Configs and presets are plain
  declarations (dataclasses, named settings) that every stage reads, so they sit here rather than
  with the stage that happens to build models.

Two rules, over the edges read from the source with ``ast`` (nothing is imported):

1. **Flow**: an import of a later stage is a violation wherever it is written, at module level or
   inside a function (a lazy import is the same dependency, only later).
2. **Cycles**: no cycle among the imports that run when a module is imported (module level, including
   ``if``/``try`` blocks; not ``if TYPE_CHECKING:``). Imports inside functions run after every module
   has finished loading, so they cannot leave a module half-initialised; inside one stage they are
   allowed to close a loop (rule 1 still forbids them across stages).

There are no exceptions: the list of allowed violations that issue 22 emptied is gone with it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

PACKAGE = "musicvae"
STAGES = ("music", "representations", "data", "models", "training", "generation", "evaluation", "cli")
FOUNDATION = frozenset({"", "utils", "config", "presets"})  # "" is the package's own __init__
WITH_STAGE = {"studio": "cli", "devtools": "cli", "__main__": "cli"}
LEAVES = {"render": "music"}  # leaf -> the stage it hangs on; only the last stage imports a leaf


class Edge(NamedTuple):
    """One import of a ``musicvae`` module by another."""

    target: str
    line: int
    at_import: bool  # runs when the importing module is imported (not inside a function)


def module_name(path: Path, src: Path) -> str:
    """``src/musicvae/data/prepare.py`` -> ``musicvae.data.prepare`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> Iterable[tuple[ast.stmt, bool]]:
    """Every import statement with whether it runs at import time (not in a function, not TYPE_CHECKING)."""
    def walk(nodes: Iterable[ast.AST], at_import: bool):
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield node, at_import
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(ast.iter_child_nodes(node), False)
            elif isinstance(node, ast.If) and _type_checking(node.test):
                yield from walk(node.body, False)
                yield from walk(node.orelse, at_import)
            else:
                yield from walk(ast.iter_child_nodes(node), at_import)

    yield from walk(tree.body, True)


def scan(src: Path) -> dict[str, list[Edge]]:
    """The import graph of the package under ``src`` (``src/musicvae/**.py``), read without importing."""
    files = {module_name(p, src): p for p in sorted((src / PACKAGE).rglob("*.py"))}
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    graph: dict[str, list[Edge]] = {}
    for module, path in files.items():
        edges = graph.setdefault(module, [])
        here = module if module in packages else module.rpartition(".")[0]
        for node, at_import in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:  # relative: the package ``level - 1`` above this one
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)] if node.level else []
                source = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in files]
                targets = subs + ([source] if len(subs) < len(node.names) else [])
            for target in targets:
                if target.split(".")[0] == PACKAGE and target != module:
                    edges.append(Edge(target, node.lineno, at_import))
    return graph


def _part(module: str) -> str:
    """The top-level part of the package a module belongs to (``""`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def ranks(part: str) -> tuple[int, int]:
    """(the latest stage this part may import, the earliest stage that may import it); foundation = 0."""
    if part in FOUNDATION:
        return 0, 0
    if part in LEAVES:
        return STAGES.index(LEAVES[part]) + 1, len(STAGES)
    stage = WITH_STAGE.get(part, part)
    if stage not in STAGES:
        raise ValueError(f"{PACKAGE}.{part}: not placed in the flow (add it to STAGES, WITH_STAGE, LEAVES "
                         "or FOUNDATION in musicvae/devtools/imports.py)")
    rank = STAGES.index(stage) + 1
    return rank, rank


def flow_violations(graph: Mapping[str, list[Edge]]) -> dict[tuple[str, str], int]:
    """(importer, imported) -> line of every import of a later stage (or of a leaf from outside cli)."""
    found: dict[tuple[str, str], int] = {}
    for module, edges in graph.items():
        for edge in edges:
            a, b = _part(module), _part(edge.target)
            if a != b and ranks(a)[0] < ranks(b)[1]:
                found.setdefault((module, edge.target), edge.line)
    return found


def cycles(graph: Mapping[str, list[Edge]]) -> list[list[str]]:
    """Each import cycle among import-time edges (strongly connected components of two or more modules)."""
    succ = {m: sorted({e.target for e in es if e.at_import and e.target in graph}) for m, es in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm (a package has a few hundred modules: recursion is fine)
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in succ[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(succ):
        if node not in index:
            visit(node)
    return found


def problems(graph: Mapping[str, list[Edge]]) -> list[str]:
    """Every problem as one line: an import of a later stage, or an import cycle."""
    out = [f"{module} (line {line}) imports {target}: {_part(target) or PACKAGE} comes later in the flow than "
           f"{_part(module) or PACKAGE}" for (module, target), line in sorted(flow_violations(graph).items())]
    return out + ["import cycle (module level): " + " <-> ".join(component) for component in cycles(graph)]


def main(argv: list[str] | None = None) -> int:
    src = Path(argv[0]) if argv else Path(__file__).resolve().parents[2]
    found = problems(scan(src))
    for line in found:
        print(line)
    print(f"{len(found)} problem(s)" if found else "imports follow the flow, no import cycle")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
