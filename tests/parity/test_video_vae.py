"""The LTX-2 video VAE: what the family encodes and decodes is what ltx_core's VideoEncoder / VideoDecoder compute.

Theirs (ltx-core 1.0.0): `VideoEncoder` (clip -> the latent means, normalised with the VAE's per-channel
statistics) and `VideoDecoder` (normalised latents -> pixels, un-normalising first), each built by its
configurator and loaded from the single file by ltx_core's builder with the `vae.` key filters, as
ltx_pipelines' ModelLedger does. Ours: diffusers' `AutoencoderKLLTX2Video`, converted from the same file by
diffusers' own single-file conversion (`from_single_file`, `convert_ltx2_vae_to_diffusers`: the `vae.` prefix
dropped, ltx_core's flat block list mapped onto diffusers' down / up blocks, the statistics onto
`latents_mean` / `latents_std`), saved as a diffusers folder and loaded by the family's loader; then the
family's own calls: `encode_clip` (uint8 frames -> the latent distribution's mode, un-normalised, as a pass
keeps them) and `decode_frames` (those latents -> uint8 frames).

The architecture is the LTX-2.0 VAE's (the block layout diffusers' single-file converter maps: four
downsamplers, spatial / temporal / spatiotemporal / spatiotemporal, and three residual x2 spatiotemporal
upsamplers, pixel norm, a uniform log-variance channel, no timestep conditioning, a non-causal decoder) with
tiny widths and one resnet per block; random weights of a plausible scale, statistics not 0 and 1.

And the LTX-2.3 VAE (the layout of diffusers' converter script for "2.3": encoder widths x2, x4, x8, x8; a decoder
of FOUR non-residual upsamplers, spatiotemporal x2 channels / 2, spatiotemporal, temporal / 2, spatial / 2, so
Lightricks' `up_blocks.0..8`; zero padding on both sides; tiny widths, two resnets in the second block). diffusers
0.42.1's single-file conversion does not map its `up_blocks.7/8` (test_23_layout_needs_our_mapping), so ours is
the family's single-file path for a `vae` (models/families/ltx2_vae_file.py: diffusers' conversion plus the
script's 2.3 names), loading straight from the file with the diffusers `vae/config.json` beside it.

Compared, fp32: (a) encode of a 9-frame 64x64 clip: our latents normalised with the converted statistics vs
the encoder's output (2 latent frames, 2x2); (b) decode of random normalised latents: the VAE's float pixels
(the `vae.decode` call `decode_frames` makes, on the un-normalised latents) vs the decoder's, and
`decode_frames`' uint8 frames vs the decoder's pixels quantised the same way (at most one level apart).
Tolerance: 1e-5 relative to the reference's largest value. The teeth: a different input moves each compared
output by far more than that.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from . import reference as R

TOLERANCE = 1e-5
MOVES = 1e-2
LATENT_CHANNELS = 8
BASE = 8  # ltx_core's decoder_base_channels: the decoder starts at 8x this (the real: 128 -> 1024)


def _res(layers: int = 1):
    return ["res_x", {"num_layers": layers}]


# ltx_core's `config["vae"]` of the tiny file (the real LTX-2.0 VAE: 128 latent channels, 4/6/6/2/2 and 5/5/5/5
# resnets per block, decoder base 128).
VAE_CONFIG = {
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": LATENT_CHANNELS,
    "patch_size": 4,
    "norm_layer": "pixel_norm",
    "latent_log_var": "uniform",
    "causal_decoder": False,
    "timestep_conditioning": False,
    "decoder_base_channels": BASE,
    "encoder_blocks": [
        _res(),
        ["compress_space_res", {"multiplier": 2}],
        _res(),
        ["compress_time_res", {"multiplier": 2}],
        _res(),
        ["compress_all_res", {"multiplier": 2}],
        _res(),
        ["compress_all_res", {"multiplier": 2}],
        _res(),
    ],
    "decoder_blocks": [  # listed from the pixels' side (the decoder runs them reversed)
        _res(),
        ["compress_all", {"residual": True, "multiplier": 2}],
        _res(),
        ["compress_all", {"residual": True, "multiplier": 2}],
        _res(),
        ["compress_all", {"residual": True, "multiplier": 2}],
        _res(),
    ],
}

# The same architecture as AutoencoderKLLTX2Video's config (what diffusers' converter script writes for LTX-2.0,
# with these widths): encoder widths 2L, 4L, 8L, 16L after each downsampler, decoder 8 * BASE halved per upsampler.
DIFFUSERS_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": LATENT_CHANNELS,
    "block_out_channels": [2 * LATENT_CHANNELS, 4 * LATENT_CHANNELS, 8 * LATENT_CHANNELS, 16 * LATENT_CHANNELS],
    "down_block_types": ["LTX2VideoDownBlock3D"] * 4,
    "decoder_block_out_channels": [2 * BASE, 4 * BASE, 8 * BASE],
    "layers_per_block": [1, 1, 1, 1, 1],
    "decoder_layers_per_block": [1, 1, 1, 1],
    "spatio_temporal_scaling": [True, True, True, True],
    "decoder_spatio_temporal_scaling": [True, True, True],
    "decoder_inject_noise": [False, False, False, False],
    "downsample_type": ["spatial", "temporal", "spatiotemporal", "spatiotemporal"],
    "upsample_type": ["spatiotemporal", "spatiotemporal", "spatiotemporal"],
    "upsample_residual": [True, True, True],
    "upsample_factor": [2, 2, 2],
    "timestep_conditioning": False,
    "patch_size": 4,
    "patch_size_t": 1,
    "encoder_causal": True,
    "decoder_causal": False,
    "encoder_spatial_padding_mode": "zeros",  # ltx_core's defaults for each (the file names neither)
    "decoder_spatial_padding_mode": "reflect",
}


# LTX-2.3 (ltx_core's blocks for diffusers' converter-script config "2.3": block_out_channels 256, 512, 1024, 1024,
# layers 4, 6, 4, 2, 2 both sides, decoder_block_out_channels 256, 512, 512, 1024, upsample_type spatiotemporal,
# spatiotemporal, temporal, spatial, upsample_factor 2, 2, 1, 2, no residual, zero padding), tiny widths.
VAE_CONFIG_23 = {
    **VAE_CONFIG,
    "spatial_padding_mode": "zeros",  # both sides (ltx_core reads one key for encoder and decoder)
    "encoder_blocks": [
        _res(),
        ["compress_space_res", {"multiplier": 2}],
        _res(2),
        ["compress_time_res", {"multiplier": 2}],
        _res(),
        ["compress_all_res", {"multiplier": 2}],
        _res(),
        ["compress_all_res", {"multiplier": 1}],
        _res(),
    ],
    "decoder_blocks": [  # from the pixels' side
        _res(),
        ["compress_space", {"multiplier": 2}],
        _res(2),
        ["compress_time", {"multiplier": 2}],
        _res(),
        ["compress_all", {"multiplier": 1}],
        _res(),
        ["compress_all", {"multiplier": 2}],
        _res(),
    ],
}
DIFFUSERS_CONFIG_23 = {
    **DIFFUSERS_CONFIG,
    "block_out_channels": [2 * LATENT_CHANNELS, 4 * LATENT_CHANNELS, 8 * LATENT_CHANNELS, 8 * LATENT_CHANNELS],
    "decoder_block_out_channels": [2 * BASE, 4 * BASE, 4 * BASE, 8 * BASE],
    "layers_per_block": [1, 2, 1, 1, 1],
    "decoder_layers_per_block": [1, 2, 1, 1, 1],
    "decoder_spatio_temporal_scaling": [True, True, True, True],
    "decoder_inject_noise": [False, False, False, False, False],
    "upsample_type": ["spatiotemporal", "spatiotemporal", "temporal", "spatial"],
    "upsample_residual": [False, False, False, False],
    "upsample_factor": [2, 2, 1, 2],
    "decoder_spatial_padding_mode": "zeros",
}
LAYOUTS = {"2.0": (VAE_CONFIG, DIFFUSERS_CONFIG), "2.3": (VAE_CONFIG_23, DIFFUSERS_CONFIG_23)}


def write_vae(folder, seed: int = 0, version: str = "2.0"):
    """The tiny VAE in Lightricks' layout: ltx_core's encoder and decoder tensors under `vae.encoder.` /
    `vae.decoder.`, the statistics under `vae.per_channel_statistics.`, the config in the file's metadata."""
    from ltx_core.model.video_vae import VideoDecoderConfigurator, VideoEncoderConfigurator
    from safetensors.torch import save_file

    config = {"vae": LAYOUTS[version][0]}
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for part, configurator in (("encoder", VideoEncoderConfigurator), ("decoder", VideoDecoderConfigurator)):
        with torch.device("meta"):
            skeleton = configurator.from_config(config)
        for name, tensor in sorted(skeleton.state_dict().items()):
            if name.startswith("per_channel_statistics."):
                continue  # shared, written once below
            shape = tuple(tensor.shape)
            if name.endswith("weight") and len(shape) > 1:
                value = torch.randn(shape, generator=generator) / tensor[0].numel() ** 0.5
            else:
                value = 0.05 * torch.randn(shape, generator=generator)
            tensors[f"vae.{part}.{name}"] = value
    tensors["vae.per_channel_statistics.mean-of-means"] = 0.2 * torch.randn(LATENT_CHANNELS, generator=generator)
    tensors["vae.per_channel_statistics.std-of-means"] = 0.5 + torch.rand(LATENT_CHANNELS, generator=generator)
    file = folder / ("ltx-2.3-22b-vae-tiny.safetensors" if version == "2.3" else "ltx-2-19b-vae-tiny.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(file), metadata={"config": json.dumps(config)})
    return file


def load_reference_vae(file):
    """(VideoEncoder, VideoDecoder) from the file, as ModelLedger's VAE builders load them."""
    from ltx_core.model.video_vae import (
        VAE_DECODER_COMFY_KEYS_FILTER,
        VAE_ENCODER_COMFY_KEYS_FILTER,
        VideoDecoderConfigurator,
        VideoEncoderConfigurator,
    )

    return R.built_by_ltx_core(
        file,
        (VideoEncoderConfigurator, VAE_ENCODER_COMFY_KEYS_FILTER),
        (VideoDecoderConfigurator, VAE_DECODER_COMFY_KEYS_FILTER),
    )


def convert_and_load_ours(file, folder):
    """diffusers' single-file conversion of the file's `vae.` tensors (its config beside them, as the converter
    script writes it), saved as a diffusers folder, then the family's own loader."""
    from diffusers import AutoencoderKLLTX2Video
    from safetensors.torch import load_file

    from ltx_studio.models.families.ltx2 import LTX2Family

    config_folder = folder / "config"
    (config_folder / "vae").mkdir(parents=True, exist_ok=True)
    (config_folder / "vae" / "config.json").write_text(
        json.dumps({"_class_name": "AutoencoderKLLTX2Video", **DIFFUSERS_CONFIG}, indent=2)
    )
    tensors = load_file(str(file))
    count = len(tensors)
    converted = AutoencoderKLLTX2Video.from_single_file(
        tensors, config=str(config_folder), subfolder="vae", torch_dtype=torch.float32, local_files_only=True
    )
    on_meta = [n for n, p in [*converted.named_parameters(), *converted.named_buffers()] if p.device.type == "meta"]
    assert not on_meta, f"the conversion left parameters unloaded: {on_meta[:5]}"
    # every tensor of the file used: all of the model's parameters and buffers (the statistics as latents_mean/std)
    assert len(converted.state_dict()) == count
    converted.save_pretrained(str(folder / "vae"), safe_serialization=True)
    return LTX2Family().load_component("vae", str(folder), "vae", None, None, torch.float32).eval()


def write_diffusers_config(folder, version: str):
    """`vae/config.json` of the layout in `folder` (what the diffusers converter writes), for our loaders."""
    (folder / "vae").mkdir(parents=True, exist_ok=True)
    config = {"_class_name": "AutoencoderKLLTX2Video", **LAYOUTS[version][1]}
    (folder / "vae" / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def load_ours_from_file(file, folder, version: str):
    """The family's single-file path for a video VAE (ltx2_vae_file.py), the diffusers config in `folder`."""
    from ltx_studio.models.families.ltx2 import LTX2Family

    config = write_diffusers_config(folder / f"config-{version}", version)
    return LTX2Family().load_component("vae", str(file.parent), None, file.name, str(config), torch.float32)


@pytest.fixture(scope="module", params=["2.0", "2.3"])
def vaes(request, reference_code, tmp_path_factory):
    """(ltx_core's encoder, ltx_core's decoder, our AutoencoderKLLTX2Video, the layout), the same tiny file: for
    LTX-2.0 through diffusers' from_single_file and a diffusers folder, for LTX-2.3 through our single-file path."""
    version = request.param
    folder = tmp_path_factory.mktemp(f"ltx-video-vae-{version}")
    file = write_vae(folder, version=version)
    encoder, decoder = load_reference_vae(file)
    ours = convert_and_load_ours(file, folder) if version == "2.0" else load_ours_from_file(file, folder, version)
    return encoder, decoder, ours, version


def _pipe(vae):
    return SimpleNamespace(vae=vae, _execution_device=torch.device("cpu"))


def _clip(seed: int) -> np.ndarray:
    """uint8 frames [9, 64, 64, 3] (F = 8k + 1), as the family takes a clip."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (9, 64, 64, 3), generator=generator, dtype=torch.uint8).numpy()


def _pixels(frames: np.ndarray) -> torch.Tensor:
    """[1, 3, F, H, W] in [-1, 1]: the clip as both encoders take it."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0


def _ours_normalised(vae, frames):
    from diffusers import LTX2ConditionPipeline

    from ltx_studio.models.families.ltxv import encode_clip

    with torch.no_grad():  # as LTX2Family.encode_video calls it
        raw = encode_clip(_pipe(vae), frames, normalised=False)
    return LTX2ConditionPipeline._normalize_latents(raw, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)


def test_encode_is_ltx_cores(vaes, report):
    encoder, _, vae, version = vaes
    frames, other = _clip(0), _clip(1)
    with torch.no_grad():
        expected = encoder(_pixels(frames))
        expected_other = encoder(_pixels(other))
    ours = _ours_normalised(vae, frames)
    assert ours.shape == expected.shape == (1, LATENT_CHANNELS, 2, 2, 2)
    figure = R.max_relative(ours, expected)
    moved = R.max_relative(expected_other, expected)  # another clip: the compared latents move this much
    stats = R.max_relative(vae.latents_mean, encoder.per_channel_statistics.get_buffer("mean-of-means"))
    report(
        f"parity video VAE encode (LTX-{version} layout, 9x64x64 -> 2x2x2): max relative difference {figure:.2e} "
        f"(tolerance {TOLERANCE:.0e}); another clip moves the reference by {moved:.2e}"
    )
    assert stats == 0.0
    assert moved > MOVES
    assert figure <= TOLERANCE


def test_decode_is_ltx_cores(vaes, report):
    from ltx_studio.models.families.ltxv import decode_frames

    _, decoder, vae, version = vaes
    statistics = decoder.per_channel_statistics
    generator = torch.Generator().manual_seed(2)
    latents = torch.randn(1, LATENT_CHANNELS, 2, 2, 2, generator=generator)  # normalised, as ltx_core holds them
    other = torch.randn(1, LATENT_CHANNELS, 2, 2, 2, generator=generator)
    raw = statistics.un_normalize(latents)  # as a pass leaves them for the family (un-normalised)
    with torch.no_grad():
        expected = decoder(latents)
        expected_other = decoder(other)
        ours = vae.decode(raw, None, return_dict=False)[0]  # the call decode_frames makes (no timestep here)
    assert ours.shape == expected.shape == (1, 3, 9, 64, 64)
    figure = R.max_relative(ours, expected)
    moved = R.max_relative(expected_other, expected)
    sampling = SimpleNamespace(decode_timestep=0.05, decode_noise_scale=None)  # unused: no timestep conditioning
    frames = decode_frames(_pipe(vae), raw, sampling, torch.Generator().manual_seed(0), normalised=False)
    quantised = ((expected[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
    levels = int(np.abs(frames.astype(np.int16) - quantised.astype(np.int16)).max())
    report(
        f"parity video VAE decode (LTX-{version} layout, 2x2x2 -> 9x64x64): max relative difference {figure:.2e} "
        f"(tolerance {TOLERANCE:.0e}); decode_frames' uint8 frames at most {levels} level(s) from the reference's; "
        f"other latents move the reference by {moved:.2e}"
    )
    assert frames.shape == (9, 64, 64, 3) and frames.dtype == np.uint8
    assert moved > MOVES
    assert figure <= TOLERANCE
    assert levels <= 1


def test_23_layout_needs_our_mapping(reference_code, tmp_path, report):
    """diffusers 0.42.1's own single-file conversion of an LTX-2.3 file leaves the decoder's fourth level unloaded
    (its `up_blocks.7/8` keep Lightricks' names); our single-file path loads all of it. Flips to a failure when
    diffusers maps the 2.3 layout itself: then ltx2_vae_file.py's renaming can go."""
    from diffusers import AutoencoderKLLTX2Video
    from diffusers.loaders.single_file_utils import convert_ltx2_vae_to_diffusers
    from safetensors.torch import load_file

    file = write_vae(tmp_path, version="2.3")
    converted = convert_ltx2_vae_to_diffusers(load_file(str(file)))
    with torch.device("meta"):
        model = AutoencoderKLLTX2Video.from_config(DIFFUSERS_CONFIG_23)
    missing, unexpected = model.load_state_dict(converted, strict=False, assign=True)
    assert any(k.startswith("decoder.up_blocks.3.") for k in missing)
    assert any(k.startswith(("decoder.up_blocks.7.", "decoder.up_blocks.8.")) for k in unexpected)
    ours = load_ours_from_file(file, tmp_path, "2.3")
    assert len(ours.state_dict()) == len(load_file(str(file)))  # every tensor of the file, every parameter
    report(
        f"video VAE LTX-2.3 layout: diffusers 0.42.1's conversion alone leaves {len(missing)} parameters unloaded "
        f"and {len(unexpected)} tensors unused; our single-file path loads all {len(ours.state_dict())}"
    )


def test_our_single_file_path_loads_20_as_diffusers_does(reference_code, tmp_path):
    """For the LTX-2.0 layout the family's single-file path gives exactly what diffusers' from_single_file gives."""
    file = write_vae(tmp_path, version="2.0")
    expected = convert_and_load_ours(file, tmp_path).state_dict()
    ours = load_ours_from_file(file, tmp_path, "2.0").state_dict()
    assert set(ours) == set(expected)
    assert all(torch.equal(value, expected[key]) for key, value in ours.items())
