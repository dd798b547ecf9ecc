"""Cascade inference of one shard (models loaded once)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.cascade import run

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
run.run_predict_shard(p.ids, i.images, p.canvas, p.breast, i.stage1, i.stage2, p.margin, p.out_dir, o.table, o.rejected,
                      snakemake.threads)
