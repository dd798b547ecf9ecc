"""The layout's rules: no import cycle in lib/, imports only go down the layers, no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib" / "mammoflow"
# rank of each top-level subpackage: a module may import its own rank or lower ones only
RANK = {"core": 0, "io": 1, "evaluation": 1, "preprocess": 2, "datasets": 3, "training": 3, "pipelines": 4,
        "report": 4}
# pipelines that reuse another pipeline's model on purpose (importer -> imported)
PIPELINE_REUSE = {("superres", "nus")}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for f in LIB.rglob("*.py"):
        rel = f.relative_to(LIB.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """mammoflow modules imported anywhere in a file (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(f, mods) - {m} for m, f in mods.items()}


def _layer(mod: str) -> tuple[str, str]:
    parts = mod.split(".")
    top = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if top == "pipelines" and len(parts) > 2 else ""
    return top, sub


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_imports_only_go_down_the_layers():
    bad = []
    for m, deps in _graph().items():
        top, sub = _layer(m)
        if top not in RANK:
            continue
        for d in deps:
            dtop, dsub = _layer(d)
            if dtop not in RANK:
                continue
            if RANK[dtop] > RANK[top] or (top == dtop == "pipelines" and sub != dsub
                                           and (sub, dsub) not in PIPELINE_REUSE and dsub):
                bad.append(f"{m} imports {d}")
    assert not bad, "\n".join(sorted(bad))


def test_modules_are_small_and_documented():
    long, undocumented = [], []
    for m, f in _modules().items():
        text = f.read_text()
        if len(text.splitlines()) > MAX_LINES:
            long.append(f"{m}: {len(text.splitlines())} lines")
        if ast.get_docstring(ast.parse(text)) is None:
            undocumented.append(m)
    assert not long, long
    assert not undocumented, undocumented
