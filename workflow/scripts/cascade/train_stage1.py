"""Train cascade stage 1 (tissue) on a tissue dataset's canvases."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.cascade import stages

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
stages.train_stage1(i.images, p.canvas, p.tissue, dict(o.items()), p.stage, p.model, p.pretrained, p.seed,
                    p.state_dir, snakemake.threads, p.code)
