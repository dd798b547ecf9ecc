"""Staged supervised training with weighted sampling, grouped validation, best/last checkpoints, resume and TensorBoard."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from mammoflow.evaluation.metrics import roc_auc
from mammoflow.training.torchutil import load_checkpoint, save_atomic

log = logging.getLogger("mammoflow.training")


@dataclass(frozen=True)
class Stage:
    """One fine-tuning stage: which parameters train (a name the model's `trainable` understands), epochs, lr."""

    name: str
    train: str
    epochs: int
    lr: float


@dataclass
class FitConfig:
    """Loop settings shared by every stage."""

    stages: Sequence[Stage]
    batch_size: int = 32
    weight_decay: float = 1e-4
    samples_per_epoch: int = 0  # 0 = as many draws as training samples
    num_workers: int = 0
    seed: int = 0
    eval_batch_size: int = 128


@dataclass
class FitResult:
    """What a finished fit leaves behind."""

    best_epoch: int
    best_val_auc: float
    best_val_loss: float
    history: list[dict[str, Any]] = field(default_factory=list)


class Interrupt(RuntimeError):
    """Raised by a callback to stop training (used to test resume)."""


# ----------------------------------------------------------------------------- data helpers


def grouped_split(groups: Sequence[str], labels: Sequence[int], val_fraction: float, seed: int) -> np.ndarray:
    """Boolean val mask: whole groups (studies) go to val, ~val_fraction of positive and of negative groups each."""
    groups = np.asarray([str(g) for g in groups])
    labels = np.asarray(labels).astype(int)
    if val_fraction <= 0:
        return np.zeros(len(groups), dtype=bool)
    uniq = sorted(set(groups.tolist()))
    pos = {g for g in uniq if labels[groups == g].max() == 1}
    rng = np.random.default_rng(seed)
    val: set[str] = set()
    for part in (sorted(pos), sorted(set(uniq) - pos)):
        if not part:
            continue
        order = list(rng.permutation(len(part)))
        n = int(round(val_fraction * len(part)))
        n = min(max(n, 1), len(part) - 1) if len(part) > 1 else 0
        val.update(part[i] for i in order[:n])
    return np.isin(groups, sorted(val))


def class_weights(labels: Sequence[int]) -> torch.Tensor:
    """Per-sample weights proportional to the inverse frequency of the sample's class."""
    y = np.asarray(labels).astype(int)
    counts = np.bincount(y, minlength=2).astype(float)
    w = np.where(counts[y] > 0, 1.0 / np.maximum(counts[y], 1), 0.0)
    return torch.as_tensor(w, dtype=torch.double)


def fingerprint(*parts: Any) -> str:
    """sha256 over JSON-serialised parts (configs, file digests): decides whether a last checkpoint may be resumed."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- RNG state


def _rng_state(gens: dict[str, torch.Generator]) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": _np_state(), "python": random.getstate(),
            **{f"gen_{k}": g.get_state() for k, g in gens.items()}}


def _np_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.as_tensor(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _set_rng_state(state: dict[str, Any], gens: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    for k, g in gens.items():
        g.set_state(state[f"gen_{k}"])


# ----------------------------------------------------------------------------- loop


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: Dataset, prepare: Callable[[torch.Tensor], torch.Tensor],
            device: torch.device, batch_size: int = 128, num_workers: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """P(class 1), labels and mean cross-entropy over a dataset, in order."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    scores, labels, loss_sum = [], [], 0.0
    for x, y in loader:
        x, y = prepare(x.to(device)), y.to(device)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        scores.append(torch.softmax(logits.float(), 1)[:, 1].cpu().numpy())
        labels.append(y.cpu().numpy())
    if not scores:
        return np.zeros(0), np.zeros(0, dtype=int), float("nan")
    s, lab = np.concatenate(scores), np.concatenate(labels)
    return s, lab, loss_sum / max(len(lab), 1)


def _better(auc: float, loss: float, best_auc: float, best_loss: float) -> bool:
    """Higher val AUC wins; a tie (or an undefined AUC) is decided by the lower val loss."""
    a = auc if auc == auc else -math.inf
    b = best_auc if best_auc == best_auc else -math.inf
    if a != b:
        return a > b
    return loss < best_loss


def fit(model: torch.nn.Module, train_ds: Dataset, train_labels: Sequence[int], val_ds: Dataset | None,
        cfg: FitConfig, trainable: Callable[[torch.nn.Module, str], Iterable[torch.nn.Parameter]],
        prepare_train: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
        prepare_eval: Callable[[torch.Tensor], torch.Tensor], out_dir: str | Path, meta: dict[str, Any],
        fp: str, device: torch.device, tensorboard_dir: str | Path | None = None,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
        loss_fn: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> FitResult:
    """Train through the stages; checkpoints `last.pt` after each epoch (resumable) and `best.pt` (model + meta).

    A `last.pt` whose fingerprint equals `fp` is resumed exactly (weights, optimiser, stage, epoch, RNG states);
    any other `last.pt` is ignored and training starts afresh. `loss_fn(model, x, y)` replaces the default
    cross-entropy of model(x).
    """
    if loss_fn is None:
        loss_fn = lambda m, x, y: F.cross_entropy(m(x), y)  # noqa: E731
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"
    gens = {"sampler": torch.Generator().manual_seed(cfg.seed), "augment": torch.Generator().manual_seed(cfg.seed + 1)}
    weights = class_weights(train_labels)
    n_draw = cfg.samples_per_epoch or len(train_labels)
    sampler = WeightedRandomSampler(weights, num_samples=n_draw, replacement=True, generator=gens["sampler"])
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        drop_last=n_draw > cfg.batch_size)
    model.to(device)

    stage_i, epoch_in_stage, global_epoch = 0, 0, 0
    best = {"epoch": -1, "auc": float("nan"), "loss": math.inf}
    best_ck: dict[str, Any] | None = None  # what best.pt holds; also kept in last.pt (Snakemake may delete best.pt)
    history: list[dict[str, Any]] = []
    opt_state = None
    if last_path.is_file():
        ck = load_checkpoint(last_path)
        if ck.get("fingerprint") == fp:
            model.load_state_dict(ck["model"])
            stage_i, epoch_in_stage, global_epoch = ck["stage"], ck["epoch_in_stage"], ck["global_epoch"]
            best, history, opt_state = dict(ck["best"]), list(ck["history"]), ck["optimizer"]
            best_ck = ck.get("best_ck")
            if best_ck is not None and not best_path.is_file():
                save_atomic(best_ck, best_path)
            _set_rng_state(ck["rng"], gens)
            log.info("resuming from %s at stage %d epoch %d (global epoch %d)", last_path, stage_i, epoch_in_stage,
                     global_epoch)
        else:
            log.info("ignoring %s: it belongs to another configuration or data set", last_path)

    writer = _writer(tensorboard_dir, history)
    try:
        while stage_i < len(cfg.stages):
            stage = cfg.stages[stage_i]
            for p in model.parameters():
                p.requires_grad_(False)
            params = list(trainable(model, stage.train))
            for p in params:
                p.requires_grad_(True)
            opt = torch.optim.Adam(params, lr=stage.lr, weight_decay=cfg.weight_decay)
            if opt_state is not None:
                opt.load_state_dict(opt_state)
                opt_state = None
            while epoch_in_stage < stage.epochs:
                t0, c0 = time.time(), time.process_time()
                model.train()
                loss_sum, n_seen = 0.0, 0
                for x, y in loader:
                    x, y = prepare_train(x.to(device), gens["augment"]), y.to(device)
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model, x, y)
                    loss.backward()
                    opt.step()
                    loss_sum += float(loss.detach()) * len(y)
                    n_seen += len(y)
                rec: dict[str, Any] = {"epoch": global_epoch, "stage": stage.name, "epoch_in_stage": epoch_in_stage,
                                       "lr": stage.lr, "train_loss": loss_sum / max(n_seen, 1)}
                if val_ds is not None and len(val_ds):
                    s, yv, vloss = predict(model, val_ds, prepare_eval, device, cfg.eval_batch_size, cfg.num_workers)
                    rec.update(val_loss=vloss, val_auc=roc_auc(yv, s), val_acc=float(((s >= 0.5) == yv).mean()))
                else:
                    rec.update(val_loss=rec["train_loss"], val_auc=float("nan"), val_acc=float("nan"))
                history.append(rec)
                _log_epoch(writer, rec)
                if _better(rec["val_auc"], rec["val_loss"], best["auc"], best["loss"]):
                    best = {"epoch": global_epoch, "auc": rec["val_auc"], "loss": rec["val_loss"]}
                    best_ck = {**meta, "model": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
                               "epoch": global_epoch, "stage": stage.name, "val_auc": rec["val_auc"],
                               "val_loss": rec["val_loss"]}
                    save_atomic(best_ck, best_path)
                epoch_in_stage += 1
                global_epoch += 1
                done_stage = epoch_in_stage >= stage.epochs
                save_atomic({**meta, "model": model.state_dict(), "optimizer": None if done_stage else opt.state_dict(),
                             "stage": stage_i + 1 if done_stage else stage_i,
                             "epoch_in_stage": 0 if done_stage else epoch_in_stage, "global_epoch": global_epoch,
                             "best": best, "best_ck": best_ck, "history": history, "rng": _rng_state(gens), "fingerprint": fp},
                            last_path)
                log.info("epoch %d (%s %d/%d): train loss %.4f, val loss %.4f, val AUC %.4f, %.1fs (cpu %.1fs)",
                         rec["epoch"], stage.name, epoch_in_stage, stage.epochs, rec["train_loss"], rec["val_loss"],
                         rec["val_auc"], time.time() - t0, time.process_time() - c0)
                if on_epoch_end is not None:
                    on_epoch_end(rec)
            stage_i += 1
            epoch_in_stage = 0
    finally:
        if writer is not None:
            writer.close()
    if best_ck is None:  # no epoch at all (every stage has 0 epochs): the initial weights are the best
        best_ck = {**meta, "model": model.state_dict(), "epoch": -1, "stage": "none", "val_auc": float("nan"),
                   "val_loss": float("nan")}
    save_atomic(best_ck, best_path)
    return FitResult(best["epoch"], best["auc"], best["loss"], history)


def _writer(tensorboard_dir: str | Path | None, history: list[dict[str, Any]]):
    """A TensorBoard writer; on resume the earlier epochs are written again (the log folder may have been cleaned)."""
    if tensorboard_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    Path(tensorboard_dir).mkdir(parents=True, exist_ok=True)
    w = SummaryWriter(log_dir=str(tensorboard_dir))
    for rec in history:
        _log_epoch(w, rec)
    return w


def _log_epoch(writer, rec: dict[str, Any]) -> None:
    if writer is None:
        return
    for k in ("train_loss", "val_loss", "val_auc", "val_acc", "lr"):
        v = rec.get(k)
        if v is not None and v == v:
            writer.add_scalar(k, float(v), rec["epoch"])
    writer.flush()


def history_rows(result: FitResult) -> list[dict[str, Any]]:
    """The per-epoch history as plain rows (for a CSV)."""
    return [dict(r) for r in result.history]


def stages_from_config(stages: Sequence[dict[str, Any]]) -> list[Stage]:
    """Stage objects from config dicts {name, train, epochs, lr}."""
    return [Stage(str(s.get("name", s["train"])), str(s["train"]), int(s["epochs"]), float(s["lr"])) for s in stages]


def config_dict(cfg: FitConfig) -> dict[str, Any]:
    """A JSON-able view of the loop settings (for fingerprints and metrics.json)."""
    d = asdict(cfg)
    d["stages"] = [asdict(s) for s in cfg.stages]
    return d
