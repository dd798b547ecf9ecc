"""Config sections as settings dataclasses: every default lives in the JSON schemas under workflow/schemas."""

from __future__ import annotations

import copy
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Mapping, TypeVar

from mammoflow.core.errors import ConfigError

T = TypeVar("T")
SCHEMAS = Path(__file__).resolve().parents[3] / "workflow" / "schemas"


def known_fields(cls: type, cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of a config mapping that are fields of dataclass cls (unknown keys, e.g. threads, ignored)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in dict(cfg or {}).items() if k in names}


def from_mapping(cls: type[T], cfg: Mapping[str, Any] | None, section: str, **convert: Any) -> T:
    """A settings dataclass from a validated config section; keys the dataclass lacks are ignored.

    `convert` maps field names to functions applied to their values (e.g. tuple for YAML lists). A missing
    key is a ConfigError naming it: the section was not validated against its schema (which fills defaults).
    """
    kw = known_fields(cls, cfg)
    missing = [f.name for f in fields(cls) if f.name not in kw and f.default is MISSING
               and f.default_factory is MISSING]
    if missing:
        raise ConfigError(f"config section {section}: missing keys {missing}; validate it against its schema "
                          "(workflow/schemas), which holds every default")
    for k, fn in convert.items():
        if k in kw:
            kw[k] = fn(kw[k])
    return cls(**kw)


def schema_defaults(schema: str, *path: str, **overrides: Any) -> dict[str, Any]:
    """The filled-in defaults of a config section, from workflow/schemas/<schema>.schema.yaml of this checkout.

    `path` walks into nested sections (e.g. schema_defaults("nus", "patch_classifier")); `overrides` replace
    top-level keys of the result. For scripts, notebooks and tests: the workflow validates its own config.
    """
    from snakemake.utils import validate

    data: dict[str, Any] = {"datasets": {}} if schema == "config" else {}
    validate(data, str(SCHEMAS / f"{schema}.schema.yaml"), set_default=True)
    for p in path:
        data = data[p]
    return {**copy.deepcopy(data), **overrides}
