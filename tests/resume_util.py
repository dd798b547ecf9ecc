"""Interrupting a training run after a given number of epochs (for the resume tests)."""

from __future__ import annotations

from typing import Any, Callable

from mammoflow.training.engine import Interrupt


def interrupt_after(n: int) -> Callable[[dict[str, Any]], None]:
    """An on_epoch_end callback that raises Interrupt once n epochs have ended."""
    seen: list[dict[str, Any]] = []

    def cb(rec: dict[str, Any]) -> None:
        seen.append(rec)
        if len(seen) == n:
            raise Interrupt(f"interrupted after {n} epochs")
    return cb
