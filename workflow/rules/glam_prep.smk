# Seed 003 (GLAM/GMIC) preparation: synthetic NYU-style data, exam lists (NYU pickle or canonical image
# table), the original's crop and optimal centres. One job per dataset and stage (the crop job runs its
# images in threads); the cropped PNGs are a directory() because rejected images are only known at run time.
from mammoflow.datasets import nyu as mf_exam_list
from mammoflow.datasets.synthetic import nyu as mf_synth_nyu


validate(config["glam"], schema="../schemas/glam.schema.yaml")

GLAM = config["glam"]
GLAM_CROP = GLAM["crop"]


for _ds in [d for d, s in DATASETS.items() if s["format"] == "nyu" and "synthetic" in s]:
    _files = mf_synth_nyu.expected_outputs(
        mf_synth_nyu.NYUSynthConfig.from_config(DATASETS[_ds]["synthetic"]), DATASETS[_ds]["root"]
    )

    rule:
        name:
            f"synthesize_nyu_{_ds}"
        output:
            exam_list=_files["exam_list"],
            images=_files["images"],
            masks=_files["masks"],
        params:
            spec=DATASETS[_ds]["synthetic"],
            root=lambda w, output: os.path.dirname(output.exam_list[0]),
            code=code_digest("mammoflow.datasets.synthetic.nyu"),
        log:
            f"logs/{_ds}/synthesize_nyu.log",
        threads: 2
        conda:
            ENV
        script:
            "../scripts/glam_synthesize_nyu.py"


rule glam_exam_list:
    input:
        exam_list=lambda w: mf_exam_list.dataset_layout(w.dataset, DATASETS[w.dataset])["raw_exam_list"],
    output:
        pkl="results/{dataset}/glam/exam_list.pkl",
        json="results/{dataset}/glam/exam_list.json",
        rejected="results/{dataset}/glam/rejected/exam_list.csv",
    params:
        images=lambda w: mf_exam_list.dataset_layout(w.dataset, DATASETS[w.dataset])["images"],
        code=code_digest("mammoflow.datasets.nyu"),
    log:
        "logs/{dataset}/glam/exam_list.log",
    conda:
        ENV
    script:
        "../scripts/glam_exam_list.py"


rule glam_exam_list_from_table:
    input:
        images="results/{dataset}/tables/images.csv",
    output:
        pkl="results/{dataset}/glam/exam_list_from_table.pkl",
        json="results/{dataset}/glam/exam_list_from_table.json",
        rejected="results/{dataset}/glam/rejected/exam_list_from_table.csv",
    params:
        malignant_birads=GLAM["exam_list"]["malignant_birads"],
        code=code_digest("mammoflow.datasets.nyu"),
    log:
        "logs/{dataset}/glam/exam_list_from_table.log",
    conda:
        ENV
    script:
        "../scripts/glam_exam_list_from_table.py"


rule glam_crop:
    input:
        exam_list=lambda w: "results/{}/glam/{}.pkl".format(
            w.dataset, mf_exam_list.dataset_layout(w.dataset, DATASETS[w.dataset])["exam_list"]
        ),
    output:
        images=directory("results/{dataset}/glam/cropped_images"),
        pkl="results/{dataset}/glam/cropped_exam_list.pkl",
        json="results/{dataset}/glam/cropped_exam_list.json",
        rejected="results/{dataset}/glam/rejected/crop.csv",
    params:
        images=lambda w: mf_exam_list.dataset_layout(w.dataset, DATASETS[w.dataset])["images"],
        cfg=GLAM_CROP,
        code=code_digest("mammoflow.pipelines.glam.crop"),
    log:
        "logs/{dataset}/glam/crop.log",
    threads: GLAM_CROP["threads"]
    resources:
        mem_mb=GLAM_CROP["mem_mb"],
        runtime=GLAM_CROP["runtime"],
    conda:
        ENV
    script:
        "../scripts/glam_crop.py"


rule glam_centers:
    input:
        pkl="results/{dataset}/glam/cropped_exam_list.pkl",
        images="results/{dataset}/glam/cropped_images",
    output:
        pkl="results/{dataset}/glam/data.pkl",
        json="results/{dataset}/glam/data.json",
        rejected="results/{dataset}/glam/rejected/centers.csv",
    params:
        window=GLAM["window"],
        code=code_digest("mammoflow.pipelines.glam.centers"),
    log:
        "logs/{dataset}/glam/centers.log",
    resources:
        mem_mb=GLAM_CROP["mem_mb"],
        runtime=GLAM_CROP["runtime"],
    conda:
        ENV
    script:
        "../scripts/glam_centers.py"


rule glam_rejected:
    input:
        lambda w: expand(
            "results/{ds}/glam/rejected/{stage}.csv",
            ds=w.dataset,
            stage=[
                mf_exam_list.dataset_layout(w.dataset, DATASETS[w.dataset])["exam_list"],
                "crop",
                "centers",
            ],
        ),
    output:
        "results/{dataset}/glam/rejected.csv",
    params:
        code=code_digest("mammoflow.pipelines.glam.centers"),
    log:
        "logs/{dataset}/glam/rejected.log",
    conda:
        ENV
    script:
        "../scripts/glam_rejected.py"


PIPELINE_TARGETS.extend(
    expand(
        "results/{dataset}/glam/{name}",
        dataset=GLAM["datasets"],
        name=["data.pkl", "data.json", "cropped_exam_list.json", "rejected.csv"],
    )
    + expand(
        "results/{dataset}/glam/exam_list_from_table.{ext}",
        dataset=GLAM["exam_list"]["datasets"],
        ext=["pkl", "json"],
    )
)
