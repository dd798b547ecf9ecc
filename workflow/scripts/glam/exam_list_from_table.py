"""Build the NYU exam list from the canonical image table."""
from mammoflow.datasets.nyu import run_from_table
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
o = snakemake.output
run_from_table(snakemake.input.images, o.pkl, o.json, o.rejected, snakemake.params.malignant_birads)
