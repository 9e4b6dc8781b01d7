"""Live previews: the denoised estimate x0 of each step, mapped to RGB by a cheap linear map.

Decoding with the VAE every step would cost as much as the step itself. Instead a linear map from
the latent channels to RGB is fitted once per VAE (least squares between the latents of
VAE-encoded synthetic colour images and their pixels) and cached on disk. Per step the preview is
one small matmul over the middle latent frame.

On a GPU the estimate never makes a step wait: `StepPreviews` copies it to pinned host memory
without blocking and hands it on once the copy has landed (at a later step, or when the pass ends).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
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


class StepPreviews:
    """Hands each step's denoised estimate to `on_x0`, in order, without a device sync per step.

    A CPU tensor goes straight through (nothing to wait for). A CUDA tensor is copied to pinned host
    memory with `non_blocking=True` behind the step's work on its stream, and an event marks the copy;
    each later `push` hands on every copy whose event has completed (`query()` never blocks), and
    `flush()` at the end of the pass waits for the rest. So every step's preview still arrives, at
    most a few steps late, and the GPU never idles while the host waits for a preview.
    """

    def __init__(self, on_x0: Callable[[torch.Tensor], None]):
        self.on_x0 = on_x0
        self._pending: deque[tuple[torch.Tensor, torch.cuda.Event, torch.Tensor]] = deque()

    def push(self, x0: torch.Tensor) -> None:
        if x0.device.type != "cuda":
            self.on_x0(x0)
            return
        host = torch.empty(x0.shape, dtype=x0.dtype, pin_memory=True)
        host.copy_(x0, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record(torch.cuda.current_stream(x0.device))
        self._pending.append((host, copied, x0))  # x0 is kept alive until its copy has landed
        self._hand_on(wait=False)

    def flush(self) -> None:
        """Hand on every estimate still in flight (the pass has ended: waiting costs no step)."""
        self._hand_on(wait=True)

    def _hand_on(self, wait: bool) -> None:
        while self._pending and (wait or self._pending[0][1].query()):
            host, copied, _ = self._pending.popleft()
            copied.synchronize()
            self.on_x0(host)


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
