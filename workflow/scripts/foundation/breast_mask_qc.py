"""Breast-mask IoU against the synthetic ground truth."""
from mammoflow.preprocess.qc import breast_mask_qc_job
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
breast_mask_qc_job(snakemake.input.images, snakemake.input.ground_truth, snakemake.output.table,
                   snakemake.output.summary)
