# Seed 004 data: benign/malignant samples (roi crops or whole canvases) with patient-level splits, and the
# template's ImageFolder export on request.


rule transfer_splits:
    input:
        images="results/{dataset}/tables/images.csv",
        findings="results/{dataset}/tables/findings.csv",
    output:
        splits="results/{dataset}/transfer/splits.csv",
        rejected="results/{dataset}/transfer/rejected_labels.csv",
    params:
        cfg=TRANSFER,
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.transfer.data"),
    log:
        "logs/{dataset}/transfer/splits.log",
    conda:
        ENV
    script:
        "../../scripts/transfer/splits.py"


rule transfer_imagefolder:
    input:
        splits="results/{dataset}/transfer/splits.csv",
    output:
        directory("results/{dataset}/transfer/imagefolder"),
    params:
        cfg=TRANSFER,
        code=code_digest("mammoflow.pipelines.transfer.data"),
    log:
        "logs/{dataset}/transfer/imagefolder.log",
    conda:
        ENV
    script:
        "../../scripts/transfer/imagefolder.py"


rule transfer_baseline:
    input:
        splits="results/{dataset}/transfer/splits.csv",
    output:
        predictions="results/{dataset}/transfer/baseline/predictions.csv",
        metrics="results/{dataset}/transfer/baseline/metrics.json",
    params:
        cfg=TRANSFER,
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.transfer.baseline"),
    log:
        "logs/{dataset}/transfer/baseline.log",
    conda:
        ENV
    script:
        "../../scripts/transfer/baseline.py"
