"""Digests of library code, so rules rerun when the modules they use change."""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent.parent
PKG = PKG_DIR.name


def _module_file(name: str) -> Path | None:
    rel = name.split(".")[1:]
    cand = PKG_DIR.joinpath(*rel)
    if cand.is_dir() and (cand / "__init__.py").is_file():
        return cand / "__init__.py"
    f = cand.with_suffix(".py") if rel else PKG_DIR / "__init__.py"
    return f if f.is_file() else None


def _imports(path: Path, modname: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    parts = modname.split(".")
    base = parts if is_pkg else parts[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == PKG)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PKG:
                continue
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # submodules imported by name
    return {m for m in out if _module_file(m) is not None}


@lru_cache(maxsize=None)
def module_closure(*modules: str) -> tuple[str, ...]:
    """All mammoflow modules reachable by imports from the given ones (sorted)."""
    seen: set[str] = set()
    todo = [m if m.startswith(PKG) else f"{PKG}.{m}" for m in modules]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        f = _module_file(m)
        if f is None:
            raise ModuleNotFoundError(f"no module {m} in {PKG_DIR}")
        seen.add(m)
        todo.extend(_imports(f, m) - seen)
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def code_digest(*modules: str) -> str:
    """A short sha256 over the source of the given modules and everything they import from mammoflow."""
    h = hashlib.sha256()
    for m in module_closure(*modules):
        f = _module_file(m)
        h.update(m.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(*parts: object) -> str:
    """sha256 over JSON-serialised parts (configs, file digests): decides whether a last checkpoint may be resumed."""
    import json

    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
