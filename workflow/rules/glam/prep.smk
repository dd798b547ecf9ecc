# Seed 003 (GLAM/GMIC) preparation: synthetic NYU-style data, exam lists (NYU pickle or canonical image
# table), the original's crop and optimal centres. One job per dataset and stage (the crop job runs its
# images in threads); the cropped PNGs are a directory() because rejected images are only known at run time.


for _ds in synthetic_nyu_datasets():
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
            root=dataset_path(_ds),
            code=code_digest("mammoflow.datasets.synthetic.nyu"),
        log:
            f"logs/{_ds}/synthesize_nyu.log",
        threads: 2
        conda:
            ENV
        script:
            "../../scripts/glam/synthesize_nyu.py"


rule glam_exam_list:
    input:
        exam_list=get_glam_raw_exam_list,
    output:
        pkl="results/{dataset}/glam/exam_list.pkl",
        json="results/{dataset}/glam/exam_list.json",
        rejected="results/{dataset}/glam/rejected/exam_list.csv",
    params:
        images=get_glam_images,
        code=code_digest("mammoflow.datasets.nyu"),
    log:
        "logs/{dataset}/glam/exam_list.log",
    conda:
        ENV
    script:
        "../../scripts/glam/exam_list.py"


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
        "../../scripts/glam/exam_list_from_table.py"


rule glam_crop:
    input:
        exam_list=get_glam_exam_list,
    output:
        images=directory("results/{dataset}/glam/cropped_images"),
        pkl="results/{dataset}/glam/cropped_exam_list.pkl",
        json="results/{dataset}/glam/cropped_exam_list.json",
        rejected="results/{dataset}/glam/rejected/crop.csv",
    params:
        images=get_glam_images,
        cfg=GLAM["crop"],
        code=code_digest("mammoflow.pipelines.glam.crop"),
    log:
        "logs/{dataset}/glam/crop.log",
    threads: GLAM["crop"]["threads"]
    resources:
        mem_mb=GLAM["crop"]["mem_mb"],
        runtime=GLAM["crop"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/glam/crop.py"


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
        mem_mb=GLAM["crop"]["mem_mb"],
        runtime=GLAM["crop"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/glam/centers.py"


rule glam_rejected:
    input:
        get_glam_rejections,
    output:
        "results/{dataset}/glam/rejected.csv",
    params:
        code=code_digest("mammoflow.core.rejections"),
    log:
        "logs/{dataset}/glam/rejected.log",
    conda:
        ENV
    script:
        "../../scripts/glam/rejected.py"
