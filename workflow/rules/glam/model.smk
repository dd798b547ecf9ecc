# Seed 003 GLAM model: weakly supervised training (global, local, joint), predictions, the original's
# five-panel figures and metrics. Training resumes from results/{dataset}/glam/train_state/last.pt, which is
# deliberately not declared (Snakemake would delete it when a run is interrupted) and is removed on success.
# Figures are explicit per-image outputs of ONE job per dataset (model loaded once), listed at parse time
# from the NYU exam list (synthetic plan or the raw pkl); an image rejected before the model gets a figure
# that states why.

GLAM_STAGES = ["stage1_global", "stage2_local", "stage3_joint"]


rule glam_train:
    input:
        data="results/{dataset}/glam/data.pkl",
        images="results/{dataset}/glam/cropped_images",
    output:
        model="results/{dataset}/glam/model/glam.pt",
        stages=expand("results/{{dataset}}/glam/model/{stage}.pt", stage=GLAM_STAGES),
        history="results/{dataset}/glam/model/history.csv",
        splits="results/{dataset}/glam/splits.csv",
        tensorboard=directory("results/{dataset}/glam/model/tensorboard"),
    params:
        model=GLAM["model"],
        train=mf_glam.training_keys(GLAM["train"]),
        window=GLAM["window"],
        seed=config["seed"],
        device=config["device"],
        state_dir="results/{dataset}/glam/train_state",
        code=code_digest("mammoflow.pipelines.glam.train"),
    log:
        "logs/{dataset}/glam/train.log",
    threads: GLAM["job"]["threads"]
    resources:
        gpu=1,
        mem_mb=GLAM["job"]["mem_mb"],
        runtime=GLAM["job"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/glam/train.py"


for _ds in GLAM["datasets"]:

    rule:
        name:
            f"glam_predict_{_ds}"
        input:
            model=f"results/{_ds}/glam/model/glam.pt",
            data=f"results/{_ds}/glam/data.pkl",
            images=f"results/{_ds}/glam/cropped_images",
            rejected=f"results/{_ds}/glam/rejected.csv",
            masks=mf_glam.synthetic_masks(DATASETS[_ds]),
        output:
            predictions=report(
                f"results/{_ds}/glam/predictions.csv",
                caption="../../report/glam/predictions.rst",
                category="GLAM",
                subcategory=_ds,
            ),
            saliency=f"results/{_ds}/glam/saliency_dice.csv",
            scores=f"results/{_ds}/glam/scores.csv",
            rejected=f"results/{_ds}/glam/rejected/model.csv",
            figures=[
                report(
                    f"results/{_ds}/glam/visualization/{i}.png",
                    caption="../../report/glam/visualization.rst",
                    category="GLAM",
                    subcategory=_ds,
                )
                for i in glam_figure_ids(_ds)
            ],
        params:
            seg_dir=dataset_path(_ds, "segmentation"),
            train=GLAM["train"],
            window=GLAM["window"],
            seed=config["seed"],
            device=config["device"],
            code=code_digest("mammoflow.pipelines.glam.infer"),
        log:
            f"logs/{_ds}/glam/predict.log",
        threads: GLAM["job"]["threads"]
        resources:
            gpu=1,
            mem_mb=GLAM["job"]["mem_mb"],
            runtime=GLAM["job"]["runtime"],
        conda:
            ENV
        script:
            "../../scripts/glam/predict.py"


rule glam_metrics:
    input:
        predictions="results/{dataset}/glam/predictions.csv",
        saliency="results/{dataset}/glam/saliency_dice.csv",
        scores="results/{dataset}/glam/scores.csv",
        splits="results/{dataset}/glam/splits.csv",
    output:
        report(
            "results/{dataset}/glam/metrics.json",
            caption="../../report/glam/metrics.rst",
            category="GLAM",
            subcategory="{dataset}",
        ),
    params:
        train=GLAM["train"],
        code=code_digest("mammoflow.pipelines.glam.infer"),
    log:
        "logs/{dataset}/glam/metrics.log",
    conda:
        ENV
    script:
        "../../scripts/glam/metrics.py"


rule glam:
    localrule: True
    input:
        expand(
            "results/{dataset}/glam/{name}",
            dataset=GLAM["datasets"],
            name=["data.pkl", "data.json", "cropped_exam_list.json", "rejected.csv", "metrics.json",
                  "predictions.csv", "model/history.csv"],
        ),
        expand(
            "results/{dataset}/glam/exam_list_from_table.{ext}",
            dataset=GLAM["exam_list"]["datasets"],
            ext=["pkl", "json"],
        ),
