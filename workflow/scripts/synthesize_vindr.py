"""Generate a synthetic VinDr-style dataset."""
from pathlib import Path

from mammoflow.smk import setup_logging
from mammoflow.synthetic import generate_job

setup_logging(snakemake)
generate_job(snakemake.params.spec, str(Path(snakemake.output.tables[0]).parent))
