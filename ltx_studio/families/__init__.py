"""Family adapters: the only code that knows a diffusers pipeline's call signature.

A family provides: `shared` (component kinds shared by its variants), `load_component`,
`assemble`, `assemble_upsampler`, `encode_prompt`, `denoise`, `decode`, `upsample`,
`capture_denoised` and `encode_images`. The manager, renderer and store only call those.
"""

from __future__ import annotations

from ..errors import BadInput


def get_family(name: str):
    """The adapter for a family name from the variants registry."""
    if name == "ltxv":
        from .ltxv import LTXVFamily

        return LTXVFamily()
    raise BadInput(f"unknown model family {name!r} (this version knows: ltxv)")
