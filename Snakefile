# mammoflow: raw mammography datasets -> every artefact of five research codebases, one DAG.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/preprocess.smk"


# pipelines (each file validates its own config section and appends to PIPELINE_TARGETS)
for _stage in PIPELINE_RULE_FILES:

    include: _stage


rule all:
    default_target: True
    input:
        final_targets(),
