"""GLAM metrics.json: test AUCs and saliency Dice against a uniform-map baseline."""
from mammoflow.pipelines.glam import infer
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
i, p = snakemake.input, snakemake.params
infer.run_metrics(i.predictions, i.saliency, i.splits, snakemake.output[0], p.train)
