"""Family adapters: the only code that knows a diffusers pipeline's call signature.

A family provides: `shared` (component kinds shared by its variants), `load_component`,
`assemble`, `assemble_upsampler`, `encode_prompt`, `denoise`, `decode`, `upsample`,
`capture_denoised` and `encode_images`. The manager, renderer and store only call those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput
from ..variants import Sampling


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
    latents: Any = None  # refine: start from these torch latents (unpacked, normalised)
    refine: bool = False
    on_step: Callable[[int, int], bool] | None = None  # (step, total) -> stop?


def get_family(name: str):
    """The adapter for a family name from the variants registry."""
    if name == "ltxv":
        from .ltxv import LTXVFamily

        return LTXVFamily()
    raise BadInput(f"unknown model family {name!r} (this version knows: ltxv)")
