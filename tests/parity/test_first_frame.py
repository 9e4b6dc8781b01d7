"""The first frame's pixels, as the VAE gets them: compressed at the image's own size (H.264 CRF 33),
then resized (bilinear, centre crop), as Lightricks' `load_image_conditioning` does. Fitting first
(LANCZOS) and compressing the fitted image, as the studio did, was ~30 dB PSNR away."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from ltx_studio.library import media
from ltx_studio.render.request import RenderRequest
from tests.conftest import FIRST_FRAMES


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two [-1, 1] images, in dB (inf when equal)."""
    mse = float(((a.float() - b.float()) / 2).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def test_the_first_frame_reaches_the_vae_as_the_references(reference_code, studio):
    media_io = reference_code.pipelines_module("ltx_pipelines.utils.media_io")
    source = sorted(FIRST_FRAMES.glob("*.png"))[0]
    width, height = 192, 128
    pipe = studio.manager.get("fast")
    fed = []
    encode = pipe.vae.encode

    def recording(pixels, *args, **kwargs):  # what the pipeline hands the VAE, then the VAE as ever
        if not fed and tuple(pixels.shape) == (1, 3, 1, height, width):  # the first frame (not previews)
            fed.append(pixels.detach().float().cpu())
        return encode(pixels, *args, **kwargs)

    pipe.vae.encode = recording
    try:
        studio.render(RenderRequest(prompt="a kite", image=str(source), variant="fast", width=width, height=height,
                                    frames=9, seed=1))  # fmt: skip
    finally:
        del pipe.vae.encode
    reference = media_io.load_image_conditioning(str(source), height, width, torch.float32, torch.device("cpu"), crf=33)
    assert fed and fed[0].shape == reference.shape
    ours = psnr(fed[0], reference)
    fitted = np.array(media.fit_image(Image.open(source).convert("RGB"), width, height))  # the studio's old way
    from diffusers.pipelines.ltx2.utils import apply_image_conditioning_crf

    old = torch.from_numpy(apply_image_conditioning_crf(fitted, 33)).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1
    before = psnr(old, reference)
    print(f"first-frame pixels vs the reference: {ours:.1f} dB (fitted, then compressed: {before:.1f} dB)")
    assert ours > 60 and before < 45  # equal to the reference's up to float rounding; the old way was not
