"""LTX-2.x adapter (LTX-2.3, LTX-2.5): picture and sound from one transformer.

Renders go through `LTX2ConditionPipeline` (text-to-video, and a first frame as a condition at
latent index 0), split into the stages the studio times: encode the prompt with Gemma (cached by
the manager; the connectors run inside the call, they are cheap), denoise both streams to latents,
decode the picture with the video VAE and the sound with the audio VAE and the vocoder. Upscale is
`LTX2LatentUpsamplePipeline` (x2 in latent space) plus a refine pass that refines the audio
latents too, as diffusers' two-stage recipe does.

Latents stay as the pipeline returns them with `output_type="latent"`: video [1, C, F', H', W']
and audio [1, C, L, M], both denormalised, which is also what its `latents=` / `audio_latents=`
arguments take back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..variants import FAMILY_COMPONENTS, Sampling
from .base import Decoded, DenoiseJob, Latents, PromptEmbeds
from .cross_timestep import ZERO_HELD_SIGMA, call_flag, cross_timestep_rule
from .diffusion_decoder import diffusion_decode, diffusion_decodes_here
from .lock import hold_ltx2, packed_ltx2
from .ltx2_reference import perturbable, plain_schedule, schedule
from .ltx2_seeds import decode_seeds, seeds_basics
from .ltx2_transformer_file import load_transformer_file
from .ltxv import LTXVFamily, capture_x0, decode_frames, encode_clip
from .per_token import per_token_sigmas

MAX_SEQUENCE_LENGTH = 1024  # the pipeline's default; a tokenizer with a shorter limit caps it


class LTX2Family:
    """Loads LTX-2 components and runs the stages of a render with diffusers."""

    name = "ltx2"
    # text encoder, tokenizer, processor, connectors, both VAEs, vocoder, scheduler; LTX-2.5 adds its
    # prompt enhancer, duration head (length "auto") and diffusion decoder
    shared = FAMILY_COMPONENTS["ltx2"]
    has_audio = True

    # --- loading -------------------------------------------------------------------------------

    def component_class(self, kind: str):
        from diffusers import (
            AutoencoderKLLTX2Audio,
            AutoencoderKLLTX2Video,
            FlowMatchEulerDiscreteScheduler,
            LTX2VideoDiffusionDecoderModel,
            LTX2VideoTransformer3DModel,
        )
        from diffusers.pipelines.ltx2 import (
            LTX2DurationHead,
            LTX2LatentUpsamplerModel,
            LTX2TextConnectors,
            LTX2Vocoder,
        )
        from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

        return {
            "text_encoder": AutoModelForImageTextToText,  # Gemma 3 (LTX-2.3) or Gemma 4 (LTX-2.5), by its config
            "tokenizer": AutoTokenizer,
            "processor": AutoProcessor,
            "connectors": LTX2TextConnectors,
            "vae": AutoencoderKLLTX2Video,
            "audio_vae": AutoencoderKLLTX2Audio,
            "vocoder": LTX2Vocoder,
            "scheduler": FlowMatchEulerDiscreteScheduler,
            "transformer": LTX2VideoTransformer3DModel,
            "upsampler": LTX2LatentUpsamplerModel,
            "prompt_enhancer": AutoModelForImageTextToText,
            "duration_head": LTX2DurationHead,
            "diffusion_decoder": LTX2VideoDiffusionDecoderModel,
        }[kind]

    def load_component(
        self, kind: str, location: str, subfolder: str | None, file: str | None, config: str | None, dtype
    ):
        """Load one component from a local folder or a Hub id already in the HF cache (never downloads).

        A `file` is one of Lightricks' single-file checkpoints (e.g. `ltx-2-19b-distilled.safetensors`),
        read for its transformer or video VAE (2.0 or 2.3 layout), whose architecture is `config`'s diffusers
        `transformer/config.json` (`vae/config.json`); an upsampler file carries its own and needs no config.
        """
        cls = self.component_class(kind)
        common = {"local_files_only": True}
        if file and kind == "vae":
            from .ltx2_vae_file import load_video_vae

            return load_video_vae(location, file, config, dtype)
        if file and kind == "upsampler":  # its architecture is in the file
            from .ltx2_upsampler_file import load_latent_upsampler

            return load_latent_upsampler(location, file, dtype)
        if file:
            if kind != "transformer":
                raise ValueError(
                    f"LTX-2 single files load as a transformer or video VAE (or a latent upsampler); the {kind} "
                    "loads from a diffusers folder"
                )
            return perturbable(load_transformer_file(cls, location, file, config, dtype))
        if kind in ("tokenizer", "processor"):
            return cls.from_pretrained(location, subfolder=subfolder or "", **common)
        if kind == "scheduler":
            return cls.from_pretrained(location, subfolder=subfolder, **common)
        if kind == "vocoder":
            return self._load_vocoder(location, subfolder, dtype)
        model = cls.from_pretrained(location, subfolder=subfolder, dtype=dtype, use_safetensors=True, **common)
        return perturbable(model) if kind == "transformer" else model

    def _load_vocoder(self, location: str, subfolder: str | None, dtype):
        """LTX-2.3 ships a vocoder with bandwidth extension (`LTX2VocoderWithBWE`): the config names its class."""
        import json
        from pathlib import Path

        from diffusers.pipelines.ltx2 import LTX2Vocoder, LTX2VocoderWithBWE

        cls = LTX2Vocoder
        config = Path(location) / (subfolder or "") / "config.json"
        if config.exists() and json.loads(config.read_text()).get("_class_name") == "LTX2VocoderWithBWE":
            cls = LTX2VocoderWithBWE
        return cls.from_pretrained(
            location, subfolder=subfolder, dtype=dtype, use_safetensors=True, local_files_only=True
        )

    def assemble(self, components: dict, transformer):
        """A condition pipeline over shared components and one variant's transformer (no copies)."""
        from diffusers import LTX2ConditionPipeline

        parts = {k: components[k] for k in self.shared if k in components and k != "diffusion_decoder"}
        pipe = LTX2ConditionPipeline(transformer=transformer, **parts)
        pipe.set_progress_bar_config(disable=True)
        # Not a component of the condition pipeline: decode() drives it (LTX2VideoDiffusionDecodePipeline's call).
        pipe.diffusion_decoder = components.get("diffusion_decoder")
        return pipe

    def assemble_upsampler(self, components: dict, upsampler):
        from diffusers import LTX2LatentUpsamplePipeline

        pipe = LTX2LatentUpsamplePipeline(vae=components["vae"], latent_upsampler=upsampler)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # --- the stages of a render ----------------------------------------------------------------

    @staticmethod
    def max_sequence_length(pipe) -> int:
        return min(MAX_SEQUENCE_LENGTH, int(getattr(pipe.tokenizer, "model_max_length", MAX_SEQUENCE_LENGTH)))

    @torch.no_grad()
    def encode_prompt(self, pipe, prompt: str, negative_prompt: str, guidance: float) -> PromptEmbeds:
        """Gemma's stacked hidden states (the connectors turn them into each stream's text tokens per call)."""
        use_cfg = guidance > 1.0
        embeds, mask, negative, negative_mask = pipe.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt if use_cfg else None,
            do_classifier_free_guidance=use_cfg,
            max_sequence_length=self.max_sequence_length(pipe),
            device=pipe._execution_device,
        )
        return PromptEmbeds(embeds, mask, negative if use_cfg else None, negative_mask if use_cfg else None)

    @staticmethod
    def keyframe_index(frame: int, frames: int) -> tuple[int, int]:
        """(latent index, pixel frame) of a keyframe asked at `frame`: index 0 replaces the first frame;
        a later one is appended as guide tokens at pixel frame (k - 1) * 8 + 1, k < the latent length
        (`LTX2ConditionPipeline.prepare_latents`), so the last one lands 7 frames before the end."""
        if frame <= 0:
            return 0, 0
        latent_frames = (frames - 1) // 8 + 1
        index = min(max(1, round((frame - 1) / 8) + 1), latent_frames - 1)
        return index, (index - 1) * 8 + 1

    @torch.no_grad()
    def predict_frames(self, pipe, embeds: PromptEmbeds, fps: int, min_seconds: float, max_seconds: float) -> int:
        """LTX-2.5's duration head: the clip length the prompt implies, in frames on the 8k+1 grid,
        within [min_seconds, max_seconds] (as the pipeline's own `num_frames=None` path computes it)."""
        from ...core.errors import BadInput

        if getattr(pipe, "duration_head", None) is None:
            raise BadInput('length "auto" needs a model set with a duration head (LTX-2.5)')
        padding_side = getattr(pipe.tokenizer, "padding_side", "left")
        video_tokens, audio_tokens, _mask = pipe.connectors(
            embeds.embeds.to(pipe._execution_device), embeds.mask.to(pipe._execution_device), padding_side=padding_side
        )
        return int(
            pipe.duration_head.predict_num_frames(
                video_tokens[:1],
                audio_tokens[:1],
                frame_rate=fps,
                temporal_compression_ratio=pipe.vae_temporal_compression_ratio,
                min_seconds=min_seconds,
                max_seconds=max_seconds,
            )
        )

    @torch.no_grad()
    def denoise(self, pipe, job: DenoiseJob) -> Latents:
        """Denoise picture and sound together; returns both streams' latents."""
        from diffusers.pipelines.ltx2 import LTX2VideoCondition

        sampling = job.sampling
        sigmas, steps = schedule(sampling, job)
        use_cfg = job.guidance > 1.0

        def callback(pipeline, step, timestep, kwargs):
            if job.on_step is not None and job.on_step(step + 1, pipeline._num_timesteps):
                pipeline._interrupt = True
            return kwargs

        # A single image goes in as given: the pipeline compresses it at its own size (CRF), then resizes it
        # (bilinear, centre crop), as Lightricks' reference does (ltx_pipelines utils/media_io.py
        # load_image_conditioning: preprocess, then resize_and_center_crop). Fitting it here first (LANCZOS)
        # and compressing the fitted image was 29-33 dB PSNR away from the reference's pixels.
        conditions = []
        if job.image is not None:
            first = job.source_image if job.source_image is not None else job.image
            conditions.append(LTX2VideoCondition(frames=first, index=0, strength=1.0, crf=sampling.image_crf))
        for c in job.conditions:  # keyframes (one image) and video (several frames, never re-compressed)
            frames = c.source if c.source is not None else c.frames
            conditions.append(
                LTX2VideoCondition(frames=frames, index=c.index, strength=c.strength, crf=sampling.image_crf)
            )
        start = job.latents
        extra = {}
        if job.reference is not None:  # IC-LoRA control: the same components and adapters, another call
            from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

            extra["reference_conditions"] = [
                LTX2ReferenceCondition(frames=job.reference.frames, strength=job.reference.strength)
            ]
            pipe = _in_context(pipe)
        lock = job.lock
        if lock is not None and lock.audio is not None and start is None:
            start = Latents(None, lock.audio)  # the call takes the sound's length from these (held anyway)
        rule, packed = job.cross_timestep, packed_ltx2(pipe, lock)
        with (
            plain_schedule(pipe, sigmas is not None),
            hold_ltx2(pipe, packed, zero_held_sigma=ZERO_HELD_SIGMA[rule]),  # first: the hooks after it read its work
            per_token_sigmas(pipe, packed),
            cross_timestep_rule(pipe.transformer, rule),
        ):
            video, audio = pipe(
                **extra,
                conditions=conditions or None,
                **seeds_basics(job),
                num_inference_steps=steps,
                sigmas=sigmas,
                # Every guidance value is passed: the call's defaults (CFG 3, STG 1, audio CFG 7) are Pro's.
                guidance_scale=job.guidance,
                guidance_rescale=sampling.guidance_rescale if use_cfg else 0.0,
                stg_scale=sampling.stg_scale,
                modality_scale=sampling.modality_scale,
                audio_guidance_scale=sampling.audio_guidance if use_cfg else 1.0,
                audio_stg_scale=sampling.audio_stg_scale,
                audio_modality_scale=sampling.audio_modality_scale,
                audio_guidance_rescale=sampling.audio_guidance_rescale if use_cfg else 0.0,
                spatio_temporal_guidance_blocks=list(sampling.stg_blocks) or None,
                use_cross_timestep=call_flag(rule),
                latents=start.video if start is not None else None,
                audio_latents=start.audio if start is not None else None,
                generator=job.generator,  # a list: one per seed (render/seeds.py)
                output_type="latent",
                return_dict=False,
                callback_on_step_end=callback,
                max_sequence_length=self.max_sequence_length(pipe),
            )
        if lock is not None:
            video, audio = lock.restore(video, audio)
        return Latents(video, audio if job.audio else None)

    @torch.no_grad()
    def encode_video(self, pipe, frames: np.ndarray) -> torch.Tensor:
        """Video latents [1, C, F', H', W'] of uint8 frames [F, H, W, 3] (F = 8k + 1), as a pass leaves them."""
        return encode_clip(pipe, frames, normalised=False)

    @staticmethod
    def audio_length(pipe, frames: int, fps: int) -> int:
        """Latent steps of sound the pipeline makes for a clip (its own formula)."""
        per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
        return round(frames / fps * per_second)

    @staticmethod
    def audio_step_seconds(pipe, length: int) -> torch.Tensor:
        """[start, end) seconds each of `length` latent steps of sound covers ([L, 2]): the transformer's
        own audio positions (its causal mel windows), which Lightricks' retake mask reads too."""
        return pipe.transformer.audio_rope.prepare_audio_coords(1, length, torch.device("cpu"))[0, 0].float()

    @torch.no_grad()
    def encode_audio(self, pipe, waveform: np.ndarray, rate: int, frames: int, fps: int) -> torch.Tensor:
        """Audio latents [1, C, L, M] of a waveform [channels, samples] for a clip of `frames` at `fps`
        (cut or padded with silence to the clip's length): log-mel at the VAE's rate, then its encoder."""
        from ...library import media, sound

        vae = pipe.audio_vae
        length = self.audio_length(pipe, frames, fps)
        rate_in, hop, ratio = pipe.audio_sampling_rate, pipe.audio_hop_length, pipe.audio_vae_temporal_compression_ratio
        # resampled as ltx_core's AudioProcessor does (sound.sinc_resample), not by FFmpeg's resampler
        wave = media.fit_waveform(sound.sinc_resample(waveform, rate, rate_in), length * ratio * hop)
        mel = sound.log_mel(
            wave,
            rate_in,
            sample_rate=rate_in,
            hop=hop,
            mel_bins=pipe.audio_mel_bins,
            in_channels=vae.config.in_channels,
        )[:, :, : length * ratio]
        latents = vae.encode(mel.to(pipe._execution_device, vae.dtype)).latent_dist.mode().float()
        if latents.shape[2] < length:  # a causal encoder may leave one step short
            pad = latents[:, :, -1:].expand(-1, -1, length - latents.shape[2], -1)
            latents = torch.cat([latents, pad], dim=2)
        return latents[:, :, :length]

    @torch.no_grad()
    def decode(
        self, pipe, latents: Latents, sampling: Sampling, generator, audio: bool = True, unit: bool = False
    ) -> Decoded:
        """uint8 frames, and the waveform (vocoder output, float32 [channels, samples]) when asked and made.

        `sampling.decoder == "diffusion"`: LTX-2.5's diffusion decoder turns the latents into pixels
        (it draws its own noise from `generator`), as `LTX2VideoDiffusionDecodePipeline` calls it.
        """
        decoder = None
        if sampling.decoder == "diffusion" and diffusion_decodes_here(pipe, latents.video):
            frames = diffusion_decode(pipe, latents.video, generator)
        else:
            decoder = "vae" if sampling.decoder == "diffusion" else None  # the take says so
            frames = decode_frames(pipe, latents.video, sampling, generator, normalised=False, unit=unit)
        fine = frames if unit and frames.dtype == np.float16 else None  # (a diffusion decode is 8-bit)
        if fine is not None:
            frames = (fine.astype(np.float32) * 255).round().astype(np.uint8)
        if not audio or latents.audio is None:
            return Decoded(frames, decoder=decoder, unit=fine)
        audio_vae = pipe.audio_vae
        mel = audio_vae.decode(latents.audio.to(pipe._execution_device, audio_vae.dtype), return_dict=False)[0]
        waveform = pipe.vocoder(mel.to(pipe.vocoder.dtype))[0].float().clamp(-1, 1).cpu().numpy()
        return Decoded(frames, waveform, int(pipe.vocoder.config.output_sampling_rate), decoder, fine)

    def decode_batch(self, pipe, latents: Latents, sampling: Sampling, generators: list, audio: bool = True):
        """`decode` of seeds denoised in one call, item i with `generators[i]` (ltx2_seeds.decode_seeds)."""
        return decode_seeds(pipe, latents, sampling, generators, audio, self.decode)

    @torch.no_grad()
    def upsample(self, up_pipe, latents: Latents, adain_factor: float, tone_map: float, generator) -> Latents:
        """x2 spatial upsampling of the picture in latent space; the sound's latents pass through."""
        _, _, _, height, width = latents.video.shape
        scale = up_pipe.vae_spatial_compression_ratio
        upsampled = up_pipe(
            latents=latents.video.to(up_pipe._execution_device),
            latents_normalized=False,
            width=width * scale * 2,
            height=height * scale * 2,
            adain_factor=adain_factor,
            tone_map_compression_ratio=tone_map,
            generator=generator,
            output_type="latent",
            return_dict=False,
        )[0]
        return Latents(upsampled, latents.audio)

    @torch.no_grad()
    def probe_step(self, transformer, latent_frames: int, latent_height: int, latent_width: int) -> torch.Tensor:
        """One transformer forward on fixed random inputs (seed 0); the video prediction, float32 on the CPU."""
        config = transformer.config
        device, dtype = transformer.device, transformer.dtype
        generator = torch.Generator("cpu").manual_seed(0)
        tokens = latent_frames * latent_height * latent_width
        audio_tokens = max(1, round(latent_frames * 8 / 24 * 25))  # 25 audio latents per second at 24 fps
        hidden = torch.randn(1, tokens, config.in_channels, generator=generator)
        audio = torch.randn(1, audio_tokens, config.audio_in_channels, generator=generator)
        text = torch.randn(1, 128, config.cross_attention_dim, generator=generator)
        audio_text = torch.randn(1, 128, config.audio_cross_attention_dim, generator=generator)
        t = torch.tensor([500.0], device=device)
        cached = getattr(transformer, "is_cache_enabled", False)  # a step cache keeps state per named context
        with transformer.cache_context("probe") if cached else contextlib.nullcontext():
            out = self._probe_call(transformer, hidden, audio, text, audio_text, t, device, dtype,
                                   latent_frames, latent_height, latent_width, audio_tokens)  # fmt: skip
        return out.float().cpu()

    @staticmethod
    def _probe_call(
        transformer, hidden, audio, text, audio_text, t, device, dtype, frames, height, width, audio_tokens
    ):
        return transformer(
            hidden_states=hidden.to(device, dtype),
            audio_hidden_states=audio.to(device, dtype),
            encoder_hidden_states=text.to(device, dtype),
            audio_encoder_hidden_states=audio_text.to(device, dtype),
            timestep=t,
            audio_timestep=t,
            sigma=t,
            audio_sigma=t,
            encoder_attention_mask=torch.ones(1, 128, device=device),
            audio_encoder_attention_mask=torch.ones(1, 128, device=device),
            num_frames=frames,
            height=height,
            width=width,
            audio_num_frames=audio_tokens,
            return_dict=False,
        )[0]

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
        """Call `on_x0(x0)` once per step with the denoised estimate of the video's middle latent frame
        (`items` seeds in one call: each one's, side by side).

        x0 = x_t - sigma * v, v the transformer's video prediction and sigma each token's timestep /
        1000 (a conditioned first frame has 0). The main sequence comes first (keyframe tokens are
        appended after it). Guidance passes beyond the first (STG, modality isolation) are skipped,
        so a Pro step shows one preview, like a Fast one.
        """
        frame_tokens = latent_height * latent_width
        start = (latent_frames // 2) * frame_tokens
        stop = start + frame_tokens

        def extra_guidance(kwargs) -> bool:  # STG and modality-isolation passes
            return bool(kwargs.get("spatio_temporal_guidance_blocks") or kwargs.get("isolate_modalities"))

        with capture_x0(pipe, slice(start, stop), latent_height, latent_width, on_x0, extra_guidance, items):
            yield

    encode_images = LTXVFamily.encode_images  # the same VAE encode call (for preview calibration)

    # --- prompt enhancement ------------------------------------------------------------------

    @torch.no_grad()
    def enhance_prompt(self, pipe, prompt: str, image, seed: int, max_tokens: int | None = None) -> str:
        """diffusers' own enhancer: Gemma rewrites a short idea as the detailed audio-visual caption
        LTX-2 was trained on (the image-to-video system prompt with a first frame). Same seed, same text.

        LTX-2.5 sets carry a dedicated `prompt_enhancer` and its own system prompts; LTX-2.3 uses its
        Gemma 3 text encoder with the LTX-2 system prompts.
        """
        from diffusers.pipelines.ltx2 import utils as ltx2_utils

        from ...core.errors import BadInput

        if getattr(pipe, "processor", None) is None:
            raise BadInput("this model set has no processor for prompt enhancement (a `processor` folder)")
        dedicated = getattr(pipe, "prompt_enhancer", None) is not None
        if dedicated:
            system = (
                ltx2_utils.LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT if image else ltx2_utils.LTX2_5_T2V_DEFAULT_SYSTEM_PROMPT
            )
        else:
            system = ltx2_utils.I2V_DEFAULT_SYSTEM_PROMPT if image else ltx2_utils.T2V_DEFAULT_SYSTEM_PROMPT
        return pipe.enhance_prompt(
            prompt=prompt,
            system_prompt=system,
            seed=seed,
            device=pipe._execution_device,
            image=image,
            max_new_tokens=max_tokens,
        )[0].strip()


def _in_context(pipe):
    """`LTX2InContextPipeline` over the condition pipeline's own components (made once per pipeline):
    the transformer, and so its LoRA adapters, are the same objects."""
    cached = getattr(pipe, "_in_context_pipe", None)
    if cached is None:
        import inspect

        from diffusers import LTX2InContextPipeline

        accepted = inspect.signature(LTX2InContextPipeline.__init__).parameters
        parts = {k: v for k, v in pipe.components.items() if k in accepted and v is not None}
        cached = LTX2InContextPipeline(**parts)
        cached.set_progress_bar_config(disable=True)
        pipe._in_context_pipe = cached
    return cached
