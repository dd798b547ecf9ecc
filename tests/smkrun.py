"""Run or dry-run the workflow in a work directory through Snakemake's API; print updated files as JSON."""
import argparse
import json
import sys
from pathlib import Path

from snakemake.api import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings, SnakemakeApi
from snakemake.settings.types import Quietness


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--run", action="store_true", help="execute instead of dry-run")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("targets", nargs="*")
    a = ap.parse_args()
    updated: list[str] = []
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=a.cores, resources={"gpu": 1}),
                          config_settings=ConfigSettings(),
                          snakefile=a.workdir / "Snakefile", workdir=a.workdir)
        dag = wf.dag(DAGSettings(targets=frozenset(a.targets)))
        dag.execute_workflow(pseudo_executor=None if a.run else "dryrun", updated_files=updated)
    json.dump(sorted(set(updated)), sys.stdout)


if __name__ == "__main__":
    main()
