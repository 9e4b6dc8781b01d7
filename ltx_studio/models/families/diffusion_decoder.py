"""LTX-2.5's diffusion video decoder (latents -> pixels by a one-step denoiser), as
`LTX2VideoDiffusionDecodePipeline` calls it, and where it can run.
"""

from __future__ import annotations

import numpy as np
import torch

CPU_DIFFUSION_DECODE_MAX = 256 * 192 * 17  # pixels x frames: its neighbourhood attention runs unfused on a CPU


def diffusion_decodes_here(pipe, video: torch.Tensor) -> bool:
    """Whether the diffusion decoder can take these latents here. On a CPU, flex attention runs unfused
    and holds whole score matrices (a 256x192x17 clip takes ~3.5 GB in tiles, 512x384x25 more than 24 GB),
    so larger clips decode with the VAE instead (the take records it)."""
    decoder = getattr(pipe, "diffusion_decoder", None)
    if decoder is None or decoder.device.type != "cpu":
        return True
    _, _, frames, height, width = video.shape
    pixels = (frames - 1) * 8 + 1
    pixels *= height * pipe.vae_spatial_compression_ratio * width * pipe.vae_spatial_compression_ratio
    if pixels > CPU_DIFFUSION_DECODE_MAX:
        return False
    decoder.enable_tiling(128, 128, 16, 96, 96, 12)  # small tiles keep the unfused attention within ~4 GB
    return True


def diffusion_decode(pipe, video: torch.Tensor, generator) -> np.ndarray:
    from ...core.errors import BadInput

    decoder = getattr(pipe, "diffusion_decoder", None)
    if decoder is None:
        raise BadInput("this variant decodes with a diffusion decoder, but the model set has none loaded")
    # Latents from `output_type="latent"` are already denormalised: no statistics applied here.
    pixels = decoder.decode(video.to(decoder.device, decoder.dtype), generator=generator, return_dict=False)[0]
    pixels = (pixels[0].float().clamp(-1, 1) + 1) * 127.5  # [C, F, H, W] in 0..255
    return pixels.round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
