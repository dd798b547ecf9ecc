# Global report items: the rule graph and a per-dataset summary (category "Overview").
# Each pipeline flags its own figures with report(); render with `snakemake --report results/report.html`.
import glob
import hashlib
import json

# The rule graph depends on the config (which datasets and pipelines are enabled): rerun when it changes.
REPORT_CONFIG_DIGEST = hashlib.sha256(
    json.dumps(config, sort_keys=True, default=str).encode()
).hexdigest()[:16]


localrules:
    report_rulegraph,
    report_datasets,


rule report_rulegraph:
    input:
        snakefile=workflow.main_snakefile,
        rules=sorted(glob.glob(os.path.join(workflow.basedir, "workflow", "rules", "*.smk"))),
    output:
        dot="results/report/rulegraph.dot",
        figure=report(
            "results/report/rulegraph.svg",
            caption="../report/rulegraph.rst",
            category="Overview",
        ),
    params:
        config_digest=REPORT_CONFIG_DIGEST,
        code=code_digest("mammoflow.report.rulegraph"),
    log:
        "logs/report/rulegraph.log",
    conda:
        ENV
    script:
        "../scripts/report_rulegraph.py"


rule report_datasets:
    input:
        images=expand("results/{ds}/tables/images.csv", ds=image_datasets()),
        findings=expand("results/{ds}/tables/findings.csv", ds=image_datasets()),
        rejected=expand("results/{ds}/tables/rejected.csv", ds=image_datasets()),
    output:
        report(
            "results/report/datasets.csv",
            caption="../report/datasets.rst",
            category="Overview",
        ),
    params:
        datasets=image_datasets(),
        code=code_digest("mammoflow.report.overview"),
    log:
        "logs/report/datasets.log",
    conda:
        ENV
    script:
        "../scripts/report_datasets.py"


PIPELINE_TARGETS.extend(["results/report/rulegraph.svg", "results/report/datasets.csv"])
