"""The project's import graph, read from the source (every import statement, also those inside
functions and `if TYPE_CHECKING:` blocks: a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
        if "migrations/versions" not in p.as_posix()
    }


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The project module an import names: `bot.callbacks` for `from bot import callbacks`, and
    `bot.callbacks` again for `from bot.callbacks import encode`."""
    if name in modules:
        return name
    parent = name.rpartition(".")[0]
    return parent if parent in modules else name


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module `path` imports: project modules by their full name, others by their top package."""
    found: set[str] = set()
    me = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{me}: relative import (the project imports absolutely)"
            base = node.module or ""
            names = [f"{base}.{a.name}" for a in node.names]  # each resolves to a module or to `base`
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES:
                target = _resolve(name, modules)
                # Importing a module runs its packages' __init__ first: those are dependencies too.
                parts = target.split(".")
                for n in range(1, len(parts) + 1):
                    dep = ".".join(parts[:n])
                    if dep in modules and dep != me:
                        found.add(dep)
            elif name:
                found.add(top)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)
