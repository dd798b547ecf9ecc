"""Dice table and combined rejections of a dataset's cascade."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.cascade import run

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
run.run_summary(i.stage1, i.stage2, list(i.tables), list(i.rejected), o.dice, o.rejected)
