"""LTX-Video 0.9.x adapter: the only module that knows the diffusers LTX call signatures.

Text-to-video and image-to-video both go through `LTXConditionPipeline`. A render is split into
the stages the studio times and caches separately: encode the prompt, denoise to latents (kept for
upscaling), decode. Upscale = `LTXLatentUpsamplePipeline` (x2 in latent space) + a short refine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from ...library import media
from ..preview import StepPreviews
from ..variants import Sampling
from .base import Decoded, DenoiseJob, Latents, PromptEmbeds
from .lock import hold_ltxv

# "mu must be passed when use_dynamic_shifting is True": custom timesteps need a plain schedule.
# Also no shift or sigma reshaping: the sigmas must equal timestep / 1000, which the preview relies on.
SCHEDULER_OVERRIDES = {
    "use_dynamic_shifting": False,
    "shift_terminal": None,
    "shift": 1.0,
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
}
MAX_SEQUENCE_LENGTH = 256


class LTXVFamily:
    """Loads LTX-Video components and runs the stages of a render with diffusers."""

    name = "ltxv"
    shared = ("text_encoder", "tokenizer", "vae", "scheduler")
    has_audio = False

    # --- loading -------------------------------------------------------------------------------

    def component_class(self, kind: str):
        from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel
        from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
        from transformers import AutoTokenizer, T5EncoderModel

        return {
            "text_encoder": T5EncoderModel,
            "tokenizer": AutoTokenizer,
            "vae": AutoencoderKLLTXVideo,
            "scheduler": FlowMatchEulerDiscreteScheduler,
            "transformer": LTXVideoTransformer3DModel,
            "upsampler": LTXLatentUpsamplerModel,
        }[kind]

    def load_component(
        self, kind: str, location: str, subfolder: str | None, file: str | None, config: str | None, dtype
    ):
        """Load one component from a local folder or a Hub id already in the HF cache.

        Never downloads (`local_files_only=True`): fetching 40 GB is an explicit
        `models download` step. Raises OSError (or a subclass) when files are missing.
        """
        cls = self.component_class(kind)
        common = {"local_files_only": True}
        if kind == "tokenizer":
            return cls.from_pretrained(location, subfolder=subfolder or "", **common)
        if kind == "scheduler":
            scheduler = cls.from_pretrained(location, subfolder=subfolder, **common)
            return cls.from_config(scheduler.config, **SCHEDULER_OVERRIDES)
        if file:
            return self._load_single_file(cls, location, file, config, dtype)
        return cls.from_pretrained(location, subfolder=subfolder, dtype=dtype, use_safetensors=True, **common)

    def _load_single_file(self, cls, location: str, file: str, config: str | None, dtype):
        from .. import tiny

        path = Path(location) / file
        if not path.exists():
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(location, file, local_files_only=True))
        kwargs = {}
        if config in tiny.TRANSFORMER_PRESETS:
            # Ship the architecture instead of fetching a config repo: no network at load time.
            kwargs["config"] = str(tiny.transformer_config_folder(config))
        return cls.from_single_file(str(path), dtype=dtype, local_files_only=True, **kwargs)

    def assemble(self, components: dict, transformer):
        """A condition pipeline over shared components and one variant's transformer (no copies)."""
        from diffusers import LTXConditionPipeline

        pipe = LTXConditionPipeline(transformer=transformer, **{k: components[k] for k in self.shared})
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def assemble_upsampler(self, components: dict, upsampler):
        from diffusers import LTXLatentUpsamplePipeline

        pipe = LTXLatentUpsamplePipeline(vae=components["vae"], latent_upsampler=upsampler)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # --- the stages of a render ----------------------------------------------------------------

    @torch.no_grad()
    def encode_prompt(self, pipe, prompt: str, negative_prompt: str, guidance: float) -> PromptEmbeds:
        use_cfg = guidance > 1.0
        embeds, mask, negative, negative_mask = pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt if use_cfg else None,
            do_classifier_free_guidance=use_cfg,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
            device=pipe._execution_device,
        )
        return PromptEmbeds(embeds, mask, negative if use_cfg else None, negative_mask if use_cfg else None)

    @staticmethod
    def keyframe_index(frame: int, frames: int) -> tuple[int, int]:
        """(pixel frame index, pixel frame) of a keyframe asked at `frame`: LTXConditionPipeline places
        conditions on whole latent frames, so the frame snaps to a multiple of 8."""
        last = ((frames - 1) // 8) * 8
        snapped = min(round(frame / 8) * 8, last)
        return snapped, snapped

    @torch.no_grad()
    def denoise(self, pipe, job: DenoiseJob) -> Latents:
        """Run the denoising loop; the video latents are unpacked and normalised [1, C, F', H', W']."""
        sampling = job.sampling
        if job.refine:
            timesteps, steps, strength, _ = sampling.refine_schedule()
        else:
            timesteps = list(sampling.timesteps) if sampling.timesteps and job.steps is None else None
            steps = job.steps or sampling.num_steps
            strength = 1.0

        def callback(pipeline, step, timestep, kwargs):
            if job.on_step is not None and job.on_step(step + 1, pipeline._num_timesteps):
                pipeline._interrupt = True
            return kwargs

        image = job.image
        if image is not None and sampling.image_crf:
            # LTX-Video was trained on video: a first frame looks like one after an H.264 round trip.
            image = media.h264_roundtrip(image, sampling.image_crf)
        conditions = None
        if job.conditions:  # keyframes and video: the call takes either `conditions` or `image`
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            conditions = [LTXVideoCondition(image=image, frame_index=0)] if image is not None else []
            for c in job.conditions:
                many = isinstance(c.frames, list)
                frames = (
                    c.frames
                    if many
                    else media.h264_roundtrip(c.frames, sampling.image_crf)
                    if sampling.image_crf
                    else c.frames
                )
                conditions.append(
                    LTXVideoCondition(
                        image=None if many else frames,
                        video=frames if many else None,
                        frame_index=c.index,
                        strength=c.strength,
                    )
                )
            image = None
        with hold_ltxv(pipe, job.lock):
            result = pipe(
                conditions=conditions,
                image=image,
                **job.call_basics(),
                num_inference_steps=steps,
                timesteps=timesteps,
                guidance_scale=job.guidance,
                guidance_rescale=sampling.guidance_rescale if job.guidance > 1.0 else 0.0,
                image_cond_noise_scale=sampling.image_cond_noise_scale,
                denoise_strength=strength,
                latents=job.latents.video if job.latents is not None else None,
                generator=job.generator,
                output_type="latent",
                callback_on_step_end=callback,
                max_sequence_length=MAX_SEQUENCE_LENGTH,
            )
        video = result.frames
        if job.lock is not None:
            video, _ = job.lock.restore(video, None)
        return Latents(video)

    @torch.no_grad()
    def decode(
        self, pipe, latents: Latents, sampling: Sampling, generator: torch.Generator, audio: bool = False
    ) -> Decoded:
        """Decode normalised latents to uint8 frames [F, H, W, 3] (what the pipeline does after its loop)."""
        return Decoded(decode_frames(pipe, latents.video, sampling, generator, normalised=True))

    @torch.no_grad()
    def probe_step(self, transformer, latent_frames: int, latent_height: int, latent_width: int) -> torch.Tensor:
        """One transformer forward on fixed random inputs (seed 0) of a latent size; the prediction, float32 on the CPU.

        The benchmark judges speed levers by it: one step, free of the compounding of a whole draft.
        (The studio's warm-up runs a real denoise step instead, whose call matches a draft's exactly.)
        """
        config = transformer.config
        device, dtype = transformer.device, transformer.dtype
        generator = torch.Generator("cpu").manual_seed(0)
        tokens = latent_frames * latent_height * latent_width
        hidden = torch.randn(1, tokens, config.in_channels, generator=generator)
        text = torch.randn(1, MAX_SEQUENCE_LENGTH, config.caption_channels, generator=generator)
        cached = getattr(transformer, "is_cache_enabled", False)  # a step cache keeps state per named context
        with transformer.cache_context("probe") if cached else contextlib.nullcontext():
            out = transformer(
                hidden_states=hidden.to(device, dtype),
                encoder_hidden_states=text.to(device, dtype),
                timestep=torch.tensor([500.0], device=device),
                encoder_attention_mask=torch.ones(1, MAX_SEQUENCE_LENGTH, device=device),
                num_frames=latent_frames,
                height=latent_height,
                width=latent_width,
                return_dict=False,
            )[0]
        return out.float().cpu()

    @torch.no_grad()
    def upsample(self, up_pipe, latents: Latents, adain_factor: float, tone_map: float, generator) -> Latents:
        """x2 spatial upsampling in latent space; normalised latents in and out."""
        _, _, _, height, width = latents.video.shape
        scale = up_pipe.vae_spatial_compression_ratio
        upsampled = up_pipe(
            latents=latents.video.to(up_pipe._execution_device),
            width=width * scale,
            height=height * scale,
            adain_factor=adain_factor,
            tone_map_compression_ratio=tone_map,
            generator=generator,
            output_type="latent",
        ).frames
        return Latents(upsampled)

    # --- live preview ------------------------------------------------------------------------

    @contextlib.contextmanager
    def capture_denoised(
        self,
        pipe,
        latent_frames: int,
        latent_height: int,
        latent_width: int,
        on_x0: Callable[[torch.Tensor], None],
        items: int = 1,
    ) -> Iterator[None]:
        """Call `on_x0(x0)` after each transformer forward with the denoised estimate of the middle frame
        (`items` rows of a batch, side by side).

        x_t alone is mostly noise for distilled schedules, so we show x0 = x_t - sigma * v, with v the
        transformer's output and sigma each token's timestep / 1000 (conditioned tokens have 0).
        Extra conditioning tokens precede the video tokens, so the video is the last tokens.
        x0 is [H', W', C] (normalised latents, the conditional half of a CFG batch).
        """
        frame_tokens = latent_height * latent_width
        middle = latent_frames // 2
        start = -(latent_frames - middle) * frame_tokens
        stop = start + frame_tokens or None

        with capture_x0(pipe, slice(start, stop), latent_height, latent_width, on_x0, items=items):
            yield

    @torch.no_grad()
    def enhance_prompt(self, pipe, prompt: str, image, seed: int, max_tokens: int | None = None) -> str:
        from ...core.errors import BadInput

        raise BadInput("prompt enhancement needs an LTX-2 model set (LTX-Video has no enhancer)")

    @torch.no_grad()
    def encode_video(self, pipe, frames: np.ndarray) -> torch.Tensor:
        """Normalised latents [1, C, F', H', W'] of uint8 frames [F, H, W, 3] (F = 8k + 1), as a pass leaves them."""
        return encode_clip(pipe, frames, normalised=True)

    @torch.no_grad()
    def encode_images(self, pipe, images: torch.Tensor) -> torch.Tensor:
        """Normalised latents [N, C, 1, h, w] of images [N, 3, H, W] in -1..1 (for preview calibration)."""
        vae = pipe.vae
        # The execution device, not the VAE's: under CPU offload the VAE moves there only when called.
        pixels = images.unsqueeze(2).to(pipe._execution_device, vae.dtype)
        latents = vae.encode(pixels).latent_dist.mode().float()
        mean, std = vae.latents_mean.to(latents.device), vae.latents_std.to(latents.device)
        return pipe._normalize_latents(latents, mean, std)


@torch.no_grad()
@contextlib.contextmanager
def capture_x0(
    pipe,
    tokens: slice,
    latent_height: int,
    latent_width: int,
    on_x0,
    skip: Callable[[dict], bool] | None = None,
    items: int = 1,
) -> Iterator[None]:
    """Hand `on_x0` the denoised estimate of one latent frame's tokens after each transformer call
    (both families): x0 = x_t - sigma * v, sigma each token's timestep / 1000 (a conditioned token has
    0), from the last row of the batch (the conditional pass); with `items` seeds in one call, the last
    `items` rows side by side (each seed's own preview, one strip). `skip(kwargs)` passes over extra
    guidance calls. The transformer sees normalised latents; the preview map is fitted on those."""

    def hook(module, args, kwargs, output):
        if skip is not None and skip(kwargs):
            return
        strip = []
        for row in range(-items, 0):
            hidden = kwargs["hidden_states"][row, tokens].float()
            velocity = output[0][row, tokens].float()
            timestep = kwargs["timestep"][row].float()
            sigma = (timestep[tokens] if timestep.numel() > 1 else timestep) / 1000.0
            x0 = hidden - sigma.reshape(-1, 1) * velocity
            strip.append(x0.reshape(latent_height, latent_width, -1))
        previews.push(strip[0] if items == 1 else torch.cat(strip, dim=1))

    previews = StepPreviews(on_x0)  # on a GPU: no device sync per step
    handle = pipe.transformer.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
        previews.flush()
    finally:
        handle.remove()


def encode_clip(pipe, frames: np.ndarray, *, normalised: bool) -> torch.Tensor:
    """Video latents [1, C, F', H', W'] of uint8 frames [F, H, W, 3] through the VAE (both families);
    `normalised`: with the VAE's statistics applied, as LTX-Video's passes keep them."""
    vae = pipe.vae
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    latents = vae.encode(pixels.to(pipe._execution_device, vae.dtype)).latent_dist.mode().float()
    if normalised:
        mean, std = vae.latents_mean.to(latents.device), vae.latents_std.to(latents.device)
        latents = pipe._normalize_latents(latents, mean, std, vae.config.scaling_factor)
    return latents


def decode_frames(
    pipe, latents: torch.Tensor, sampling: Sampling, generator, *, normalised: bool, unit: bool = False
) -> np.ndarray:
    """uint8 frames [F, H, W, 3] from video latents, as the LTX pipelines decode after their loop.

    Shared by both families (LTX-2's VAE has the same decode call); `normalised` says whether the
    latents still need the VAE's statistics applied. `unit`: float16 0..1 instead (an HDR pass reads
    more than 8 bits of its LogC3 picture).
    """
    return decode_frames_batch(pipe, latents, sampling, [generator], normalised=normalised, unit=unit)[0]


def decode_frames_batch(
    pipe, latents: torch.Tensor, sampling: Sampling, generators: list, *, normalised: bool, unit: bool = False
) -> list[np.ndarray]:
    """`decode_frames` of a batch of clips in one VAE call: item i's frames, its decode noise (a VAE with
    timestep conditioning) drawn from `generators[i]` as its own decode draws it."""
    from diffusers.utils.torch_utils import randn_tensor

    if len(generators) != len(latents):
        raise ValueError(f"{len(latents)} clips to decode with {len(generators)} generators")
    vae = pipe.vae
    device = pipe._execution_device
    latents = latents.to(device)
    if normalised:
        latents = pipe._denormalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    latents = latents.to(vae.dtype)
    timestep = None
    if vae.config.timestep_conditioning:
        one = latents.shape[1:]
        noise = torch.cat(
            [randn_tensor((1, *one), generator=g, device=device, dtype=latents.dtype) for g in generators]
        )
        scale = sampling.decode_noise_scale
        scale = sampling.decode_timestep if scale is None else scale
        latents = (1 - scale) * latents + scale * noise
        timestep = torch.tensor([sampling.decode_timestep] * len(latents), device=device, dtype=latents.dtype)
    video = vae.decode(latents, timestep, return_dict=False)[0]
    if unit:
        return [((clip.float().clamp(-1, 1) + 1) / 2).half().permute(1, 2, 3, 0).cpu().numpy() for clip in video]
    return [
        ((clip.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
        for clip in video  # [C, F, H, W] in 0..255
    ]
