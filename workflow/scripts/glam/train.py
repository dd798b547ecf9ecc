"""Train GLAM (global, local, joint stages) on the training exams of a dataset."""
from mammoflow.pipelines.glam import train
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
train.run_train(i.data, i.images, o.model, o.stages, o.history, o.splits, p.state_dir, o.tensorboard,
                     p.model, p.train, p.window, p.seed, snakemake.threads, p.device, p.code)
