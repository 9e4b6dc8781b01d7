"""Denoised estimates with each token's own sigma, as Lightricks' reference makes them (LTX-2).

diffusers' LTX-2 loop turns the transformer's velocity into a denoised estimate with the step's one
sigma for every token (`convert_velocity_to_x0`), although the transformer was called with a
timestep per token: a first frame, a keyframe or any held token (families/lock.py) sits at timestep
0. Lightricks' reference (ltx_core's denoisers: x0 = x - sigma_token * v, sigma_token = sigma times
the token's denoise mask) uses each token's own sigma, so a held token's estimate is the token itself.
The difference reaches every token through guidance rescale, whose std runs over the whole clip
(Pro with a first frame drifted rel 0.15 from the reference after 4 steps). This patch, in our code
and around one call, reads each call's per-token timesteps off the transformer's inputs and gives
the pipeline's x0 conversion those, per token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .lock import Packed


@contextlib.contextmanager
def per_token_sigmas(pipe, packed: Packed | None = None) -> Iterator[None]:
    """Inside the block, `pipe.convert_velocity_to_x0` uses each token's own sigma (video and audio), and
    a held token's estimate is its clean value (`packed`: the lock's tokens, lock.packed_ltx2): the loop's
    own copy of a held token is never denoised, so at sigma 0 it would stay the first noise, which guidance
    rescale's spread over the clip would then read (Lightricks' latent state holds them clean).

    Enter it after every hook that changes the transformer's timesteps (the lock's), so it reads
    the timesteps the transformer really gets."""
    factors: dict[str, torch.Tensor | None] = {"video": None, "audio": None}

    def record(module, args, kwargs):
        for stream, timestep, sigma in (("video", "timestep", "sigma"), ("audio", "audio_timestep", "audio_sigma")):
            factors[stream] = _factor(kwargs.get(timestep), kwargs.get(sigma))
        return None

    convert = pipe.convert_velocity_to_x0

    def velocity_to_x0(sample, denoised_output, step_idx, scheduler=None):
        scheduler = scheduler if scheduler is not None else pipe.scheduler
        factor = factors["video" if scheduler is pipe.scheduler else "audio"]  # the audio stream has its own copy
        if factor is None or sample.ndim != 3 or factor.shape[-1] != sample.shape[1]:
            return convert(sample, denoised_output, step_idx, scheduler)
        sigma = scheduler.sigmas[step_idx].to(sample.device, torch.float32)
        own = sigma * factor[: sample.shape[0], :, None].to(sample.device)
        x0 = sample - denoised_output * own.to(denoised_output.dtype)
        clean, keep = _held(packed, "video" if scheduler is pipe.scheduler else "audio")
        if clean is not None:  # the clip's tokens come first (keyframe tokens are appended after them)
            n = clean.shape[1]
            held = keep.to(x0.device)[None, :, None]
            x0 = torch.cat([torch.where(held, clean.to(x0), x0[:, :n]), x0[:, n:]], dim=1)
        return x0

    handle = pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    pipe.convert_velocity_to_x0 = velocity_to_x0
    try:
        yield
    finally:
        handle.remove()
        del pipe.convert_velocity_to_x0  # the class's own again


def _held(packed: Packed | None, stream: str):
    """(clean tokens, which are held) of a stream, or (None, None)."""
    if packed is None:
        return None, None
    return (packed.video, packed.video_keep) if stream == "video" else (packed.audio, packed.audio_keep)


def _factor(timestep: torch.Tensor | None, sigma: torch.Tensor | None) -> torch.Tensor | None:
    """Each token's timestep as a fraction of its stream's step ([B, N]; 1 = denoising as usual,
    0 = held clean), or None when the call gave one timestep for the whole stream."""
    if timestep is None or sigma is None or timestep.ndim < 2 or timestep.shape[-1] <= 1:
        return None
    batch = timestep.shape[0]
    step = sigma.reshape(batch, -1)[:, :1].float()
    tokens = timestep.reshape(batch, -1).float()
    ratio = tokens / step.clamp_min(1e-12)
    return torch.where(step > 0, ratio, (tokens > 0).float())  # a stream held whole may have sigma 0
