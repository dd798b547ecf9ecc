"""Build the canonical tables of one dataset."""
from mammoflow.core.smk import setup_logging
from mammoflow.datasets.tables import build_tables_job

setup_logging(snakemake)
build_tables_job(snakemake.input, snakemake.output, snakemake.params.listing_rejections,
                 snakemake.params.shard_of)
