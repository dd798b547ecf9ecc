# Seed 002 LR/HR pairs: ONE job per dataset cuts every image's pairs from the 16-bit canvases (each canvas read
# once). The per-pair PNGs live in the declared split folders; pairs.csv is what downstream rules read.


rule superres_pairs:
    input:
        images="results/{dataset}/tables/images.csv",
        findings="results/{dataset}/tables/findings.csv",
    output:
        pairs="results/{dataset}/superres/pairs.csv",
        rejected="results/{dataset}/superres/pairs_rejected.csv",
        training=directory("results/{dataset}/superres/pairs/training"),
        test=directory("results/{dataset}/superres/pairs/test"),
    params:
        pairs=SR["pairs"],
        clahe=SR["clahe"],
        seed=config["seed"],
        out_dir="results/{dataset}/superres/pairs",
        code=code_digest("mammoflow.pipelines.superres.data"),
    log:
        "logs/{dataset}/superres/pairs.log",
    conda:
        ENV
    script:
        "../../scripts/superres/pairs.py"
