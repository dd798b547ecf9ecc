"""tests/slurm/local_slurm.sh stops only processes it recorded AND whose command name matches (no cluster needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("local_slurm.sh")


@pytest.mark.skipif(os.geteuid() != 0, reason="local_slurm.sh needs root")
def test_stop_signals_only_recorded_pids_with_the_expected_name(tmp_path):
    home = tmp_path / "home"
    (home / "pids").mkdir(parents=True)
    fake_slurmd = tmp_path / "slurmd"  # a `sleep` whose command name is slurmd: "ours"
    shutil.copy(shutil.which("sleep"), fake_slurmd)
    ours = subprocess.Popen([str(fake_slurmd), "60"])
    stranger = subprocess.Popen(["sleep", "60"])  # recorded as slurmctld, but comm is "sleep": a recycled PID
    try:
        time.sleep(0.2)
        (home / "pids" / "slurmd.pid").write_text(f"{ours.pid}\n")
        (home / "pids" / "slurmctld.pid").write_text(f"{stranger.pid}\n")
        (home / "pids" / "munged.pid").write_text("999999999\n")  # no such process
        env = dict(os.environ, LOCAL_SLURM_HOME=str(home))
        proc = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert ours.wait(timeout=10) is not None  # terminated
        assert stranger.poll() is None, "stop signalled a process it did not start"
        assert not list((home / "pids").glob("*.pid"))  # stale records removed
        status = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode != 0 and "slurmctld: stopped" in status.stdout
    finally:
        for p in (ours, stranger):
            if p.poll() is None:
                p.kill()
                p.wait()
