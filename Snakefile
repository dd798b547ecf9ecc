# mammoflow: raw mammography datasets -> every artefact of five research codebases, one DAG.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/foundation/synthetic.smk"
include: "workflow/rules/foundation/preprocess.smk"
include: "workflow/rules/foundation/qc.smk"
include: "workflow/rules/nus/patches.smk"
include: "workflow/rules/nus/patch_classifier.smk"
include: "workflow/rules/nus/heatmaps.smk"
include: "workflow/rules/nus/warps.smk"
include: "workflow/rules/nus/whole_image.smk"
include: "workflow/rules/glam/prep.smk"
include: "workflow/rules/glam/model.smk"
include: "workflow/rules/cascade/train.smk"
include: "workflow/rules/cascade/predict.smk"
include: "workflow/rules/superres/pairs.smk"
include: "workflow/rules/superres/models.smk"
include: "workflow/rules/superres/gan.smk"
include: "workflow/rules/transfer/data.smk"
include: "workflow/rules/transfer/model.smk"
include: "workflow/rules/transfer/evaluate.smk"
include: "workflow/rules/report/overview.smk"


rule all:
    default_target: True
    input:
        rules.foundation.input,
        rules.nus.input,
        rules.glam.input,
        rules.cascade.input,
        rules.superres.input,
        rules.transfer.input,
        rules.overview.input,
