"""Exceptions that turn one bad input into a rejection row instead of a crashed batch."""

from __future__ import annotations


class MammoflowError(Exception):
    """Base class of all mammoflow errors."""


class ImageRejected(MammoflowError):
    """An input image cannot be used; the message names the file and the reason."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ConfigError(MammoflowError):
    """A configuration value is unusable."""
