"""TensorBoard scalars of training epochs (earlier epochs written again on resume)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence


class EpochWriter:
    """Writes the float entries of each epoch record; a no-op without a log folder."""

    def __init__(self, log_dir: str | Path | None, history: Sequence[Mapping[str, Any]] = ()):
        self.writer = None
        if log_dir is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(log_dir))
        for rec in history:  # the log folder may have been cleaned since the interruption
            self.write(rec)

    def write(self, rec: Mapping[str, Any]) -> None:
        """One epoch's scalars at step rec['epoch']."""
        if self.writer is None:
            return
        for k, v in rec.items():
            if isinstance(v, float) and v == v:
                self.writer.add_scalar(k, v, int(rec["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
