"""Config-section helpers shared by the frozen settings dataclasses."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping


def known_fields(cls: type, cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of a config mapping that are fields of dataclass cls (unknown keys, e.g. threads, ignored)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in dict(cfg or {}).items() if k in names}
