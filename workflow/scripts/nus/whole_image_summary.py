"""Warped-vs-unwarped side-by-side table of the whole-image runs, with bootstrap CIs and the controls."""
from mammoflow.pipelines.nus import summary
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
summary.summarize(list(snakemake.input), snakemake.output[0], snakemake.params.n_boot, snakemake.params.seed)
