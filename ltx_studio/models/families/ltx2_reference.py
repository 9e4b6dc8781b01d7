"""Where an LTX-2 pass follows Lightricks' reference rather than diffusers' defaults, before the call:
the sigma schedule a pass runs (distilled lists as given, the rest as `LTX2Scheduler` makes them) and
STG's perturbed attention wired into every transformer. The family's `denoise` uses them."""

from __future__ import annotations

import contextlib
import math

import torch

from ..variants import Sampling
from .base import DenoiseJob


def perturbable(transformer):
    """The transformer with STG's perturbed self-attention wired in, whatever its config says.

    diffusers runs a Pro step's STG pass through a perturbed attention processor only when the
    transformer's config says `perturbed_attn: true` (default false, and what copies of its converter
    write for LTX-2.0); otherwise the pass runs unperturbed and its guidance is thrown away. Lightricks'
    reference always perturbs the chosen blocks (ltx_core guidance: skip the block's self-attention),
    so every LTX-2 transformer gets the processor that can (no weights change; with no perturbation
    mask it computes exactly what the plain one does)."""
    from diffusers.models.transformers.transformer_ltx2 import LTX2PerturbedAttnProcessor

    if getattr(transformer.config, "perturbed_attn", True):
        return transformer
    for block in transformer.transformer_blocks:
        block.perturbed_attn = True
        for name in ("attn1", "audio_attn1", "attn2", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn"):
            getattr(block, name).set_processor(LTX2PerturbedAttnProcessor())
    transformer.register_to_config(perturbed_attn=True)
    return transformer


def schedule(sampling: Sampling, job: DenoiseJob) -> tuple[list[float] | None, int]:
    """(sigmas or None, steps) of this pass: the variant's sigma list unless steps were overridden."""
    if job.refine:
        if sampling.refine_sigmas:
            return list(sampling.refine_sigmas), len(sampling.refine_sigmas)
        return None, sampling.refine_steps or 10
    if sampling.sigmas and job.steps is None:
        return list(sampling.sigmas), len(sampling.sigmas)
    steps = job.steps or sampling.num_steps
    return reference_sigmas(steps), steps


def reference_sigmas(steps: int) -> list[float]:
    """The sigmas of a `steps`-step LTX-2 pass as Lightricks' pipelines make them: `LTX2Scheduler().execute(steps)`
    without a latent, so the shift is the one for 4096 tokens at every size (ltx_core components/schedulers.py),
    stretched to end at 0.1; diffusers' scheduler would shift by the clip's own token count instead.
    Computed as the reference does (float32 torch), without the final 0 (diffusers' scheduler appends it)."""
    base_shift, max_shift, base_tokens, max_tokens, terminal = 0.95, 2.05, 1024, 4096, 0.1
    slope = (max_shift - base_shift) / (max_tokens - base_tokens)
    shift = max_tokens * slope + (base_shift - slope * base_tokens)
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    sigmas = torch.where(sigmas != 0, math.exp(shift) / (math.exp(shift) + (1 / sigmas - 1)), 0)
    nonzero = sigmas != 0
    one_minus = 1.0 - sigmas[nonzero]
    sigmas[nonzero] = 1.0 - one_minus / (one_minus[-1] / (1.0 - terminal))
    return sigmas.to(torch.float32)[:-1].tolist()


@contextlib.contextmanager
def plain_schedule(pipe, plain: bool):
    """Distilled sigma lists are used as given: the shipped scheduler's resolution-dependent shift
    would bend them, so the call gets an unshifted copy (the shared scheduler is left as it is)."""
    if not plain or not pipe.scheduler.config.get("use_dynamic_shifting"):
        yield
        return
    shared = pipe.scheduler
    pipe.scheduler = type(shared).from_config(shared.config, use_dynamic_shifting=False, shift=1.0, shift_terminal=None)
    try:
        yield
    finally:
        pipe.scheduler = shared
