"""The template's ImageFolder export data/{train,val,test}/{benign,malignant} (seed 004)."""
import pandas as pd

from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import data
from mammoflow.pipelines.transfer.config import TransferConfig

setup_logging(snakemake)
data.export_imagefolder(pd.read_csv(snakemake.input.splits, keep_default_na=False),
                        TransferConfig.from_config(snakemake.params.cfg), snakemake.output[0])
