"""The local SLURM cluster (tests/slurm/local_slurm.sh) as a session fixture, stopped at session end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("local_slurm.sh")


def _run(cmd: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), cmd], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def slurm_cluster():
    """Start (installing packages if needed) the local cluster; stop it at session end if this fixture started it."""
    if os.geteuid() != 0:
        pytest.skip("the local SLURM test cluster needs root (apt-get, munge, slurmd); run the suite as root")
    already_up = _run("status", 60).returncode == 0
    started = _run("start", 600)
    if started.returncode != 0:
        pytest.fail(f"could not start the local SLURM cluster (tests/slurm/local_slurm.sh start):\n"
                    f"{started.stdout[-3000:]}\n{started.stderr[-6000:]}", pytrace=False)
    yield SCRIPT
    if not already_up:
        stopped = _run("stop", 180)
        if stopped.returncode != 0:
            print(f"local_slurm.sh stop failed:\n{stopped.stderr[-3000:]}")
