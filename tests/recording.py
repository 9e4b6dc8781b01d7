"""What the transformer was fed: every call's inputs, as its forward saw them, and the LoRAs live in it.

Why a forward hook (registered with `with_kwargs=True`) and not a pre-hook: the engine holds tokens
through a forward pre-hook (`models/families/lock.py`) that it registers at each denoise call, that
is after any recorder a test registers beforehand, and PyTorch runs pre-hooks in registration order
(`prepend=False`), so a recording pre-hook would see the inputs before the hold. In
`torch.nn.Module._call_impl` (torch 2.x) every pre-hook's returned `(args, kwargs)` replaces the
previous ones, `forward(*args, **kwargs)` runs on the last, and forward hooks registered with
`with_kwargs=True` are then called as `hook(module, args, kwargs, output)` with those same, final
`args` and `kwargs`. So a forward hook sees exactly what `forward` was fed, whenever it was registered
and whatever pre-hooks ran, and it sees the output too. (The held-token tests prove it: their recorder
is registered before the engine's hook, yet it sees the held tokens.)

The helpers below say what the LTX-2 denoising loop feeds for given latents (normalised with the
VAE's statistics, then packed: a latent frame's tokens are contiguous, frames the outer axis), so a
test can compare the recorded tokens with a source's own latents or with an encoding of its frames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch


@dataclass
class Call:
    """One transformer call: the inputs it was fed (after every pre-hook), per token, on the CPU."""

    variant: str  # the variant whose transformer ran
    hidden: torch.Tensor  # [B, N, C] video tokens: the clip's N_main, then any appended keyframe tokens
    timestep: torch.Tensor  # [B, N] each video token's timestep
    frames: int  # LTX-2's latent grid (F', H', W'): N_main = frames * height * width (LTX-Video gives none: 0)
    height: int
    width: int
    audio: torch.Tensor | None = None  # [B, L, C]
    audio_timestep: torch.Tensor | None = None  # [B, L]
    sigma: torch.Tensor | None = None  # LTX-2.3's per-sample sigma of each stream
    audio_sigma: torch.Tensor | None = None
    coords: torch.Tensor | None = None  # [B, 3, N, 2] each video token's (t, y, x) span (t in seconds)
    text: torch.Tensor | None = None  # [B, S, D] the prompt tokens (the negative's first under CFG)
    loras: dict[str, float] = field(default_factory=dict)  # adapters live in the transformer at call time

    @property
    def batch(self) -> int:
        return self.hidden.shape[0]

    @property
    def main_tokens(self) -> int:
        return self.frames * self.height * self.width

    @property
    def tokens_per_frame(self) -> int:
        return self.height * self.width

    def frame_tokens(self, frames) -> torch.Tensor:
        """Token indices of these latent frames of the clip (a bool mask over N_main)."""
        mask = torch.zeros(self.main_tokens, dtype=torch.bool)
        for frame in frames:
            mask[frame * self.tokens_per_frame : (frame + 1) * self.tokens_per_frame] = True
        return mask


def _per_token(timestep: torch.Tensor | None, batch: int, count: int) -> torch.Tensor | None:
    if timestep is None:
        return None
    timestep = timestep.detach().float().cpu().reshape(batch, -1)
    return timestep.expand(batch, count).clone() if timestep.shape[1] == 1 else timestep.clone()


def _cpu(value) -> torch.Tensor | None:
    return value.detach().float().cpu().clone() if torch.is_tensor(value) else None


def live_loras(module) -> dict[str, float]:
    """The LoRA adapters switched on in a module's peft layers right now, with their scale (weight x
    alpha / rank): what a forward through it would add. Layers switched off count for nothing."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    live: dict[str, float] = {}
    for layer in module.modules():
        if not isinstance(layer, BaseTunerLayer) or layer.disable_adapters:
            continue
        for name in layer.active_adapters:
            scale = getattr(layer, "scaling", {}).get(name)
            if scale:
                live[name] = float(scale)
    return live


@contextlib.contextmanager
def recording(studio, *variants: str) -> Iterator[list[Call]]:
    """Record every call of these variants' transformers (the pipelines the render uses: the
    manager's cached ones) while the block runs."""
    calls: list[Call] = []
    handles = []
    seen: set[int] = set()
    for variant in variants or (studio.model_set.default_variant,):
        transformer = studio.manager.get(variant).transformer
        if id(transformer) in seen:
            continue
        seen.add(id(transformer))

        def hook(module, args, kwargs, output, variant=variant):
            hidden = kwargs["hidden_states"]
            batch, count = hidden.shape[:2]
            audio = kwargs.get("audio_hidden_states")
            length = audio.shape[1] if audio is not None else 0
            calls.append(
                Call(
                    variant=variant,
                    hidden=_cpu(hidden),
                    timestep=_per_token(kwargs["timestep"], batch, count),
                    frames=int(kwargs.get("num_frames") or 0),
                    height=int(kwargs.get("height") or 0),
                    width=int(kwargs.get("width") or 0),
                    audio=_cpu(audio),
                    audio_timestep=_per_token(kwargs.get("audio_timestep"), batch, length) if length else None,
                    sigma=_cpu(kwargs.get("sigma")),
                    audio_sigma=_cpu(kwargs.get("audio_sigma")),
                    coords=_cpu(kwargs.get("video_coords")),
                    text=_cpu(kwargs.get("encoder_hidden_states")),
                    loras=live_loras(module),
                )
            )

        handles.append(transformer.register_forward_hook(hook, with_kwargs=True))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


# --- what the LTX-2 loop feeds for given latents ---------------------------------------------------


def fed_video(pipe, latents: torch.Tensor) -> torch.Tensor:
    """[1, N, C] tokens of video latents [1, C, F', H', W'] as diffusers returns them (denormalised)."""
    vae = pipe.vae
    latents = latents.float().to(pipe._execution_device)
    normal = pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    packed = pipe._pack_latents(normal, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size)
    return packed.cpu()


def fed_audio(pipe, latents: torch.Tensor) -> torch.Tensor:
    """[1, L, C] tokens of audio latents [1, C, L, M] as diffusers returns them (denormalised)."""
    packed = pipe._pack_audio_latents(latents.float().to(pipe._execution_device))
    vae = pipe.audio_vae
    return pipe._normalize_audio_latents(packed, vae.latents_mean, vae.latents_std).cpu()


@torch.no_grad()
def encoded(pipe, frames) -> torch.Tensor:
    """Video latents [1, C, F', H', W'] (denormalised, as a pass leaves them) of uint8 frames [F, H, W, 3]
    through the set's own VAE: pixels to [-1, 1], the posterior's mode."""
    frames = np.stack([np.asarray(f) for f in frames])
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    vae = pipe.vae
    return vae.encode(pixels.to(pipe._execution_device, vae.dtype)).latent_dist.mode().float().cpu()


def close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4)


@contextlib.contextmanager
def fails_when(switched_off: bool, match: str | None = None) -> Iterator[None]:
    """The assertions in the block hold; or, with the feature switched off, one fails (the one whose
    message matches `match`, when given): the proof that they see the feature."""
    if not switched_off:
        yield
        return
    with pytest.raises(AssertionError, match=match):
        yield
