"""The one training loop: stages, optimisers, schedules, sampling, validation, best/last checkpoints, resume."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, WeightedRandomSampler

from mammoflow.core.errors import ConfigError
from mammoflow.training.batches import batch_len, predict, to_device
from mammoflow.training.checkpoints import load_checkpoint, save_atomic
from mammoflow.training.rng import rng_state, set_rng_state
from mammoflow.training.tensorboard import EpochWriter

log = logging.getLogger("mammoflow.training")

__all__ = ["EngineConfig", "FitResult", "FitSpec", "Interrupt", "Stage", "Task", "fit", "is_better", "predict",
           "stages_from_config", "to_device"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine_warm_restarts")
SAMPLERS = ("shuffle", "weighted", "sequential")


class Interrupt(RuntimeError):
    """Raised by a callback to stop training (used to test resume)."""


@dataclass(frozen=True)
class Stage:
    """One stage: the parameter scope it trains (a name the Task understands), its epochs and learning rate."""

    name: str
    train: str
    epochs: int
    lr: float

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> "Stage":
        """Stage from a config entry {name?, train, epochs, lr}."""
        return cls(str(d.get("name", d["train"])), str(d["train"]), int(d["epochs"]), float(d["lr"]))


def stages_from_config(stages: Sequence[Mapping[str, Any]]) -> tuple[Stage, ...]:
    """Stage objects from config entries."""
    return tuple(Stage.from_mapping(s) for s in stages)


@dataclass(frozen=True)
class EngineConfig:
    """How the loop trains: stages, optimiser and schedule, sampling, model selection and early stopping."""

    stages: tuple[Stage, ...]
    batch_size: int = 32
    optimizer: str = "adam"
    weight_decay: float = 0.0
    scheduler: str = "none"
    t0: int = 10
    t_mult: int = 2
    eta_min: float = 0.0
    grad_clip: float = 0.0
    sampler: str = "shuffle"
    samples_per_epoch: int = 0
    monitor: str | None = "val_auc"
    mode: str = "max"
    tiebreak: str | None = "val_loss"
    patience: int = 0
    stage_checkpoints: bool = False
    drop_last: bool | None = None
    seed: int = 0
    num_workers: int = 0
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        for name, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS), ("scheduler", self.scheduler, SCHEDULERS),
                                     ("sampler", self.sampler, SAMPLERS), ("mode", self.mode, ("max", "min"))):
            if value not in allowed:
                raise ConfigError(f"training {name} {value!r} is not one of {allowed}")
        if self.batch_size < 1:
            raise ConfigError(f"training batch_size must be >= 1, got {self.batch_size}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able view (for fingerprints and metrics files)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["stages"] = [s.__dict__ for s in self.stages]
        return d


class Task:
    """What a pipeline tells the engine: the parameters a stage trains, the loss of a batch, validation metrics."""

    def parameters(self, model: nn.Module, scope: str) -> list[nn.Parameter]:
        """Parameters trained in a stage of this scope (default: all)."""
        return list(model.parameters())

    def optimizer_groups(self, model: nn.Module, scope: str) -> dict[str, list[nn.Parameter]]:
        """One parameter list per optimiser (default: a single optimiser "main")."""
        return {"main": self.parameters(model, scope)}

    def set_mode(self, model: nn.Module, scope: str) -> None:
        """Train/eval modes of the model's parts during a stage (default: all in train mode)."""
        model.train()

    def loss(self, model: nn.Module, batch: Any, gen: torch.Generator) -> torch.Tensor:
        """Loss of one training batch (already on the device); gen drives any random augmentation."""
        raise NotImplementedError(f"{type(self).__name__} must define loss() or step()")

    def step(self, model: nn.Module, batch: Any, optimizers: Mapping[str, torch.optim.Optimizer],
             gen: torch.Generator, grad_clip: float) -> dict[str, float]:
        """One optimisation step on a batch; returns the losses to log (default: one optimiser, loss())."""
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        loss = self.loss(model, batch, gen)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], grad_clip)
        opt.step()
        return {"loss": float(loss.detach())}

    def validate(self, model: nn.Module, data: Dataset, device: torch.device) -> dict[str, float]:
        """Metrics of the validation data (keys like val_loss, val_auc); default: none."""
        return {}

    def end_of_epoch(self, model: nn.Module, train_data: Dataset, device: torch.device) -> None:
        """Work on the model after an epoch's steps, before validation and checkpoints (default: none)."""


@dataclass
class FitSpec:
    """Everything one training run needs."""

    model: nn.Module
    task: Task
    train_data: Dataset
    val_data: Dataset | None
    config: EngineConfig
    out_dir: str | Path
    meta: dict[str, Any]
    fingerprint: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    tensorboard_dir: str | Path | None = None
    sample_weights: Sequence[float] | None = None
    collate: Callable | None = None
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None


@dataclass
class FitResult:
    """What a finished run leaves behind (best.pt and last.pt are in out_dir)."""

    best_epoch: int
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    stopped_early: bool = False


def _value(metrics: Mapping[str, Any], key: str | None, mode: str) -> float:
    """Comparable score of an epoch (higher is better); undefined values rank last."""
    if key is None:
        return 0.0
    v = metrics.get(key)
    if v is None or not math.isfinite(float(v)):
        return -math.inf
    return float(v) if mode == "max" else -float(v)


def is_better(rec: Mapping[str, Any], best: Mapping[str, Any] | None, cfg: EngineConfig) -> bool:
    """The epoch beats the best so far: monitor first, then the tie-break (lower wins); no monitor = latest wins."""
    if best is None or cfg.monitor is None:
        return True
    a, b = _value(rec, cfg.monitor, cfg.mode), _value(best, cfg.monitor, cfg.mode)
    if a != b:
        return a > b
    if cfg.tiebreak is None:
        return False
    return _value(rec, cfg.tiebreak, "min") > _value(best, cfg.tiebreak, "min")


def _loader(spec: FitSpec, gen: torch.Generator) -> DataLoader:
    cfg, n = spec.config, len(spec.train_data)
    n_draw = cfg.samples_per_epoch or n
    if cfg.sampler == "weighted":
        if spec.sample_weights is None:
            raise ConfigError("sampler 'weighted' needs sample_weights")
        w = torch.as_tensor(np.asarray(spec.sample_weights, dtype=np.float64))
        sampler = WeightedRandomSampler(w, num_samples=n_draw, replacement=True, generator=gen)
    elif cfg.sampler == "shuffle":
        sampler = RandomSampler(spec.train_data, replacement=n_draw > n, num_samples=n_draw, generator=gen)
    else:
        sampler = SequentialSampler(spec.train_data)
        n_draw = n
    drop_last = n_draw > cfg.batch_size if cfg.drop_last is None else cfg.drop_last
    return DataLoader(spec.train_data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                      drop_last=drop_last, collate_fn=spec.collate)


def _optimizers(spec: FitSpec, stage: Stage) -> dict[str, torch.optim.Optimizer]:
    cfg = spec.config
    for p in spec.model.parameters():
        p.requires_grad_(False)
    out = {}
    for name, params in spec.task.optimizer_groups(spec.model, stage.train).items():
        params = list(params)
        if not params:
            raise ConfigError(f"stage {stage.name!r} trains no parameters in group {name!r}")
        for p in params:
            p.requires_grad_(True)
        if cfg.optimizer == "adam":
            out[name] = torch.optim.Adam(params, lr=stage.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            out[name] = torch.optim.AdamW(params, lr=stage.lr, weight_decay=cfg.weight_decay)
        else:
            out[name] = torch.optim.SGD(params, lr=stage.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return out


def _schedulers(cfg: EngineConfig, opts: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
    if cfg.scheduler == "none":
        return {}
    return {k: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=cfg.t0, T_mult=cfg.t_mult,
                                                                     eta_min=cfg.eta_min) for k, o in opts.items()}


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class _Run:
    """State of one fit call that survives an interruption (saved in last.pt)."""

    def __init__(self, spec: FitSpec):
        self.spec = spec
        cfg = spec.config
        self.out = Path(spec.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.last_path, self.best_path = self.out / "last.pt", self.out / "best.pt"
        self.gens = {"sampler": torch.Generator().manual_seed(cfg.seed),
                     "augment": torch.Generator().manual_seed(cfg.seed + 1)}
        self.stage_i = self.epoch_in_stage = self.global_epoch = self.since_best = 0
        self.best: dict[str, Any] | None = None
        self.best_ck: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.opt_state: dict | None = None
        self.sched_state: dict | None = None
        self.stopped_early = False

    def resume(self) -> None:
        """Continue from last.pt when it belongs to this run (same fingerprint)."""
        if not self.last_path.is_file():
            return
        ck = load_checkpoint(self.last_path)
        if ck.get("fingerprint") != self.spec.fingerprint:
            log.info("ignoring %s: it belongs to another configuration or data set", self.last_path)
            return
        self.spec.model.load_state_dict(ck["model"])
        self.stage_i, self.epoch_in_stage = int(ck["stage"]), int(ck["epoch_in_stage"])
        self.global_epoch, self.since_best = int(ck["global_epoch"]), int(ck["since_best"])
        self.best, self.history = ck["best"], list(ck["history"])
        self.opt_state, self.sched_state = ck["optimizers"], ck["schedulers"]
        self.best_ck, self.stopped_early = ck["best_ck"], bool(ck["stopped_early"])
        if self.best_ck is not None and not self.best_path.is_file():
            save_atomic(self.best_ck, self.best_path)
        set_rng_state(ck["rng"], self.gens)
        log.info("resuming from %s at stage %d epoch %d (global epoch %d)", self.last_path, self.stage_i,
                 self.epoch_in_stage, self.global_epoch)

    def save_last(self, opts: Mapping[str, Any] | None, scheds: Mapping[str, Any] | None) -> None:
        save_atomic({**self.spec.meta, "model": self.spec.model.state_dict(),
                     "optimizers": {k: o.state_dict() for k, o in opts.items()} if opts else None,
                     "schedulers": {k: s.state_dict() for k, s in scheds.items()} if scheds else None,
                     "stage": self.stage_i, "epoch_in_stage": self.epoch_in_stage, "global_epoch": self.global_epoch,
                     "since_best": self.since_best, "best": self.best, "best_ck": self.best_ck,
                     "history": self.history, "stopped_early": self.stopped_early, "rng": rng_state(self.gens),
                     "fingerprint": self.spec.fingerprint}, self.last_path)


def _eta(run: _Run, seconds: list[float]) -> str:
    stages = run.spec.config.stages
    left = sum(s.epochs for s in stages[run.stage_i:]) - run.epoch_in_stage
    if not seconds or left <= 0:
        return "0s"
    return f"{left * float(np.mean(seconds[-5:])):.0f}s"


def fit(spec: FitSpec) -> FitResult:
    """Train through the stages; `last.pt` after every epoch (exact resume), `best.pt` = the selected epoch."""
    cfg, model = spec.config, spec.model
    model.to(spec.device)
    run = _Run(spec)
    run.resume()
    loader = _loader(spec, run.gens["sampler"])
    writer = EpochWriter(spec.tensorboard_dir, run.history)
    seconds: list[float] = []
    try:
        while run.stage_i < len(cfg.stages):
            stage = cfg.stages[run.stage_i]
            opts = _optimizers(spec, stage)
            scheds = _schedulers(cfg, opts)
            if run.opt_state is not None:
                for k, o in opts.items():
                    o.load_state_dict(run.opt_state[k])
                for k, s in scheds.items():
                    s.load_state_dict(run.sched_state[k])
                run.opt_state = run.sched_state = None
            while run.epoch_in_stage < stage.epochs:
                if cfg.patience and run.since_best >= cfg.patience:
                    run.stopped_early = True
                    log.info("stage %s stopped early: %d epochs without a better %s", stage.name, cfg.patience,
                             cfg.monitor)
                    break
                t0 = time.time()
                rec = _train_epoch(spec, run, stage, loader, opts)
                for s in scheds.values():
                    s.step()
                _end_epoch(spec, run, rec)
                seconds.append(time.time() - t0)
                writer.write(rec)
                run.save_last(opts, scheds)
                log.info("epoch %d (%s %d/%d): %s; %.1fs, ETA %s", rec["epoch"], stage.name, run.epoch_in_stage,
                         stage.epochs, _fmt(rec), seconds[-1], _eta(run, seconds))
                if spec.on_epoch_end is not None:
                    spec.on_epoch_end(rec)
            _finish_stage(spec, run, stage)
            run.save_last(None, None)
    finally:
        writer.close()
    if run.best_ck is None:  # no epoch at all: the initial weights are the best
        run.best_ck = {**spec.meta, "model": _snapshot(model), "epoch": -1, "stage": "none"}
    save_atomic(run.best_ck, run.best_path)
    best_epoch = int(run.best_ck.get("epoch", -1))
    return FitResult(best_epoch, dict(run.best or {}), run.history, run.stopped_early)


def _fmt(rec: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in rec.items()
                     if isinstance(v, float) and k not in ("lr",))


def _train_epoch(spec: FitSpec, run: _Run, stage: Stage, loader: DataLoader,
                 opts: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
    task, model = spec.task, spec.model
    task.set_mode(model, stage.train)
    sums: dict[str, float] = {}
    n_seen = 0
    for batch in loader:
        batch = to_device(batch, spec.device)
        n = batch_len(batch)
        for k, v in task.step(model, batch, opts, run.gens["augment"], spec.config.grad_clip).items():
            sums[k] = sums.get(k, 0.0) + float(v) * n
        n_seen += n
    rec: dict[str, Any] = {"epoch": run.global_epoch, "stage": stage.name, "epoch_in_stage": run.epoch_in_stage,
                           "lr": float(next(iter(opts.values())).param_groups[0]["lr"])}
    rec.update({f"train_{k}": v / max(n_seen, 1) for k, v in sums.items()})
    task.end_of_epoch(model, spec.train_data, spec.device)
    if spec.val_data is not None and len(spec.val_data):
        rec.update(task.validate(model, spec.val_data, spec.device))
    elif "train_loss" in rec:
        rec.setdefault("val_loss", rec["train_loss"])
    return rec


def _end_epoch(spec: FitSpec, run: _Run, rec: dict[str, Any]) -> None:
    """Record the epoch and keep it as best.pt when it beats the best so far."""
    run.history.append(rec)
    if is_better(rec, run.best, spec.config):
        run.best = {k: v for k, v in rec.items() if isinstance(v, (int, float, str))}
        run.best_ck = {**spec.meta, "model": _snapshot(spec.model), **run.best}
        save_atomic(run.best_ck, run.best_path)
        run.since_best = 0
    else:
        run.since_best += 1
    run.epoch_in_stage += 1
    run.global_epoch += 1


def _finish_stage(spec: FitSpec, run: _Run, stage: Stage) -> None:
    if spec.config.stage_checkpoints:
        save_atomic({**spec.meta, "model": _snapshot(spec.model), "stage": stage.name, "history": run.history},
                    run.out / f"stage{run.stage_i + 1}_{stage.name}.pt")
    run.stage_i += 1
    run.epoch_in_stage = 0
    run.since_best = 0
