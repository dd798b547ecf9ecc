# Seed 000 whole-image classifier: one training run per (scale, FWHM, lambda) on warped images, the same
# model on unwarped images as the baseline, the controls (oracle and random-heat warps, shuffled labels) and
# a summary table with bootstrap CIs. last.pt (the resume
# state) is kept undeclared so that a failed job keeps it.

WI = S000["whole_image"]
# what one training run depends on (adding a seed or a control must not retrain the existing runs)
WI_TRAIN = {k: v for k, v in WI.items() if k not in ("seeds", "bootstrap", "shuffled_control")}


rule whole_image_warped:
    input:
        unpack(get_whole_image_input),
    output:
        metrics="results/{dataset}/models/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}/metrics.json",
        roc=report(
            "results/{dataset}/models/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}/roc.png",
            caption="../../report/nus/roc.rst",
            category="Seed 000",
            subcategory="whole-image classifier",
        ),
        predictions="results/{dataset}/models/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}/predictions.csv",
        history="results/{dataset}/models/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}/history.csv",
        best="results/{dataset}/models/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}/best.pt",
        tensorboard=directory("results/{dataset}/models/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}/tensorboard"),
    params:
        cfg=WI_TRAIN,
        seed=config["seed"],
        device=config["device"],
        code=code_digest("mammoflow.pipelines.nus.whole_image"),
    log:
        "logs/{dataset}/whole_image/scale{scale}_fwhm{fwhm}_lam{lam}.log",
    threads: WI["threads"]
    resources:
        gpu=1,
        mem_mb=WI["mem_mb"],
        runtime=WI["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/whole_image_train.py"


rule whole_image_unwarped:
    input:
        unpack(get_whole_image_input),
    output:
        metrics="results/{dataset}/models/whole_image/unwarped/metrics.json",
        roc=report(
            "results/{dataset}/models/whole_image/unwarped/roc.png",
            caption="../../report/nus/roc.rst",
            category="Seed 000",
            subcategory="whole-image classifier",
        ),
        predictions="results/{dataset}/models/whole_image/unwarped/predictions.csv",
        history="results/{dataset}/models/whole_image/unwarped/history.csv",
        best="results/{dataset}/models/whole_image/unwarped/best.pt",
        tensorboard=directory("results/{dataset}/models/whole_image/unwarped/tensorboard"),
    params:
        cfg=WI_TRAIN,
        seed=config["seed"],
        device=config["device"],
        code=code_digest("mammoflow.pipelines.nus.whole_image"),
    log:
        "logs/{dataset}/whole_image/unwarped.log",
    threads: WI["threads"]
    resources:
        gpu=1,
        mem_mb=WI["mem_mb"],
        runtime=WI["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/whole_image_train.py"


rule whole_image_control:
    input:
        unpack(get_whole_image_input),
    output:
        metrics="results/{dataset}/models/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}/metrics.json",
        roc=report(
            "results/{dataset}/models/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}/roc.png",
            caption="../../report/nus/roc.rst",
            category="Seed 000",
            subcategory="whole-image classifier",
        ),
        predictions="results/{dataset}/models/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}/predictions.csv",
        history="results/{dataset}/models/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}/history.csv",
        best="results/{dataset}/models/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}/best.pt",
        tensorboard=directory("results/{dataset}/models/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}/tensorboard"),
    params:
        cfg=WI_TRAIN,
        seed=config["seed"],
        device=config["device"],
        code=code_digest("mammoflow.pipelines.nus.whole_image"),
    log:
        "logs/{dataset}/whole_image/{control}_scale{scale}_fwhm{fwhm}_lam{lam}.log",
    threads: WI["threads"]
    resources:
        gpu=1,
        mem_mb=WI["mem_mb"],
        runtime=WI["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/whole_image_train.py"


rule whole_image_shuffled:
    input:
        unpack(get_whole_image_input),
    output:
        metrics="results/{dataset}/models/whole_image/shuffled/metrics.json",
        roc="results/{dataset}/models/whole_image/shuffled/roc.png",
        predictions="results/{dataset}/models/whole_image/shuffled/predictions.csv",
        history="results/{dataset}/models/whole_image/shuffled/history.csv",
        best="results/{dataset}/models/whole_image/shuffled/best.pt",
        tensorboard=directory("results/{dataset}/models/whole_image/shuffled/tensorboard"),
    params:
        cfg=WI_TRAIN,
        seed=config["seed"],
        shuffle_labels=True,
        device=config["device"],
        code=code_digest("mammoflow.pipelines.nus.whole_image"),
    log:
        "logs/{dataset}/whole_image/shuffled.log",
    threads: WI["threads"]
    resources:
        gpu=1,
        mem_mb=WI["mem_mb"],
        runtime=WI["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/whole_image_train.py"


rule whole_image_seed:
    input:
        unpack(get_whole_image_seed_input),
    output:
        metrics="results/{dataset}/models/whole_image/seeds/{run}/seed{train_seed}/metrics.json",
        roc="results/{dataset}/models/whole_image/seeds/{run}/seed{train_seed}/roc.png",
        predictions="results/{dataset}/models/whole_image/seeds/{run}/seed{train_seed}/predictions.csv",
        history="results/{dataset}/models/whole_image/seeds/{run}/seed{train_seed}/history.csv",
        best="results/{dataset}/models/whole_image/seeds/{run}/seed{train_seed}/best.pt",
        tensorboard=directory("results/{dataset}/models/whole_image/seeds/{run}/seed{train_seed}/tensorboard"),
    params:
        cfg=WI_TRAIN,
        device=config["device"],
        code=code_digest("mammoflow.pipelines.nus.whole_image"),
    log:
        "logs/{dataset}/whole_image/seeds/{run}_seed{train_seed}.log",
    threads: WI["threads"]
    resources:
        gpu=1,
        mem_mb=WI["mem_mb"],
        runtime=WI["runtime"],
    conda:
        ENV
    script:
        "../../scripts/nus/whole_image_train.py"


rule whole_image_summary:
    input:
        get_whole_image_runs,
    output:
        report(
            "results/{dataset}/models/whole_image/summary.csv",
            caption="../../report/nus/whole_image_summary.rst",
            category="Seed 000",
            subcategory="whole-image classifier",
        ),
    log:
        "logs/{dataset}/whole_image/summary.log",
    params:
        n_boot=WI["bootstrap"],
        seed=config["seed"],
        code=code_digest("mammoflow.pipelines.nus.summary"),
    conda:
        ENV
    script:
        "../../scripts/nus/whole_image_summary.py"


rule nus:
    localrule: True
    input:
        NUS.targets(),
