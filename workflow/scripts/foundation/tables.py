"""Build the canonical tables of one dataset."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.tables import build_tables_job

setup_logging(snakemake)
p = snakemake.params
build_tables_job(snakemake.input, snakemake.output, p.shard_of, p.test_fraction, p.seed)
