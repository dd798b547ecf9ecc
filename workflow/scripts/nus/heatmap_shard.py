"""Probability maps of one shard (patch classifier loaded once)."""
import pandas as pd

from mammoflow.pipelines.nus import heatmap
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
items = pd.DataFrame(snakemake.params.members, columns=["image_id", "split"])
items["png"] = list(snakemake.params.pngs)
heatmap.run_shard(items, snakemake.input.checkpoint, snakemake.output.probs, snakemake.output.table,
                  method=snakemake.params.method, stride=snakemake.params.stride,
                  batch_size=snakemake.params.batch_size, device=snakemake.params.device, threads=snakemake.threads)
