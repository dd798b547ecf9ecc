"""Loading pickles that may only contain builtin containers and scalars."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from mammoflow.core.errors import MammoflowError

_ALLOWED = {
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "int"), ("builtins", "float"), ("builtins", "str"),
    ("builtins", "bytes"), ("builtins", "bool"), ("builtins", "complex"),
    ("collections", "OrderedDict"),
}


class UnsafePickle(MammoflowError):
    """A pickle referenced a global outside the builtin allow-list."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickle(f"refusing to load {module}.{name}: only builtin types are allowed")


def restricted_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle bytes holding only builtins; anything else raises UnsafePickle naming the source."""
    try:
        return _Restricted(io.BytesIO(data)).load()
    except UnsafePickle as exc:
        raise UnsafePickle(f"{source}: {exc}") from None


def restricted_load(path: str | Path) -> Any:
    """Unpickle a file holding only builtins (the NYU exam-list format)."""
    return restricted_loads(Path(path).read_bytes(), source=str(path))


def dump(obj: Any, path: str | Path, protocol: int = 4) -> None:
    """Write a pickle with protocol 4 (what the NYU tools and containers read)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
