"""Generate a synthetic VinDr-style dataset."""
from pathlib import Path

from mammoflow.core.smk import setup_logging
from mammoflow.datasets.synthetic.vindr import generate_job

setup_logging(snakemake)
generate_job(snakemake.params.spec, str(Path(snakemake.output.tables[0]).parent))
