"""Glue used by the thin scripts in workflow/scripts."""

from __future__ import annotations

import logging
import sys
from typing import Any


def setup_logging(snakemake: Any) -> logging.Logger:
    """Send logging and stderr of a script job to its Snakemake log file."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers: list[logging.Handler] = []
    if log_path:
        fh = open(log_path, "w", buffering=1)
        sys.stderr = fh
        handlers.append(logging.StreamHandler(fh))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return logging.getLogger("mammoflow")
