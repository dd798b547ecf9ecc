# Seed 000 whole-image classifier: one training run per (scale, FWHM, lambda) on warped images, the same
# model on unwarped images as the baseline, and a warped-vs-unwarped summary table.

WI = S000["whole_image"]
WI_DIR = "results/{ds}/models/whole_image"


def whole_image_common(ds):
    """Inputs every whole-image run reads: labels, heatmap shard tables, the patch classifier."""
    out = {
        "images": f"results/{ds}/tables/images.csv",
        "heat": expand("results/{ds}/heatmaps/shards/{s}.csv", ds=ds, s=s000_shards(ds)),
    }
    if WI["init"] == "patch_classifier":
        out["checkpoint"] = patch_checkpoint(ds)
    return out


def whole_image_outputs(run_dir):
    """Declared files of one run (last.pt, the resume state, is kept undeclared so a failed job keeps it)."""
    return {
        "metrics": f"{run_dir}/metrics.json",
        "roc": report(
            f"{run_dir}/roc.png",
            caption="../report/seed000_roc.rst",
            category="Seed 000",
            subcategory="whole-image classifier",
        ),
        "predictions": f"{run_dir}/predictions.csv",
        "history": f"{run_dir}/history.csv",
        "best": f"{run_dir}/best.pt",
        "tensorboard": directory(f"{run_dir}/tensorboard"),
    }


WI_PARAMS = dict(
    cfg=WI,
    seed=config.get("seed", 0),
    device=config.get("device", "auto"),
    code=code_digest("mammoflow.pipelines.nus.whole_image"),
)

for _ds in S000["datasets"]:
    _wd = WI_DIR.format(ds=_ds)

    rule:
        name:
            f"whole_image_warped_{_ds}"
        input:
            **whole_image_common(_ds),
            warps=expand("results/{ds}/warps/shards/{s}.csv", ds=_ds, s=s000_shards(_ds)),
        output:
            **whole_image_outputs(f"{_wd}/scale{{scale}}_fwhm{{fwhm}}_lam{{lam}}"),
        params:
            **WI_PARAMS,
        log:
            f"logs/{_ds}/whole_image/scale{{scale}}_fwhm{{fwhm}}_lam{{lam}}.log",
        threads: WI["threads"]
        resources:
            gpu=1,
            mem_mb=WI["mem_mb"],
            runtime=WI["runtime"],
        conda:
            ENV
        script:
            "../scripts/whole_image_train.py"

    rule:
        name:
            f"whole_image_unwarped_{_ds}"
        input:
            **whole_image_common(_ds),
        output:
            **whole_image_outputs(f"{_wd}/unwarped"),
        params:
            **WI_PARAMS,
        log:
            f"logs/{_ds}/whole_image/unwarped.log",
        threads: WI["threads"]
        resources:
            gpu=1,
            mem_mb=WI["mem_mb"],
            runtime=WI["runtime"],
        conda:
            ENV
        script:
            "../scripts/whole_image_train.py"

    rule:
        name:
            f"whole_image_summary_{_ds}"
        input:
            expand(
                "{wd}/scale{scale}_fwhm{fwhm}_lam{lam}/metrics.json",
                wd=_wd,
                scale=SCALES,
                fwhm=FWHMS,
                lam=LAMS,
            ),
            f"{_wd}/unwarped/metrics.json",
        output:
            report(
                f"{_wd}/summary.csv",
                caption="../report/seed000_whole_image_summary.rst",
                category="Seed 000",
                subcategory="whole-image classifier",
            ),
        log:
            f"logs/{_ds}/whole_image/summary.log",
        conda:
            ENV
        script:
            "../scripts/whole_image_summary.py"


PIPELINE_TARGETS += [os.path.join(WI_DIR.format(ds=d), "summary.csv") for d in S000["datasets"]]
