"""What a family adapter takes and gives: latents, decoded frames and sound, an encoded prompt, a denoise job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..variants import Sampling


@dataclass
class Latents:
    """What a denoise pass leaves: the picture's latents and, for LTX-2, the sound's.

    Each family keeps its own convention (LTX-Video: normalised; LTX-2: as diffusers returns them);
    only the family reads them back.
    """

    video: Any  # torch tensor [1, C, F', H', W']
    audio: Any = None  # torch tensor [1, C, L, M] (LTX-2), or None

    def item(self, index: int) -> Latents:
        """Item `index` of a batch (seeds denoised in one call), as a batch of one."""
        audio = None if self.audio is None else self.audio[index : index + 1]
        return Latents(self.video[index : index + 1], audio)


@dataclass
class Decoded:
    """Decoded output: uint8 frames [F, H, W, 3] and, when asked and made, a waveform [channels, samples]."""

    frames: Any  # numpy uint8
    audio: Any = None  # numpy float32 in -1..1
    sample_rate: int | None = None
    decoder: str | None = None  # set when the picture was decoded otherwise than the variant says
    unit: Any = None  # when asked (`decode(unit=True)`): the VAE's picture as float16 0..1, before quantizing


@dataclass
class PromptEmbeds:
    """Encoded prompt (and negative prompt when guidance is on), ready for the pipeline."""

    embeds: Any
    mask: Any
    negative_embeds: Any = None
    negative_mask: Any = None

    def to(self, device) -> PromptEmbeds:
        """The same tensors on `device` (e.g. embeddings read from disk, onto the pipeline's device)."""
        parts = (self.embeds, self.mask, self.negative_embeds, self.negative_mask)
        return PromptEmbeds(*(t.to(device) if t is not None else None for t in parts))


@dataclass
class DenoiseJob:
    """Everything one denoising pass needs, in the pipeline's own terms."""

    prompt: Any  # the family's own encoded prompt
    width: int
    height: int
    frames: int
    fps: int
    sampling: Sampling
    generator: Any  # torch.Generator
    guidance: float
    steps: int | None = None
    image: Any = None  # a PIL image at exactly width x height, the first frame
    source_image: Any = None  # the first frame as given (bounded), for families that fit it as the reference does
    latents: Latents | None = None  # refine: start from these
    refine: bool = False
    on_step: Callable[[int, int], bool] | None = None  # (step, total) -> stop?
    audio: bool = True  # denoise the sound stream too (families with sound)
    conditions: list = field(default_factory=list)  # conditions.Condition: keyframes and video, at this size
    reference: Any = None  # conditions.Condition: an IC-LoRA control video (LTX-2), at this size
    lock: Any = None  # lock.Lock: latent frames held clean (audio-to-video, video-to-audio, retake)
    cross_timestep: str = "own-scale-other-gate"  # LTX-2: the set's audio/video cross-attention rule

    def call_basics(self) -> dict:
        """The arguments both families' condition pipelines take alike: the encoded prompt, size and length."""
        return {
            "prompt_embeds": self.prompt.embeds,
            "prompt_attention_mask": self.prompt.mask,
            "negative_prompt_embeds": self.prompt.negative_embeds,
            "negative_prompt_attention_mask": self.prompt.negative_mask,
            "width": self.width,
            "height": self.height,
            "num_frames": self.frames,
            "frame_rate": self.fps,
        }
