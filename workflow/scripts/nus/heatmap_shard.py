"""Probability maps of one shard (patch classifiers loaded once; cross-fitted fold models for training images)."""
import pandas as pd

from mammoflow.pipelines.nus import heatmap
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
i, p = snakemake.input, snakemake.params
items = pd.DataFrame(p.members, columns=["image_id", "split"])
items["png"] = list(p.pngs)
crossfit = p.crossfit_folds > 1
heatmap.run_shard(items, i.checkpoint, snakemake.output.probs, snakemake.output.table,
                  method=p.method, stride=p.stride, batch_size=p.batch_size, device=p.device, threads=snakemake.threads,
                  fold_checkpoints=list(getattr(i, "fold_checkpoints", [])) if crossfit else None,
                  folds_csv=getattr(i, "folds", None) if crossfit else None)
