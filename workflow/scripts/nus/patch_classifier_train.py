"""Train one patch classifier (set S or S10; a cross-fitting fold model without one fold's studies) and write its test metrics."""
from mammoflow.pipelines.nus import patch_classifier as pc
from mammoflow.core.smk import setup_logging

setup_logging(snakemake)
i, o, p, w = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
cfg = pc.ClassifierConfig.for_set(p.cfg, w.patch_set, device=p.device)
outs = pc.TrainOutputs(model_dir=str(o.best.rsplit("/", 1)[0]), metrics=o.metrics, predictions=o.predictions,
                       history=o.history, roc=o.roc, tensorboard=o.tensorboard, extra={"set": w.patch_set})
fold = int(w.fold) if hasattr(w, "fold") else None
pc.train(i.train, i.test, outs, cfg, images_csv=i.images, seed=p.seed, threads=snakemake.threads, code=p.code,
         patch_tables=list(i.patch_tables), canvas=p.canvas, folds_csv=i.folds if fold is not None else None,
         fold=fold)
