# Seed 001 cascade training: stage 1 (tissue, 4 classes) on the tissue dataset's canvases and canvas tissue
# maps; stage 2 (lesion) on the FGT crops stage 1 makes of each lesion dataset's canvases (as at inference).
# Resume state (last.pt) lives in .../stage*/state, deliberately undeclared (Snakemake deletes the declared
# outputs of a failed job).


rule cascade_stage1:
    input:
        unpack(get_cascade_stage1_input),
    output:
        checkpoint="results/{dataset}/models/cascade/stage1/best_stage1.pth",
        metrics="results/{dataset}/models/cascade/stage1/metrics.json",
        rejected="results/{dataset}/models/cascade/stage1/rejected.csv",
        tensorboard=directory("results/{dataset}/models/cascade/stage1/tensorboard"),
    params:
        canvas=cascade_template("preprocessed"),
        tissue=cascade_template("tissue"),
        state_dir="results/{dataset}/models/cascade/stage1/state",
        stage=CASCADE["stage1"],
        model=CASCADE["model"],
        pretrained=CASCADE["pretrained"],
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.cascade.stages"),
    log:
        "logs/{dataset}/cascade/stage1.log",
    threads: CASCADE["threads"]
    resources:
        gpu=1,
        mem_mb=CASCADE["mem_mb"],
        runtime=CASCADE["runtime"],
    conda:
        ENV
    script:
        "../../scripts/cascade/train_stage1.py"


rule cascade_stage2:
    input:
        unpack(get_cascade_stage2_input),
    output:
        checkpoint="results/{dataset}/models/cascade/stage2/best_stage2.pth",
        metrics="results/{dataset}/models/cascade/stage2/metrics.json",
        rejected="results/{dataset}/models/cascade/stage2/rejected.csv",
        tensorboard=directory("results/{dataset}/models/cascade/stage2/tensorboard"),
    params:
        canvas=cascade_template("preprocessed"),
        lesion=cascade_template("lesion_masks"),
        breast=cascade_template("breast_masks"),
        state_dir="results/{dataset}/models/cascade/stage2/state",
        stage=CASCADE["stage2"],
        model=CASCADE["model"],
        pretrained=CASCADE["pretrained"],
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.cascade.stages"),
    log:
        "logs/{dataset}/cascade/stage2.log",
    threads: CASCADE["threads"]
    resources:
        gpu=1,
        mem_mb=CASCADE["mem_mb"],
        runtime=CASCADE["runtime"],
    conda:
        ENV
    script:
        "../../scripts/cascade/train_stage2.py"
