# Seed 004 models: one training run per torchvision backbone (freeze-then-fine-tune, early stopping on
# validation AUC); last.pt (the resume state) is kept undeclared so that a failed job keeps it.


rule transfer_train:
    input:
        splits="results/{dataset}/transfer/splits.csv",
    output:
        best="results/{dataset}/models/transfer/{backbone}/best.pt",
        history="results/{dataset}/models/transfer/{backbone}/history.json",
        predictions="results/{dataset}/models/transfer/{backbone}/predictions.csv",
        rejected="results/{dataset}/models/transfer/{backbone}/rejected.csv",
        tensorboard=directory("results/{dataset}/models/transfer/{backbone}/tensorboard"),
    params:
        cfg=TRANSFER,
        seed=config["seed"],
        device=config["device"],
        code=code_digest("mammoflow.pipelines.transfer.train"),
    log:
        "logs/{dataset}/transfer/train_{backbone}.log",
    threads: TRANSFER["threads"]
    resources:
        gpu=1,
        mem_mb=TRANSFER["mem_mb"],
        runtime=TRANSFER["runtime"],
    conda:
        ENV
    script:
        "../../scripts/transfer/train.py"
