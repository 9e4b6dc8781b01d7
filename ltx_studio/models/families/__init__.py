"""Family adapters: the only code that knows a diffusers pipeline's call signature.

A family provides: `shared` (component kinds shared by its variants), `has_audio`,
`load_component`, `assemble`, `assemble_upsampler`, `encode_prompt`, `denoise` (-> `Latents`),
`decode` (-> `Decoded`), `upsample`, `capture_denoised`, `encode_images`, `encode_video`, `enhance_prompt`
and `probe_step`; LTX-2 adds `encode_audio`. The manager, renderer and store only call those.
"""

from __future__ import annotations

from ...core.errors import BadInput


def get_family(name: str):
    """The adapter for a family name from the variants registry."""
    if name == "ltxv":
        from .ltxv import LTXVFamily

        return LTXVFamily()
    if name == "ltx2":
        from .ltx2 import LTX2Family

        return LTX2Family()
    raise BadInput(f"unknown model family {name!r} (this version knows: ltxv, ltx2)")
