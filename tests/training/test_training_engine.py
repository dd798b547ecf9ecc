"""The one training engine: learning, best/last selection, exact resume, early stopping, schedules, GAN steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from mammoflow.evaluation.metrics import roc_auc
from mammoflow.training import engine
from mammoflow.training.checkpoints import load_checkpoint


def _data(n: int, seed: int, shuffle_labels: bool = False) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    if shuffle_labels:
        y = y[torch.randperm(n, generator=g)]
    return TensorDataset(x, y)


class LinearTask(engine.Task):
    def parameters(self, model, scope):
        return list(model[1].parameters()) if scope == "head" else list(model.parameters())

    def loss(self, model, batch, gen):
        x, y = batch
        return F.cross_entropy(model(x + 0.01 * torch.randn(x.shape, generator=gen)), y)

    def validate(self, model, data, device):
        x, y = data.tensors
        with torch.no_grad():
            logits = model(x)
        p = torch.softmax(logits, 1)[:, 1]
        return {"val_loss": float(F.cross_entropy(logits, y)), "val_auc": roc_auc(y.numpy(), p.numpy())}


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))


STAGES = (engine.Stage("head", "head", 2, 0.05), engine.Stage("all", "all", 3, 0.02))


def _spec(tmp, model=None, cfg=None, **kw) -> engine.FitSpec:
    cfg = cfg or engine.EngineConfig(stages=STAGES, batch_size=16, seed=3)
    return engine.FitSpec(model or _model(), LinearTask(), _data(128, 0), _data(64, 1), cfg, tmp, {"kind": "test"},
                          "fp", **kw)


def test_learns_above_chance_and_shuffled_control(tmp_path):
    res = engine.fit(_spec(tmp_path / "a"))
    test = _data(256, 9)
    model = _model()
    model.load_state_dict(load_checkpoint(tmp_path / "a" / "best.pt")["model"])
    with torch.no_grad():
        p = torch.softmax(model(test.tensors[0]), 1)[:, 1].numpy()
    assert roc_auc(test.tensors[1].numpy(), p) > 0.9
    spec = _spec(tmp_path / "b")
    spec.train_data, spec.val_data = _data(128, 0, shuffle_labels=True), _data(64, 1, shuffle_labels=True)
    engine.fit(spec)
    model.load_state_dict(load_checkpoint(tmp_path / "b" / "best.pt")["model"])
    with torch.no_grad():
        p = torch.softmax(model(test.tensors[0]), 1)[:, 1].numpy()
    assert abs(roc_auc(test.tensors[1].numpy(), p) - 0.5) < 0.2
    assert [r["stage"] for r in res.history] == ["head"] * 2 + ["all"] * 3
    assert res.best_metrics["val_auc"] == max(r["val_auc"] for r in res.history)


def test_best_checkpoint_holds_meta_and_selected_epoch(tmp_path):
    res = engine.fit(_spec(tmp_path))
    ck = load_checkpoint(tmp_path / "best.pt")
    assert ck["kind"] == "test" and ck["epoch"] == res.best_epoch and "model" in ck
    assert ck["val_auc"] == res.best_metrics["val_auc"]


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    full = _model()
    engine.fit(_spec(tmp_path / "full", full))
    for n in (1, 3):  # killed mid-stage 1 and mid-stage 2, restarted each time
        seen = []

        def stop(rec, seen=seen, n=n):
            seen.append(rec)
            if len(seen) == n:
                raise engine.Interrupt("kill")
        with pytest.raises(engine.Interrupt):
            engine.fit(_spec(tmp_path / "resumed", _model(), on_epoch_end=stop))
    resumed = _model()
    res = engine.fit(_spec(tmp_path / "resumed", resumed))
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(res.history) == 5
    # another fingerprint starts afresh
    spec = _spec(tmp_path / "resumed", _model())
    spec.fingerprint = "other"
    assert len(engine.fit(spec).history) == 5


def test_zero_epoch_stage_and_stage_checkpoints(tmp_path):
    stages = (engine.Stage("a", "head", 0, 0.1), engine.Stage("b", "all", 1, 0.1))
    cfg = engine.EngineConfig(stages=stages, batch_size=16, stage_checkpoints=True, monitor=None)
    res = engine.fit(_spec(tmp_path, cfg=cfg))
    assert [r["stage"] for r in res.history] == ["b"]
    assert (tmp_path / "stage1_a.pt").is_file() and (tmp_path / "stage2_b.pt").is_file()


def test_early_stopping_ends_a_stage(tmp_path):
    class Flat(LinearTask):
        def validate(self, model, data, device):
            return {"val_auc": 0.5, "val_loss": 1.0}
    cfg = engine.EngineConfig(stages=(engine.Stage("all", "all", 10, 0.01),), batch_size=16, patience=2)
    spec = _spec(tmp_path, cfg=cfg)
    spec.task = Flat()
    res = engine.fit(spec)
    assert res.stopped_early and len(res.history) == 3 and res.best_epoch == 0


def test_cosine_schedule_and_adamw(tmp_path):
    cfg = engine.EngineConfig(stages=(engine.Stage("all", "all", 3, 0.1),), batch_size=16, optimizer="adamw",
                              scheduler="cosine_warm_restarts", t0=2, t_mult=1, eta_min=0.0)
    res = engine.fit(_spec(tmp_path, cfg=cfg))
    lrs = [r["lr"] for r in res.history]
    assert lrs[0] == pytest.approx(0.1) and lrs[1] < lrs[0] and lrs[2] == pytest.approx(0.1)


def test_two_optimiser_step(tmp_path):
    """A GAN-style task: two parameter groups, each with its own optimiser, updated in one step."""
    class TwoGroups(LinearTask):
        def optimizer_groups(self, model, scope):
            return {"d": list(model[0].parameters()), "g": list(model[1].parameters())}

        def step(self, model, batch, optimizers, gen, grad_clip):
            out = {}
            for name in ("d", "g"):
                optimizers[name].zero_grad()
                loss = self.loss(model, batch, gen)
                loss.backward()
                optimizers[name].step()
                out[f"{name}_loss"] = float(loss.detach())
            return out
    spec = _spec(tmp_path, cfg=engine.EngineConfig(stages=(engine.Stage("all", "all", 2, 0.01),), batch_size=16))
    spec.task = TwoGroups()
    before = [p.detach().clone() for p in spec.model.parameters()]
    res = engine.fit(spec)
    assert {"train_d_loss", "train_g_loss"} <= set(res.history[0])
    assert all(not torch.equal(a, b) for a, b in zip(before, spec.model.parameters()))


def test_weighted_sampler_needs_weights(tmp_path):
    cfg = engine.EngineConfig(stages=STAGES, sampler="weighted")
    with pytest.raises(Exception, match="sample_weights"):
        engine.fit(_spec(tmp_path, cfg=cfg))


def test_predict_in_order():
    data = _data(10, 0)
    out = engine.predict(_model(), data, lambda m, b: m(b[0])[:, 1], torch.device("cpu"), batch_size=3)
    assert out.shape == (10,)
