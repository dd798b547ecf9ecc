"""ROI-less whole-image inference of one backbone on a named folder of raw images (seed 004)."""
from mammoflow.core.smk import setup_logging
from mammoflow.pipelines.transfer import infer
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.preprocess.canvas import PreprocessParams

setup_logging(snakemake)
out = snakemake.output
infer.infer_job(list(snakemake.input.images), snakemake.input.checkpoint,
                TransferConfig.from_config(snakemake.params.cfg), PreprocessParams.from_config(snakemake.params.pre),
                out.maps, out.probabilities, out.rejected, snakemake.params.device, snakemake.threads)
