# Seed 002 models: feature network (content loss), SRResNet (MSE), SRGAN (content + adversarial) trained on the
# training pairs; one inference job per split (models loaded once); metrics.json and figures on the test pairs.
# The engine's resume state (models/{model}/last.pt) is deliberately not declared.


rule superres_train:
    input:
        unpack(get_superres_train_input),
        training="results/{dataset}/superres/pairs/training",
    output:
        model="results/{dataset}/superres/models/{model}.pth",
        history="results/{dataset}/superres/models/{model}_history.csv",
    params:
        model=SR["model"],
        train=SR["train"],
        scale=SR["pairs"]["scale"],
        seed=config["seed"],
        device=config["device"],
        code=code_digest("mammoflow.pipelines.superres.train"),
    wildcard_constraints:
        model=r"features|srresnet|srgan",
    log:
        "logs/{dataset}/superres/train_{model}.log",
    threads: SR["job"]["threads"]
    resources:
        gpu=1,
        mem_mb=SR["job"]["mem_mb"],
        runtime=SR["job"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/superres/train.py"


rule superres_infer:
    input:
        pairs="results/{dataset}/superres/pairs.csv",
        split_dir="results/{dataset}/superres/pairs/{split}",
        srresnet="results/{dataset}/superres/models/srresnet.pth",
        srgan="results/{dataset}/superres/models/srgan.pth",
    output:
        sr=directory("results/{dataset}/superres/sr/{split}"),
        rejected="results/{dataset}/superres/sr/{split}_rejected.csv",
        timing="results/{dataset}/superres/sr/{split}_timing.json",
    params:
        scale=SR["pairs"]["scale"],
        code=code_digest("mammoflow.pipelines.superres.infer"),
    log:
        "logs/{dataset}/superres/infer_{split}.log",
    threads: SR["job"]["threads"]
    resources:
        gpu=1,
        mem_mb=SR["job"]["mem_mb"],
        runtime=SR["job"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/superres/infer.py"


rule superres_evaluate:
    input:
        pairs="results/{dataset}/superres/pairs.csv",
        sr="results/{dataset}/superres/sr/test",
    output:
        metrics=report(
            "results/{dataset}/superres/metrics.json",
            caption="../../report/superres/metrics.rst",
            category="Super-resolution",
        ),
        figures=report(
            expand("results/{{dataset}}/superres/figures/{fig}.png", fig=SR_FIGURES),
            caption="../../report/superres/figure.rst",
            category="Super-resolution",
        ),
    params:
        evaluate=SR["evaluate"],
        scale=SR["pairs"]["scale"],
        code=code_digest("mammoflow.pipelines.superres.infer"),
    log:
        "logs/{dataset}/superres/evaluate.log",
    conda:
        ENV
    script:
        "../../scripts/superres/evaluate.py"


rule superres:
    input:
        superres_targets(),
