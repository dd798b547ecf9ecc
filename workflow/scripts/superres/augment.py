"""Augmentation experiment: patch classifier with and without GAN patches, test AUCs with bootstrap CIs."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.superres import augment

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
augment.run_augment(i.pairs, i.samples, i.model, o.metrics, p.augment, p.seed, snakemake.threads)
