"""Live previews: the denoised estimate x0 of each step, mapped to RGB by a cheap linear map.

Decoding with the VAE every step would cost as much as the step itself. Instead a linear map from
the latent channels to RGB is fitted once per VAE (least squares between the latents of
VAE-encoded synthetic colour images and their pixels) and cached on disk. Per step the preview is
one small matmul over the middle latent frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import tiny

CALIBRATION_IMAGES = 48
CALIBRATION_GRID = 4  # colour cells per image side, one per latent cell
RIDGE = 1e-3


@dataclass
class LatentToRGB:
    """A linear map from latent channels to RGB in -1..1: rgb = latents @ weight + bias."""

    weight: torch.Tensor  # [C, 3]
    bias: torch.Tensor  # [3]

    def image(self, x0: torch.Tensor) -> np.ndarray:
        """uint8 RGB [h', w', 3] of a latent frame x0 [h', w', C].

        Kept at latent resolution (1/32 of the video): the browser scales it up smoothly for free,
        while resizing here would cost more than the map itself.
        """
        weight = self.weight.to(x0.device, x0.dtype)
        rgb = x0 @ weight + self.bias.to(x0.device, x0.dtype)
        return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def _synthetic_images(count: int, grid: int, cell: int, seed: int = 0) -> torch.Tensor:
    """Images [N, 3, grid*cell, grid*cell] in -1..1 made of solid colour cells (one per latent cell)."""
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(count, 3, grid, grid, generator=generator) * 2 - 1
    return colours.repeat_interleave(cell, dim=2).repeat_interleave(cell, dim=3), colours


def fit_latent_to_rgb(family, pipe, cell: int = 32) -> LatentToRGB:
    """Least-squares fit of the latent->RGB map for one pipeline's VAE (a few small encodes)."""
    images, colours = _synthetic_images(CALIBRATION_IMAGES, CALIBRATION_GRID, cell)
    latents = family.encode_images(pipe, images)[:, :, 0]  # [N, C, h, w]
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double().cpu()
    y = colours.permute(0, 2, 3, 1).reshape(-1, 3).double()
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    gram = x.T @ x + RIDGE * torch.eye(x.shape[1], dtype=x.dtype)
    solution = torch.linalg.solve(gram, x.T @ y)
    return LatentToRGB(solution[:-1].float(), solution[-1].float())


def calibration_for(family, pipe, key: str) -> LatentToRGB:
    """The cached latent->RGB map for the pipeline's VAE, identified by `key`; fitted and saved the first time."""
    digest = hashlib.sha256(f"{key}|tiny{tiny.TINY_VERSION}".encode()).hexdigest()[:16]
    path = tiny.cache_root() / "previews" / f"{digest}.npz"
    if path in _loaded:  # every render asks: read the file once per process
        return _loaded[path]
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            mapping = LatentToRGB(torch.from_numpy(data["weight"]), torch.from_numpy(data["bias"]))
    else:
        mapping = fit_latent_to_rgb(family, pipe)
        _save_npz(path, weight=mapping.weight.numpy(), bias=mapping.bias.numpy())
    _loaded[path] = mapping
    return mapping


_loaded: dict[Path, LatentToRGB] = {}


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
