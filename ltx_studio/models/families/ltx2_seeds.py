"""The LTX-2 family's side of seeds in one call (render/seeds.py): the prompt repeated per seed, the call's
items decoded together, and diffusers' misleading warning about a list of generators kept out of the log."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ..variants import Sampling
from .base import Decoded, DenoiseJob, Latents
from .ltxv import decode_frames_batch


class _GeneratorPerSeed(logging.Filter):
    """diffusers' LTX-2 pipelines warn that a list of generators is not supported and "the first will be used
    for all", yet they draw each seed's noise from its own (randn_tensor takes the list; tests/test_seeds.py:
    every seed's latents equal its single render's); only a condition's encode takes the first, and a seeds
    call has no conditions. The warning would mislead whoever reads the log, so it is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "does not support using a list of generators" not in record.getMessage()


for _module in ("pipeline_ltx2_condition", "pipeline_ltx2_ic_lora"):
    logging.getLogger(f"diffusers.pipelines.ltx2.{_module}").addFilter(_GeneratorPerSeed())


def seeds_basics(job: DenoiseJob) -> dict:
    """The call's basics; with a generator per seed (render/seeds.py), the prompt once per seed (a batch)."""
    basics = job.call_basics()
    count = len(job.generator) if isinstance(job.generator, list) else 1
    for key in ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask"):
        if count > 1 and basics[key] is not None:
            basics[key] = basics[key].repeat(count, *([1] * (basics[key].dim() - 1)))
    return basics


@torch.no_grad()
def decode_seeds(
    pipe, latents: Latents, sampling: Sampling, generators: list, audio: bool, decode_one: Callable[..., Decoded]
) -> list[Decoded]:
    """The family's `decode` of seeds denoised in one call, item i with `generators[i]`: the picture and the
    sound each in one call over the batch (on the CPU a VAE call of two costs about what one of one does).
    A diffusion decoder decodes item by item (`decode_one`), as its single renders do."""
    if sampling.decoder == "diffusion":
        return [decode_one(pipe, latents.item(i), sampling, g, audio) for i, g in enumerate(generators)]
    frames = decode_frames_batch(pipe, latents.video, sampling, generators, normalised=False)
    if not audio or latents.audio is None:
        return [Decoded(clip) for clip in frames]
    audio_vae = pipe.audio_vae
    mel = audio_vae.decode(latents.audio.to(pipe._execution_device, audio_vae.dtype), return_dict=False)[0]
    waves = pipe.vocoder(mel.to(pipe.vocoder.dtype)).float().clamp(-1, 1).cpu().numpy()
    rate = int(pipe.vocoder.config.output_sampling_rate)
    return [Decoded(clip, wave, rate) for clip, wave in zip(frames, waves, strict=True)]
