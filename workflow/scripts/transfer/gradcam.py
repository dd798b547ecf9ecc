"""Grad-CAM maps of the test images and the pointing game of one backbone (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import gradcam
from mammoflow.pipelines.transfer.config import TransferConfig

setup_logging(snakemake)
out = snakemake.output
gradcam.gradcam_job(snakemake.input.splits, snakemake.input.checkpoint, snakemake.wildcards.backbone,
                    TransferConfig.from_config(snakemake.params.cfg), snakemake.params.device, out.maps,
                    {"pointing": out.pointing, "summary": out.summary, "examples": out.examples,
                     "rejected": out.rejected}, snakemake.threads)
