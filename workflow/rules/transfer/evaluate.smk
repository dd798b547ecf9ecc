# Seed 004 evaluation: per backbone and for the ensemble (mean probability), thresholds chosen on validation,
# test metrics with patient-level bootstrap CIs, figures; the comparison table; Grad-CAM and its pointing game.


rule transfer_eval:
    input:
        predictions=get_transfer_predictions,
    output:
        metrics="results/{dataset}/models/transfer/{model}/eval/metrics.json",
        roc=report(
            "results/{dataset}/models/transfer/{model}/eval/roc.png",
            caption="../../report/transfer/roc.rst",
            category="Transfer learning",
            subcategory="{model}",
        ),
        pr=report(
            "results/{dataset}/models/transfer/{model}/eval/pr.png",
            caption="../../report/transfer/pr.rst",
            category="Transfer learning",
            subcategory="{model}",
        ),
        confusion=report(
            "results/{dataset}/models/transfer/{model}/eval/confusion_matrix.png",
            caption="../../report/transfer/confusion.rst",
            category="Transfer learning",
            subcategory="{model}",
        ),
    params:
        cfg=TRANSFER,
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.transfer.evaluate"),
    log:
        "logs/{dataset}/transfer/eval_{model}.log",
    conda:
        ENV
    script:
        "../../scripts/transfer/evaluate.py"


rule transfer_summary:
    input:
        metrics=get_transfer_metrics,
        baseline="results/{dataset}/transfer/baseline/metrics.json",
    output:
        report(
            "results/{dataset}/models/transfer/summary.csv",
            caption="../../report/transfer/summary.rst",
            category="Transfer learning",
        ),
    params:
        code=code_digest("mammoflow.pipelines.transfer.evaluate"),
    log:
        "logs/{dataset}/transfer/summary.log",
    conda:
        ENV
    script:
        "../../scripts/transfer/summary.py"


rule transfer_gradcam:
    input:
        splits="results/{dataset}/transfer/splits.csv",
        checkpoint="results/{dataset}/models/transfer/{backbone}/best.pt",
    output:
        maps=directory("results/{dataset}/gradcam/{backbone}"),
        pointing="results/{dataset}/gradcam/{backbone}_pointing.csv",
        summary="results/{dataset}/gradcam/{backbone}_pointing.json",
        examples=report(
            "results/{dataset}/gradcam/{backbone}_examples.png",
            caption="../../report/transfer/gradcam.rst",
            category="Transfer learning",
            subcategory="Grad-CAM",
        ),
        rejected="results/{dataset}/gradcam/{backbone}_rejected.csv",
    params:
        cfg=TRANSFER,
        device=config["device"],
        code=code_digest("mammoflow.pipelines.transfer.gradcam"),
    log:
        "logs/{dataset}/transfer/gradcam_{backbone}.log",
    threads: TRANSFER["threads"]
    resources:
        gpu=1,
        mem_mb=TRANSFER["mem_mb"],
        runtime=TRANSFER["runtime"],
    conda:
        ENV
    script:
        "../../scripts/transfer/gradcam.py"


rule transfer:
    input:
        TRANSFER_PLAN.targets(),


rule transfer_infer:
    input:
        images=get_transfer_infer_images,
        checkpoint="results/{dataset}/models/transfer/{backbone}/best.pt",
    output:
        probabilities="results/{dataset}/transfer/infer/{batch}/{backbone}/probabilities.csv",
        maps=directory("results/{dataset}/transfer/infer/{batch}/{backbone}/gradcam"),
        rejected="results/{dataset}/transfer/infer/{batch}/{backbone}/rejected.csv",
    params:
        cfg=TRANSFER,
        pre=PRE,
        device=config["device"],
        code=code_digest("mammoflow.pipelines.transfer.infer"),
    log:
        "logs/{dataset}/transfer/infer_{batch}_{backbone}.log",
    threads: TRANSFER["threads"]
    resources:
        gpu=1,
        mem_mb=TRANSFER["mem_mb"],
        runtime=TRANSFER["runtime"],
    conda:
        ENV
    script:
        "../../scripts/transfer/infer.py"
