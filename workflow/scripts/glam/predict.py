"""GLAM predictions.csv, per-lesion saliency Dice and the five-panel figures of one dataset (one job)."""
from mammoflow.pipelines.glam import infer
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
infer.run_predict(i.model, i.data, i.images, p.seg_dir, o.predictions, o.saliency, o.rejected, o.figures,
                       p.train, p.window, p.seed, snakemake.threads, p.device, rejected_tables=[i.rejected])
