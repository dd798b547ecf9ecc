# Global report items: the rule graph and a per-dataset summary (category "Overview").
# Each pipeline flags its own figures with report(); render with `snakemake --report results/report.html`.


rule report_rulegraph:
    localrule: True
    input:
        snakefile=workflow.main_snakefile,
        rules=RULE_FILES,
    output:
        dot="results/report/rulegraph.dot",
        figure=report(
            "results/report/rulegraph.svg",
            caption="../../report/overview/rulegraph.rst",
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
        "../../scripts/report/rulegraph.py"


rule report_datasets:
    localrule: True
    input:
        images=expand("results/{ds}/tables/images.csv", ds=image_datasets()),
        findings=expand("results/{ds}/tables/findings.csv", ds=image_datasets()),
        rejected=expand("results/{ds}/tables/rejected.csv", ds=image_datasets()),
    output:
        report(
            "results/report/datasets.csv",
            caption="../../report/overview/datasets.rst",
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
        "../../scripts/report/datasets.py"


rule overview:
    localrule: True
    input:
        "results/report/rulegraph.svg",
        "results/report/datasets.csv",
