"""Train one torchvision backbone on the benign/malignant samples (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import train
from mammoflow.pipelines.transfer.config import TransferConfig

setup_logging(snakemake)
out = snakemake.output
train.train_job(snakemake.input.splits, TransferConfig.from_config(snakemake.params.cfg), snakemake.wildcards.backbone,
                snakemake.params.seed, snakemake.params.device, str(out.best).rsplit("/", 1)[0],
                {"predictions": out.predictions, "rejected": out.rejected}, snakemake.threads)
