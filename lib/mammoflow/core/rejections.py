"""The one rejection-table schema (image_id, source_path, stage, reason) and its reader and writer."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

COLUMNS = ("image_id", "source_path", "stage", "reason")


def row(image_id: Any, source_path: Any, stage: str, reason: str) -> dict[str, str]:
    """One rejection row; the reason should name the file."""
    return {"image_id": "" if image_id is None else str(image_id), "source_path": "" if source_path is None
            else str(source_path), "stage": stage, "reason": reason}


def write(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a rejection table (header always present; missing fields empty, other keys dropped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in COLUMNS})


def read(path: str | Path) -> list[dict[str, str]]:
    """Read a rejection table written by write()."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def combine(paths: Sequence[str | Path], out: str | Path) -> None:
    """Concatenate rejection tables into one, in the given order."""
    write(out, [r for p in paths for r in read(p)])
