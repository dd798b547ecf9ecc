"""Path helpers that keep untrusted relative paths inside a data root."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ImageRejected

SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def confined(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """Return root/rel, refusing absolute paths and anything that resolves outside root."""
    rel_s = str(rel).strip().replace("\\", "/")
    if not rel_s or os.path.isabs(rel_s) or rel_s.startswith("~"):
        raise ImageRejected(rel_s, "path is absolute or empty; only paths inside the data root are allowed")
    root_r = Path(root).resolve()
    full = (root_r / rel_s).resolve()
    if full != root_r and root_r not in full.parents:
        raise ImageRejected(rel_s, f"path escapes the data root {root}")
    return Path(root) / rel_s


def is_safe_id(value: str) -> bool:
    """True if value can be used as a file-name component (letters, digits, '_' and '-')."""
    return bool(SAFE_ID.match(str(value)))
