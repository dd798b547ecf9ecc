# Seed 002 synthetic-image GAN: a DCGAN with spectral norm on lesion/calcification patches (centre crops of the
# lesion pairs), sample grid, FID against held-out test patches beside a noise and a real-vs-real baseline;
# then the augmentation experiment (seed-000 patch classifier with and without GAN patches, same budget).


rule superres_gan:
    input:
        pairs="results/{dataset}/superres/pairs.csv",
        training="results/{dataset}/superres/pairs/training",
        test="results/{dataset}/superres/pairs/test",
        features="results/{dataset}/superres/models/features.pth",
    output:
        model="results/{dataset}/superres/gan/patch_gan.pth",
        samples="results/{dataset}/superres/gan/samples.npy",
        grid=report(
            "results/{dataset}/superres/gan/grid.png",
            caption="../../report/superres/gan_grid.rst",
            category="Super-resolution",
        ),
        fid=report(
            "results/{dataset}/superres/gan/fid.json",
            caption="../../report/superres/fid.rst",
            category="Super-resolution",
        ),
    params:
        gan=SR["gan"],
        batch_size=SR["train"]["batch_size"],
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.superres.augment"),
    log:
        "logs/{dataset}/superres/gan.log",
    threads: SR["job"]["threads"]
    resources:
        gpu=1,
        mem_mb=SR["job"]["mem_mb"],
        runtime=SR["job"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/superres/gan.py"


rule superres_augment:
    input:
        pairs="results/{dataset}/superres/pairs.csv",
        training="results/{dataset}/superres/pairs/training",
        test="results/{dataset}/superres/pairs/test",
        samples="results/{dataset}/superres/gan/samples.npy",
        model="results/{dataset}/superres/gan/patch_gan.pth",
    output:
        metrics=report(
            "results/{dataset}/superres/gan/augment.json",
            caption="../../report/superres/augment.rst",
            category="Super-resolution",
        ),
    params:
        augment=SR["augment"],
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.superres.augment"),
    log:
        "logs/{dataset}/superres/augment.log",
    threads: SR["job"]["threads"]
    resources:
        gpu=1,
        mem_mb=SR["job"]["mem_mb"],
        runtime=SR["job"]["runtime"],
    conda:
        ENV
    script:
        "../../scripts/superres/augment.py"
