"""Path helpers that keep untrusted relative paths inside a data root."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from mammoflow.core.errors import ImageRejected

SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def confined(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """Return root/rel, refusing absolute paths and anything that resolves outside root."""
    rel_s = str(rel).strip().replace("\\", "/")
    if not rel_s or os.path.isabs(rel_s) or rel_s.startswith("~"):
        raise ImageRejected(rel_s, "path is absolute or empty; only paths inside the data root are allowed")
    root_r = _real_dir(os.fspath(root))
    parent, base = os.path.split(os.path.join(root_r, rel_s))
    full = os.path.join(_real_dir(parent), base)  # symlinks in the directories resolved (cached per directory)
    full = os.path.realpath(full) if os.path.islink(full) else os.path.normpath(full)
    if full != root_r and not full.startswith(root_r.rstrip(os.sep) + os.sep):
        raise ImageRejected(rel_s, f"path escapes the data root {root}")
    return Path(root) / rel_s


@functools.lru_cache(maxsize=1 << 16)
def _real_dir(path: str) -> str:
    """realpath of a directory (cached: a dataset listing resolves each study folder once, not once per image)."""
    return os.path.realpath(path)


def is_safe_id(value: str) -> bool:
    """True if value can be used as a file-name component (letters, digits, '_' and '-')."""
    return bool(SAFE_ID.match(str(value)))
