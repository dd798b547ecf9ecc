"""Rule graph of this workflow (same config) as dot text and an SVG figure for the report."""
from mammoflow.report.rulegraph import rulegraph_job
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
rulegraph_job(snakemake.input.snakefile, ".", snakemake.config, snakemake.output.dot, snakemake.output.figure)
