# Quality checks of the foundation: breast-mask IoU against the synthetic ground truth; the global-intensity baseline (difficulty).


rule breast_mask_qc:
    localrule: True
    input:
        images="results/{dataset}/tables/images.csv",
        ground_truth=get_ground_truth,
    output:
        table="results/{dataset}/qc/breast_mask_iou.csv",
        summary=report(
            "results/{dataset}/qc/breast_mask_iou_summary.csv",
            caption="../../report/foundation/breast_mask_qc.rst",
            category="Preprocessing",
            subcategory="{dataset}",
        ),
    params:
        code=code_digest("mammoflow.preprocess.qc"),
    log:
        "logs/{dataset}/breast_mask_qc.log",
    conda:
        ENV
    script:
        "../../scripts/foundation/breast_mask_qc.py"


rule difficulty_qc:
    localrule: True
    input:
        images="results/{dataset}/tables/images.csv",
    output:
        report(
            "results/{dataset}/qc/difficulty.json",
            caption="../../report/foundation/difficulty.rst",
            category="Preprocessing",
            subcategory="{dataset}",
        ),
    params:
        code=code_digest("mammoflow.evaluation.difficulty"),
    log:
        "logs/{dataset}/difficulty_qc.log",
    conda:
        ENV
    script:
        "../../scripts/foundation/difficulty_qc.py"


rule foundation:
    localrule: True
    input:
        expand("results/{dataset}/tables/{name}.csv", dataset=image_datasets(), name=TABLE_NAMES),
        expand("results/{dataset}/qc/breast_mask_iou_summary.csv", dataset=synthetic_datasets()),
        expand("results/{dataset}/qc/difficulty.json", dataset=image_datasets()),
        expand("results/{dataset}/inbreast/json/{name}.json", dataset=inbreast_datasets(), name=["xml", "csv", "dataset"]),
