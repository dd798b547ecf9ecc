"""Study-grouped cross-fitting folds of the training images (folds.csv)."""
from mammoflow.pipelines.nus import crossfit
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
crossfit.write_folds(snakemake.input.images, snakemake.output[0], snakemake.params.k, snakemake.params.seed)
