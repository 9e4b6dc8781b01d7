"""Which timestep modulates LTX-2's audio/video cross-attention: a set's `cross_timestep` (variants.toml).

Lightricks' reference (Lightricks/LTX-2, ltx_core model/transformer/transformer_args.py) changed the
rule twice, for every checkpoint at once (no config or version switch upstream):
- "own" (January 2026): each stream's own per-token timesteps for the AdaLN scale/shift and the gate;
  diffusers' `use_cross_timestep=False`.
- "other" (March 2026, ltx-core 1.0.0 on PyPI): the other stream's sigma for both; diffusers'
  `use_cross_timestep=True`.
- "own-scale-other-gate" (May 2026, ltx-core 1.1.4 and 1.2.0, the LTX-2.5 release): own per-token
  timesteps for scale/shift, the other stream's sigma for the gate; Lightricks fixed ComfyUI the same
  way days before ("each modality's scale/shift should be conditioned on its own timestep"). diffusers
  0.42.1 feeds scale/shift and gate from one tensor, so this mode is ours: scale/shift from own
  timesteps (`use_cross_timestep=False`) and the two gate AdaLN modules re-fed, through forward
  pre-hooks, with the other stream's sigma. No weights or module names change.
Upstream also gives a stream held whole sigma 0 under the May rule (ltx_pipelines utils/helpers.py,
modality_from_latent_state): `ZERO_HELD_SIGMA` says so per rule, for families/lock.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..variants import CROSS_TIMESTEP_RULES as RULES  # noqa: F401  (the names variants.toml takes)

ZERO_HELD_SIGMA = {"own": False, "other": False, "own-scale-other-gate": True}


def call_flag(rule: str) -> bool:
    """diffusers' `use_cross_timestep` for a rule (the May rule takes its scale/shift from own timesteps)."""
    return rule == "other"


@contextlib.contextmanager
def cross_timestep_rule(transformer, rule: str) -> Iterator[None]:
    """Inside the block, the transformer's cross-attention gates follow `rule` (only the May rule needs hooks)."""
    if rule != "own-scale-other-gate":
        yield
        return
    config = transformer.config
    factor = config.cross_attn_timestep_scale_multiplier / config.timestep_scale_multiplier
    sigmas: dict[str, torch.Tensor] = {}

    def remember(module, args, kwargs):
        timestep = kwargs["timestep"]
        audio_timestep = kwargs.get("audio_timestep")
        audio_timestep = timestep if audio_timestep is None else audio_timestep
        sigma, audio_sigma = kwargs.get("sigma"), kwargs.get("audio_sigma")
        batch = timestep.shape[0]
        if sigma is None:  # a call without stream sigmas: each stream's largest timestep is its step
            sigma = timestep.reshape(batch, -1).amax(1)
        if audio_sigma is None:
            audio_sigma = audio_timestep.reshape(audio_timestep.shape[0], -1).amax(1)
        sigmas["video"], sigmas["audio"] = sigma.flatten(), audio_sigma.flatten()
        return None

    def video_gate(module, args, kwargs):  # the audio-to-video gate: the audio stream's sigma
        return (sigmas["audio"].to(args[0]) * factor, *args[1:]), kwargs

    def audio_gate(module, args, kwargs):  # the video-to-audio gate: the video stream's sigma
        return (sigmas["video"].to(args[0]) * factor, *args[1:]), kwargs

    handles = [
        transformer.register_forward_pre_hook(remember, with_kwargs=True),
        transformer.av_cross_attn_video_a2v_gate.register_forward_pre_hook(video_gate, with_kwargs=True),
        transformer.av_cross_attn_audio_v2a_gate.register_forward_pre_hook(audio_gate, with_kwargs=True),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
