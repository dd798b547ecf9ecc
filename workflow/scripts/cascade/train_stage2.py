"""Train cascade stage 2 (lesion) on the FGT crops stage 1 makes of a lesion dataset's canvases."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.cascade import stages

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
stages.train_stage2(i.images, p.canvas, p.lesion, p.breast, i.stage1, dict(o.items()), p.stage, p.model,
                    p.pretrained, p.seed, p.state_dir, snakemake.threads, p.code, i.findings)
