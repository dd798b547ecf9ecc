"""ACA-ResUNet: shapes, strict state-dict round trip, every decoder parameter trained, pretrained handling."""

from __future__ import annotations

import pytest
import torch

from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.cascade.model import ACAResUNet, build_model, decoder_modules


@pytest.mark.parametrize("name,classes", [("aca_resunet", 4), ("aca_resunet", 1), ("unet", 4)])
def test_output_shape(name, classes):
    torch.manual_seed(0)
    m = build_model(name, classes).eval()
    for h, w in ((64, 64), (96, 64)):
        assert m(torch.rand(2, 1, h, w)).shape == (2, classes, h, w)


def test_decoder_built_eagerly_and_strict_round_trip(tmp_path):
    torch.manual_seed(0)
    m = build_model("aca_resunet", 4)
    keys = set(m.state_dict())
    assert any(k.startswith("decoder.0.aca.ca") for k in keys) and any(k.startswith("aspp.branches.3") for k in keys)
    assert [b.dilation[0] for b in m.aspp.branches] == [1, 6, 12, 18]
    torch.save(m.state_dict(), tmp_path / "w.pt")
    fresh = ACAResUNet(4)
    fresh.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True), strict=True)
    x = torch.rand(1, 1, 64, 64)
    m.eval(), fresh.eval()
    assert torch.equal(m(x), fresh(x))


def test_every_decoder_parameter_changes_after_one_step():
    torch.manual_seed(0)
    m = build_model("aca_resunet", 4)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    params = [(n, p) for mod in decoder_modules(m) for n, p in mod.named_parameters()]
    before = [p.detach().clone() for _, p in params]
    x, y = torch.rand(2, 1, 64, 64), torch.randint(0, 4, (2, 64, 64))
    torch.nn.functional.cross_entropy(m(x), y).backward()
    opt.step()
    unchanged = [n for (n, p), b in zip(params, before) if torch.equal(p.detach(), b)]
    assert len(params) > 50 and not unchanged


def test_pretrained_path_and_missing_imagenet(tmp_path, monkeypatch):
    torch.manual_seed(1)
    src = build_model("aca_resunet", 4)
    torch.save({"model": src.state_dict()}, tmp_path / "ck.pt")
    m = build_model("aca_resunet", 4, pretrained=str(tmp_path / "ck.pt"))
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), src.state_dict().values()))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "nohub"))
    with pytest.raises(ConfigError, match="local torch hub cache"):
        build_model("aca_resunet", 4, pretrained="imagenet")
    with pytest.raises(ConfigError, match="not one of"):
        build_model("deeplab", 4)
