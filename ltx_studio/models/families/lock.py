"""Holding parts of a clip clean while the rest denoises: audio-to-video (the sound is given),
video-to-audio (the picture is given) and retake (everything outside a segment is given).

diffusers' LTX loops denoise every token of a stream from one timestep (the audio stream has no
conditioning mask at all), but the transformers take a timestep per token. So a forward pre-hook
on the transformer feeds the held tokens their clean latents at timestep 0 on every call (the
conditional, unconditional, STG and modality passes alike) while the others denoise as usual;
the loop's own copy of the held tokens is never read, and the family puts the clean latents back
into its output. Held tokens are whole latent frames (video) or latent steps (audio).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class Lock:
    """Clean latents (in the family's own convention, see `Latents`) and which latent frames to hold."""

    video: torch.Tensor | None = None  # [1, C, F', H', W']
    video_keep: torch.Tensor | None = None  # bool [F']
    audio: torch.Tensor | None = None  # [1, C, L, M] (LTX-2)
    audio_keep: torch.Tensor | None = None  # bool [L]

    @staticmethod
    def all_of(keep: torch.Tensor | None) -> bool:
        return keep is not None and bool(keep.all())

    def restore(self, video: torch.Tensor, audio: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A pass's output latents with the held frames put back to their clean values."""
        if self.video is not None:
            keep = self.video_keep.to(video.device)
            video = torch.where(keep[None, None, :, None, None], self.video.to(video), video)
        if self.audio is not None and audio is not None:
            keep = self.audio_keep.to(audio.device)
            audio = torch.where(keep[None, None, :, None], self.audio.to(audio), audio)
        return video, audio


@contextlib.contextmanager
def held(
    transformer,
    *,
    video: torch.Tensor | None,
    video_keep: torch.Tensor | None,
    audio: torch.Tensor | None = None,
    audio_keep: torch.Tensor | None = None,
    main_first: bool = True,
    zero_held_sigma: bool = False,
) -> Iterator[None]:
    """Hold tokens clean during every transformer call inside the block.

    `video` [1, N, D] and `audio` [1, L, D] are the packed clean tokens as the loop feeds them
    (normalised); `video_keep` [N] / `audio_keep` [L] say which to hold. The main video sequence
    comes first (LTX-2 appends keyframe tokens) or last (LTX-Video prepends them): `main_first`.
    A stream's own `sigma`/`audio_sigma` (LTX-2.3: the other stream's cross-modal modulation reads it)
    stays the step's value, as ltx-core 1.0.0 keeps it (ltx_pipelines utils/helpers.py:
    modality_from_latent_state, timesteps_from_mask), unless `zero_held_sigma`: upstream's May 2026 rule
    (cross_timestep.py) gives a stream held whole sigma 0.
    """

    def pre(module, args, kwargs):
        kwargs = dict(kwargs)
        if video is not None:
            hidden = kwargs["hidden_states"]
            batch, total = hidden.shape[:2]
            n = video.shape[1]
            start = 0 if main_first else total - n
            keep = video_keep.to(hidden.device)
            hidden = hidden.clone()
            part = hidden[:, start : start + n]
            hidden[:, start : start + n] = torch.where(keep[None, :, None], video.to(part), part)
            kwargs["hidden_states"] = hidden
            timestep = kwargs["timestep"].reshape(batch, -1)
            timestep = timestep.expand(batch, total).clone() if timestep.shape[1] == 1 else timestep.clone()
            window = timestep[:, start : start + n]
            timestep[:, start : start + n] = torch.where(keep[None, :], torch.zeros_like(window), window)
            kwargs["timestep"] = timestep
            if zero_held_sigma and bool(keep.all()) and kwargs.get("sigma") is not None:
                kwargs["sigma"] = torch.zeros_like(kwargs["sigma"])
        if audio is not None:
            hidden = kwargs["audio_hidden_states"]
            batch, length = hidden.shape[:2]
            keep = audio_keep.to(hidden.device)
            kwargs["audio_hidden_states"] = torch.where(keep[None, :, None], audio.to(hidden), hidden)
            timestep = kwargs["audio_timestep"].reshape(batch, -1)
            timestep = timestep.expand(batch, length) if timestep.shape[1] == 1 else timestep
            kwargs["audio_timestep"] = torch.where(keep[None, :], torch.zeros_like(timestep), timestep)
            if zero_held_sigma and bool(keep.all()) and kwargs.get("audio_sigma") is not None:
                kwargs["audio_sigma"] = torch.zeros_like(kwargs["audio_sigma"])
        return args, kwargs

    handle = transformer.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def frames_to_tokens(keep: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    """A per-latent-frame mask spread over that frame's tokens (frames are the outer token axis)."""
    return keep.repeat_interleave(tokens_per_frame)


def hold_ltxv(pipe, lock: Lock | None):
    """Hold a lock's latent frames clean in this pass (LTX-Video prepends condition tokens)."""
    if lock is None or lock.video is None:
        return contextlib.nullcontext()
    device = pipe._execution_device
    _, _, _, height, width = lock.video.shape
    packed = pipe._pack_latents(
        lock.video.to(device, torch.float32), pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
    )
    keep = frames_to_tokens(lock.video_keep, height * width)
    return held(pipe.transformer, video=packed, video_keep=keep, main_first=False)


@dataclass
class Packed:
    """A lock's clean tokens as the LTX-2 loop feeds them (normalised, packed) and which tokens to hold."""

    video: torch.Tensor | None = None  # [1, N, D]
    video_keep: torch.Tensor | None = None  # bool [N]
    audio: torch.Tensor | None = None  # [1, L, D]
    audio_keep: torch.Tensor | None = None  # bool [L]


def packed_ltx2(pipe, lock: Lock | None) -> Packed | None:
    """A lock's latents in the LTX-2 loop's terms (LTX-2 appends keyframe tokens after the clip's)."""
    if lock is None:
        return None
    device = pipe._execution_device
    packed = Packed()
    if lock.video is not None:
        vae = pipe.vae
        _, _, _, height, width = lock.video.shape
        normal = pipe._normalize_latents(
            lock.video.to(device, torch.float32), vae.latents_mean, vae.latents_std, vae.config.scaling_factor
        )
        packed.video = pipe._pack_latents(
            normal, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        )
        packed.video_keep = frames_to_tokens(lock.video_keep, height * width)
    if lock.audio is not None:
        tokens = pipe._pack_audio_latents(lock.audio.to(device, torch.float32))
        packed.audio = pipe._normalize_audio_latents(tokens, pipe.audio_vae.latents_mean, pipe.audio_vae.latents_std)
        packed.audio_keep = lock.audio_keep
    return packed


def hold_ltx2(pipe, packed: Packed | None, zero_held_sigma: bool = False):
    """Hold a lock's tokens (`packed_ltx2`) clean in this pass."""
    if packed is None:
        return contextlib.nullcontext()
    return held(
        pipe.transformer, video=packed.video, video_keep=packed.video_keep, audio=packed.audio,
        audio_keep=packed.audio_keep, zero_held_sigma=zero_held_sigma,
    )  # fmt: skip
