# Seed 003 GLAM model: weakly supervised training (global, local, joint), predictions, the original's
# five-panel figures and metrics. Training resumes from results/{dataset}/glam/train_state/last.pt, which is
# deliberately not declared (Snakemake would delete it when a run is interrupted) and is removed on success.
# Figures are explicit per-image outputs of ONE job per dataset (model loaded once), listed at parse time
# from the NYU exam list (synthetic plan or the raw pkl); an image rejected before the model gets a figure
# that states why.
from mammoflow.pipelines.glam import plan as mf_glam_train

GLAM_MODEL = GLAM.get("model", {})
GLAM_TRAIN = GLAM.get("train", {})
GLAM_JOB = GLAM.get("job", {})
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
        model=GLAM_MODEL,
        train=mf_glam_train.training_keys(GLAM_TRAIN),
        window=GLAM["window"],
        seed=config["seed"],
        device=config.get("device", "auto"),
        state_dir="results/{dataset}/glam/train_state",
        code=code_digest("mammoflow.pipelines.glam.train"),
    log:
        "logs/{dataset}/glam/train.log",
    threads: GLAM_JOB.get("threads", 2)
    resources:
        gpu=1,
        mem_mb=GLAM_JOB.get("mem_mb", 8000),
        runtime=GLAM_JOB.get("runtime", 240),
    conda:
        ENV
    script:
        "../scripts/glam_train.py"


for _ds in GLAM["datasets"]:

    rule:
        name:
            f"glam_predict_{_ds}"
        input:
            model=f"results/{_ds}/glam/model/glam.pt",
            data=f"results/{_ds}/glam/data.pkl",
            images=f"results/{_ds}/glam/cropped_images",
            rejected=f"results/{_ds}/glam/rejected.csv",
            masks=mf_glam_train.synthetic_masks(DATASETS[_ds]),
        output:
            predictions=report(
                f"results/{_ds}/glam/predictions.csv",
                caption="../report/glam_predictions.rst",
                category="GLAM",
                subcategory=_ds,
            ),
            saliency=f"results/{_ds}/glam/saliency_dice.csv",
            scores=f"results/{_ds}/glam/scores.csv",
            rejected=f"results/{_ds}/glam/rejected/model.csv",
            figures=[
                report(
                    f"results/{_ds}/glam/visualization/{i}.png",
                    caption="../report/glam_visualization.rst",
                    category="GLAM",
                    subcategory=_ds,
                )
                for i in mf_glam_train.figure_ids(
                    DATASETS[_ds],
                    GLAM_TRAIN,
                    config["seed"],
                    mf_exam_list.dataset_layout(_ds, DATASETS[_ds]),
                )
            ],
        params:
            seg_dir=lambda w, _root=DATASETS[_ds]["root"]: os.path.join(_root, "segmentation"),
            train=GLAM_TRAIN,
            window=GLAM["window"],
            seed=config["seed"],
            device=config.get("device", "auto"),
            code=code_digest("mammoflow.pipelines.glam.infer"),
        log:
            f"logs/{_ds}/glam/predict.log",
        threads: GLAM_JOB.get("threads", 2)
        resources:
            gpu=1,
            mem_mb=GLAM_JOB.get("mem_mb", 8000),
            runtime=GLAM_JOB.get("runtime", 240),
        conda:
            ENV
        script:
            "../scripts/glam_predict.py"


rule glam_metrics:
    input:
        predictions="results/{dataset}/glam/predictions.csv",
        saliency="results/{dataset}/glam/saliency_dice.csv",
        scores="results/{dataset}/glam/scores.csv",
        splits="results/{dataset}/glam/splits.csv",
    output:
        report(
            "results/{dataset}/glam/metrics.json",
            caption="../report/glam_metrics.rst",
            category="GLAM",
            subcategory="{dataset}",
        ),
    params:
        train=GLAM_TRAIN,
        code=code_digest("mammoflow.pipelines.glam.infer"),
    log:
        "logs/{dataset}/glam/metrics.log",
    conda:
        ENV
    script:
        "../scripts/glam_metrics.py"


PIPELINE_TARGETS.extend(
    expand(
        "results/{dataset}/glam/{name}",
        dataset=GLAM["datasets"],
        name=["metrics.json", "predictions.csv", "model/history.csv"],
    )
)
