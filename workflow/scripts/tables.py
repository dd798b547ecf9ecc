"""Build the canonical tables of one dataset."""
from mammoflow.smk import setup_logging
from mammoflow.tables import build_tables_job

setup_logging(snakemake)
build_tables_job(snakemake.input, snakemake.output, snakemake.params.listing_rejections,
                 snakemake.params.shard_of)
