"""Lesion/calcification patch GAN (DCGAN with spectral norm), its engine task, sample grids and FID."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.utils.data import Dataset

from mammoflow.io import png
from mammoflow.training import engine


def lesion_patches(pairs: pd.DataFrame, size: int, lesion: bool = True) -> np.ndarray:
    """Centre crops (n, size, size) in [0, 1] of the HR pairs centred on a finding (lesion) or drawn at random."""
    rows = pairs[(pairs["kind"] == "lesion") & ((pairs["lesion_overlap"] > 0) | (pairs["n_specks"] > 0))] if lesion \
        else pairs[(pairs["kind"] == "random") & (pairs["lesion_overlap"] == 0) & (pairs["n_specks"] == 0)]
    out = []
    for p in rows["hr_path"]:
        hr = png.read(p, dtype=np.uint16)
        o = (hr.shape[0] - size) // 2
        out.append(hr[o:o + size, o:o + size].astype(np.float32) / 65535.0)
    return np.stack(out) if out else np.zeros((0, size, size), np.float32)


class Generator(nn.Module):
    """DCGAN generator: latent -> 4x4 -> transposed convs (BN, ReLU) -> tanh patch."""

    def __init__(self, latent: int, channels: int, size: int):
        super().__init__()
        c, n_up = channels, int(np.log2(size // 4))
        self.latent, self.c0 = latent, c * 2 ** (n_up - 1)
        self.fc = nn.Linear(latent, self.c0 * 16)
        mods: list[nn.Module] = [nn.BatchNorm2d(self.c0), nn.ReLU()]
        cin = self.c0
        for i in range(n_up):
            last = i == n_up - 1
            cout = 1 if last else cin // 2
            mods.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
            mods += [nn.Tanh()] if last else [nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.net = nn.Sequential(*mods)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Patches in [-1, 1] (N, 1, size, size)."""
        return self.net(self.fc(z).view(len(z), self.c0, 4, 4))


class Critic(nn.Module):
    """DCGAN discriminator with spectral normalisation on every layer."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        mods: list[nn.Module] = []
        cin, c = 1, channels
        for _ in range(int(np.log2(size // 4))):
            mods += [spectral_norm(nn.Conv2d(cin, c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            cin, c = c, c * 2
        self.net = nn.Sequential(*mods, nn.Flatten(), spectral_norm(nn.Linear(cin * 16, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logits (N,)."""
        return self.net(x).squeeze(1)


class PatchGan(nn.Module):
    """Generator and critic as one engine model (two optimisers)."""

    def __init__(self, latent: int, channels: int, size: int):
        super().__init__()
        self.g, self.d = Generator(latent, channels, size), Critic(channels, size)


class Patches(Dataset):
    """Real patches in [-1, 1] with a dummy label (the engine's batches)."""

    def __init__(self, x01: np.ndarray):
        self.x = torch.from_numpy(x01 * 2.0 - 1.0)[:, None]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], 0


class GanTask(engine.Task):
    """Non-saturating GAN loss: one critic step then one generator step per batch (random flips/rotations)."""

    def optimizer_groups(self, model: PatchGan, scope: str) -> dict[str, list[nn.Parameter]]:
        """Generator and critic optimisers."""
        return {"g": list(model.g.parameters()), "d": list(model.d.parameters())}

    def step(self, model: PatchGan, batch, optimizers, gen: torch.Generator, grad_clip: float) -> dict[str, float]:
        """Critic then generator update."""
        x, _ = batch
        x = torch.rot90(x, int(torch.randint(0, 4, (1,), generator=gen)), dims=(2, 3))
        z = torch.randn(len(x), model.g.latent, generator=gen).to(x.device)
        fake = model.g(z)
        od, og = optimizers["d"], optimizers["g"]
        od.zero_grad(set_to_none=True)
        loss_d = F.softplus(-model.d(x)).mean() + F.softplus(model.d(fake.detach())).mean()
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        loss_g = F.softplus(-model.d(fake)).mean()
        loss_g.backward()
        og.step()
        return {"loss": float(loss_g.detach()), "d": float(loss_d.detach())}


@torch.no_grad()
def sample(g: Generator, n: int, seed: int) -> np.ndarray:
    """n generated patches in [0, 1] (n, size, size), deterministic from the seed."""
    g.eval()
    z = torch.randn(n, g.latent, generator=torch.Generator().manual_seed(seed))
    return ((g(z)[:, 0] + 1.0) / 2.0).clamp(0, 1).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n, d): |mu_a - mu_b|^2 + Tr(Ca + Cb - 2 sqrt(Ca Cb))."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(ca @ cb, disp=False)
    covmean = np.real(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca + cb - 2.0 * covmean))


@torch.no_grad()
def embed(features: nn.Module, x01: np.ndarray, batch: int = 256) -> np.ndarray:
    """Pooled feature vectors of patches in [0, 1] (the in-domain feature network's embed())."""
    features.eval()
    out = [features.embed(torch.from_numpy(x01[i:i + batch].astype(np.float32))[:, None]).numpy()
           for i in range(0, len(x01), batch)]
    return np.concatenate(out).astype(np.float64)


def grid(x01: np.ndarray, cols: int = 8) -> np.ndarray:
    """A uint16 mosaic of patches (rows of `cols`, 2-px gaps)."""
    n, s = len(x01), x01.shape[1]
    rows = int(np.ceil(n / cols))
    out = np.zeros((rows * (s + 2), cols * (s + 2)), np.float32)
    for i, p in enumerate(x01):
        r, c = divmod(i, cols)
        out[r * (s + 2):r * (s + 2) + s, c * (s + 2):c * (s + 2) + s] = p
    return np.rint(out * 65535).astype(np.uint16)
