"""Heatmap QC: arg-max in the (dilated) lesion box; dense vs sliding agreement on test images."""
from mammoflow.pipelines.nus import heatmap
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
p = snakemake.params
heatmap.evaluate(snakemake.input.tables, snakemake.input.findings, snakemake.output[0], p.dilate,
                 snakemake.input.checkpoint, p.pngs, p.compare_max, threads=snakemake.threads)
