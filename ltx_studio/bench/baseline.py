"""The bare diffusers calls the studio is measured against, built from the studio's own plan.

- `bare_draft`: what a person writes with diffusers' public API to do the studio's work: encode the
  prompt (`pipe.encode_prompt`), one `pipe(...)` call with the plan's arguments and
  `output_type="latent"`, then the same decode to uint8 frames (and sound) the studio uses.
- `plain_draft`: diffusers as its docs call it: `pipe(prompt=..., output_type="np")` and the docs'
  writer (`export_to_video`; for LTX-2, `encode_video` with the soundtrack).

`recorded_calls` observes the arguments every `pipe(...)` call receives (defaults included) without
touching the pipeline, so the bench can check that the studio and the bare call ask for the same work.
Only one-stage plans without a first frame have a bare twin here.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ..models.families.base import Decoded, Latents
    from ..render.plan import RenderPlan

# Arguments allowed to differ, and why: everything else must be equal for the comparison to stand.
GPU_TOLERANCE = 1e-3  # relative L2: what run-to-run kernel choices may leave on a GPU (0 is asked on the CPU)
NOT_COMPARED = {
    "callback_on_step_end": "the studio's progress/cancel hook: its cost is part of the studio's overhead",
}


def check_plan(plan: RenderPlan) -> None:
    """Refuse plans the bare baselines cannot mirror (two stages, a first frame)."""
    from ..core.errors import BadInput

    if plan.variant.sampling.two_stage or plan.image is not None:
        raise BadInput(
            f"the bare-diffusers baselines need a one-stage variant without a first frame; {plan.variant.name!r} "
            "is two-stage (pick a one-stage variant with --variant)"
        )


def max_sequence_length(family: str, pipe) -> int:
    """The prompt length the studio encodes to (T5: 256; Gemma: 1024, or the tokenizer's limit if lower)."""
    from ..models.families.ltx2 import LTX2Family
    from ..models.families.ltxv import MAX_SEQUENCE_LENGTH

    return MAX_SEQUENCE_LENGTH if family == "ltxv" else LTX2Family.max_sequence_length(pipe)


def encode(plan: RenderPlan, family: str, pipe) -> tuple:
    """`pipe.encode_prompt` for the plan: (embeds, mask, negative embeds, negative mask)."""
    use_cfg = plan.guidance > 1.0
    return pipe.encode_prompt(
        prompt=plan.prompt,
        negative_prompt=plan.negative_prompt if use_cfg else None,
        do_classifier_free_guidance=use_cfg,
        max_sequence_length=max_sequence_length(family, pipe),
        device=pipe._execution_device,
    )


def call_arguments(plan: RenderPlan, family: str, pipe, generator: torch.Generator) -> dict[str, Any]:
    """The plan's arguments for one `pipe(...)` draft, without the prompt (text or embeddings) and output type."""
    sampling = plan.variant.sampling
    use_cfg = plan.guidance > 1.0
    arguments = dict(
        width=plan.width,
        height=plan.height,
        num_frames=plan.frames,
        frame_rate=plan.fps,
        guidance_scale=plan.guidance,
        guidance_rescale=sampling.guidance_rescale if use_cfg else 0.0,
        generator=generator,
        max_sequence_length=max_sequence_length(family, pipe),
    )
    if family == "ltxv":
        timesteps = list(sampling.timesteps) if sampling.timesteps and plan.steps is None else None
        return arguments | dict(
            num_inference_steps=plan.num_steps,
            timesteps=timesteps,
            image_cond_noise_scale=sampling.image_cond_noise_scale,
        )
    from ..models.families.cross_timestep import call_flag

    sigmas = list(sampling.sigmas) if sampling.sigmas and plan.steps is None else None
    return arguments | dict(
        num_inference_steps=len(sigmas) if sigmas else plan.num_steps,
        sigmas=sigmas,
        # LTX-2's defaults are Pro's guidance (CFG 3, STG 1, audio CFG 7): a distilled draft states every value.
        stg_scale=sampling.stg_scale,
        modality_scale=sampling.modality_scale,
        audio_guidance_scale=sampling.audio_guidance if use_cfg else 1.0,
        audio_stg_scale=sampling.audio_stg_scale,
        audio_modality_scale=sampling.audio_modality_scale,
        audio_guidance_rescale=sampling.audio_guidance_rescale if use_cfg else 0.0,
        spatio_temporal_guidance_blocks=list(sampling.stg_blocks) or None,
        # The set's cross-attention rule: diffusers' flag here, and upstream's May 2026 rule's gate hooks
        # around the call (`rule_of`): part of the work, as in the studio's call.
        use_cross_timestep=call_flag(plan.cross_timestep),
        return_dict=False,
    )


@contextlib.contextmanager
def as_given_sigmas(pipe, family: str, plan: RenderPlan) -> Iterator[None]:
    """Distilled sigma lists used as given, the way diffusers' LTX-2 docs do it: a scheduler copy without
    dynamic shifting for the call (the studio does the same), the shared one put back after."""
    scheduler = pipe.scheduler
    shifted = scheduler.config.get("use_dynamic_shifting")
    if family == "ltxv" or not shifted or not plan.variant.sampling.sigmas or plan.steps is not None:
        yield
        return
    pipe.scheduler = type(scheduler).from_config(
        scheduler.config, use_dynamic_shifting=False, shift=1.0, shift_terminal=None
    )
    try:
        yield
    finally:
        pipe.scheduler = scheduler


def rule_of(plan: RenderPlan, family: str, pipe):
    """The set's audio/video cross-attention rule around an LTX-2 call (families/cross_timestep.py)."""
    from ..models.families.cross_timestep import cross_timestep_rule

    return contextlib.nullcontext() if family == "ltxv" else cross_timestep_rule(pipe.transformer, plan.cross_timestep)


@torch.no_grad()
def bare_latents(plan: RenderPlan, family, pipe, generator: torch.Generator) -> Latents:
    """`pipe.encode_prompt`, then one `pipe(...)` with the plan's arguments and `output_type="latent"`."""
    from ..models.families.base import Latents

    name = family.name
    embeds, mask, negative, negative_mask = encode(plan, name, pipe)
    with as_given_sigmas(pipe, name, plan), rule_of(plan, name, pipe):
        result = pipe(
            prompt_embeds=embeds,
            prompt_attention_mask=mask,
            negative_prompt_embeds=negative,
            negative_prompt_attention_mask=negative_mask,
            output_type="latent",
            **call_arguments(plan, name, pipe, generator),
        )
    return Latents(result.frames) if name == "ltxv" else Latents(result[0], result[1] if plan.audio else None)


def bare_draft(plan: RenderPlan, family, pipe) -> Decoded:
    """The studio's draft as bare diffusers calls (`bare_latents`), then the studio's own uint8 decode."""
    generator = torch.Generator("cpu").manual_seed(plan.seed)
    latents = bare_latents(plan, family, pipe, generator)
    return family.decode(pipe, latents, plan.variant.sampling, generator, audio=plan.audio)


@torch.no_grad()
def plain_draft(plan: RenderPlan, family, pipe, path: Path) -> None:
    """diffusers as its docs call it: `pipe(prompt=..., output_type="np")`, then the docs' mp4 writer."""
    from diffusers.utils import encode_video, export_to_video

    name = family.name
    generator = torch.Generator("cpu").manual_seed(plan.seed)
    arguments = call_arguments(plan, name, pipe, generator)
    negative = plan.negative_prompt if plan.guidance > 1.0 else None
    sampling = plan.variant.sampling
    with as_given_sigmas(pipe, name, plan), rule_of(plan, name, pipe):
        if name == "ltxv":
            frames = pipe(
                prompt=plan.prompt,
                negative_prompt=negative,
                decode_timestep=sampling.decode_timestep,
                decode_noise_scale=sampling.decode_noise_scale,
                output_type="np",
                **arguments,
            ).frames[0]
            export_to_video(list(frames), str(path), fps=plan.fps)
            return
        video, audio = pipe(prompt=plan.prompt, negative_prompt=negative, output_type="np", **arguments)
    sound = dict(audio=audio[0].float().cpu(), audio_sample_rate=pipe.vocoder.config.output_sampling_rate)
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar would print over the bench's table
        encode_video(video[0], fps=plan.fps, output_path=str(path), **(sound if plan.audio else {}))


# --- are the two calls the same work? --------------------------------------------------------------


@contextlib.contextmanager
def recorded_calls(pipe) -> Iterator[list[dict[str, Any]]]:
    """The arguments (defaults included) of every `pipe(...)` call made inside the block, as the call saw them.

    A profiler hook reads the call's frame as it starts: the pipeline itself is not wrapped or changed.
    """
    code = inspect.unwrap(type(pipe).__call__).__code__
    calls: list[dict[str, Any]] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is code:
            calls.append({k: _snapshot(v) for k, v in frame.f_locals.items() if k not in ("self", "__class__")})

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)


def _snapshot(value):
    if isinstance(value, torch.Generator):
        return ("generator state", value.get_state().clone())
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, list | tuple):
        return type(value)(_snapshot(v) for v in value)
    return value


def same(a, b) -> bool:
    """Equal values; tensors (and generator states) element for element (on a GPU, whose kernels need not
    repeat bit for bit, within GPU_TOLERANCE)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or (a.shape, a.dtype) != (
            b.shape,
            b.dtype,
        ):
            return False
        if a.device.type == "cpu" or not a.is_floating_point():
            return torch.equal(a, b)
        return relative_difference(a, b) <= GPU_TOLERANCE
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| over all elements (0 when equal)."""
    a, b = a.float(), b.float()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def differences(studio: dict[str, Any], bare: dict[str, Any]) -> list[str]:
    """The arguments whose values differ between two recorded calls (NOT_COMPARED left out)."""
    keys = sorted((set(studio) | set(bare)) - set(NOT_COMPARED))
    return [k for k in keys if k not in studio or k not in bare or not same(studio[k], bare[k])]
