"""BatchNorm recalibration after an epoch: exact training-set statistics, and the transfer task uses it."""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from mammoflow.training.classify import SoftmaxClassification, recalibrate_batchnorm


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def test_running_statistics_become_the_training_set_averages():
    m = _model()
    x = torch.randn(32, 1, 8, 8) * 3 + 5
    data = TensorDataset(x, torch.zeros(32, dtype=torch.long))
    recalibrate_batchnorm(m, data, lambda t: t, torch.device("cpu"), batch_size=8)
    feats = m[0](x)
    bn = m[1]
    assert torch.allclose(bn.running_mean, feats.mean((0, 2, 3)), atol=1e-4)
    assert bn.momentum == 0.1 and m.training  # momentum and mode restored


def test_stale_statistics_collapse_and_recalibration_restores_input_dependence():
    m = _model()
    m[1].running_mean.fill_(50.0)
    m[1].running_var.fill_(1e6)  # moving averages far from the weights' statistics
    x = torch.randn(16, 1, 8, 8)
    m.eval()
    with torch.no_grad():
        before = m(x)[:, 1].std()
    task = SoftmaxClassification(lambda mm, s: list(mm.parameters()), lambda t, g: t, lambda t: t,
                                 recalibrate_bn=True)
    task.end_of_epoch(m, TensorDataset(x, torch.zeros(16, dtype=torch.long)), torch.device("cpu"))
    m.eval()
    with torch.no_grad():
        after = m(x)[:, 1].std()
    assert after > 20 * before
    off = SoftmaxClassification(lambda mm, s: list(mm.parameters()), lambda t, g: t, lambda t: t)
    stats = m[1].running_var.clone()
    off.end_of_epoch(m, TensorDataset(x * 10, torch.zeros(16, dtype=torch.long)), torch.device("cpu"))
    assert torch.equal(stats, m[1].running_var)  # off by default: nothing changes
