"""Shared fixtures for the whole suite."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # makes `wfutil` importable from every test folder

from wfutil import REPO  # noqa: E402


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
