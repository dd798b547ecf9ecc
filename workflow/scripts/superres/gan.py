"""Train the lesion-patch GAN of a dataset; sample grid and FID."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.superres import augment

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
augment.run_gan(i.pairs, i.features, o.model, o.grid, o.samples, o.fid, p.gan, p.batch_size, p.seed, snakemake.threads)
