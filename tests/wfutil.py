"""Workflow-test helpers: copy the workflow into a temporary work directory, plan or run it there.

Import as `from wfutil import ...` (a unique module name; `conftest` is ambiguous across test folders).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG = {
    "seed": 1999,
    "datasets": {
        "tiny": {
            "format": "vindr",
            "root": "data/tiny",
            "synthetic": {"seed": 3, "n_studies": 4, "height": 256, "width": 208, "inject_bad": True,
                          "test_fraction": 0.25},
        }
    },
    "preprocess": {"height": 192, "width": 160, "shard_size": 8},
    "seed000": {"datasets": []},
    "glam": {"datasets": []},
}


def make_workdir(path: Path, config: dict, with_lib: bool = False) -> Path:
    """Copy the workflow (Snakefile, workflow/, profiles/) into path and write config/config.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", path / "Snakefile")
    shutil.copytree(REPO / "workflow", path / "workflow", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "profiles", path / "profiles", dirs_exist_ok=True)
    (path / "config").mkdir(exist_ok=True)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if with_lib:
        shutil.copytree(REPO / "lib", path / "lib", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return path


def smk(workdir: Path, *targets: str, run: bool = False, cores: int = 2, timeout: int = 1200) -> list[str]:
    """Plan (dry-run) or run the workflow in workdir; returns the files Snakemake (re)builds."""
    env = dict(os.environ)
    if (workdir / "lib").is_dir():
        env["PYTHONPATH"] = str(workdir / "lib") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, str(REPO / "tests" / "smkrun.py"), str(workdir), *targets, "--cores", str(cores)]
    if run:
        cmd.append("--run")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed in {workdir}:\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
