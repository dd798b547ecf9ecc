"""Density table of a dataset from its cascade predictions."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.cascade import run

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
run.run_density(list(i.tables), i.images, p.thresholds, o.csv, o.json)
