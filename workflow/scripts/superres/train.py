"""Train the feature network, the SRResNet or the SRGAN of a dataset."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.superres import train

setup_logging(snakemake)
i, o, p = snakemake.input, snakemake.output, snakemake.params
train.run_train(snakemake.wildcards.model, i.pairs, o.model, o.history, p.model, p.train, p.scale, p.seed,
                snakemake.threads, p.device, srresnet=i.get("srresnet"), features=i.get("features"))
