"""Lightricks' audio VAE and vocoder for the parity tests, and a tiny LTX-2.0 file of them.

ltx_core's `ltx_core.model.audio_vae` imports torchaudio (its `AudioProcessor`: waveform -> log-mel through
torchaudio's pure-torch MelSpectrogram and resample); scripts/setup.sh --dev installs torchaudio in its
extension-less mode (requirements-parity.txt says why), so the package is imported as it is. Without it the
tests that use this module skip (fail under CI) and say so: conftest.py's `audio_reference_code`.

The tiny file: ltx_core's own configurators build the decoder, encoder and vocoder skeletons from a `config`
shaped as the LTX-2.0 checkpoint's (`audio_vae.model.params.ddconfig`, `preprocessing`, a flat `vocoder` with
`resblock` "1"), random weights of a plausible scale, saved as ONE safetensors file in Lightricks' layout:
`audio_vae.encoder.*`, `audio_vae.decoder.*`, `audio_vae.per_channel_statistics.*` (shared), `vocoder.*`.
The real: ch 128, z 8 x 16 latent mel bins (= 128 statistics), 64 mel bins, vocoder 1024 wide. Tiny: ch 32,
z 2 (2 x 16 = 32 statistics, which ltx_core sizes by `ch`), one resnet per level, a vocoder 32 wide; the
mel side stays 2 x 64 (ltx_core's vocoder hard-codes 128 input channels) and the rates stay the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .reference import built_by_ltx_core

LATENT_CHANNELS = 2  # z_channels (the real: 8)
MEL_BINS = 64  # the real; the vocoder's 128 inputs are 2 channels x 64 bins
BASE = 32  # ch: = z x latent mel bins, the size of the per-channel statistics (the real: 128)
VOCODER_WIDTH = 32  # upsample_initial_channel (the real: 1024)

# ltx_core's `config["audio_vae"]` / `config["vocoder"]` of the tiny file, shaped as LTX-2.0's.
AUDIO_VAE_CONFIG = {
    "model": {
        "params": {
            "sampling_rate": 16000,
            "ddconfig": {
                "ch": BASE,
                "out_ch": 2,
                "in_channels": 2,
                "ch_mult": [1, 2, 4],
                "num_res_blocks": 1,
                "attn_resolutions": [],
                "resolution": 256,
                "z_channels": LATENT_CHANNELS,
                "double_z": True,
                "norm_type": "pixel",
                "causality_axis": "height",
                "dropout": 0.0,
                "mid_block_add_attention": False,
                "mel_bins": MEL_BINS,
            },
        }
    },
    "preprocessing": {"stft": {"hop_length": 160, "filter_length": 1024, "causal": True}},
}
VOCODER_CONFIG = {
    "resblock": "1",
    "stereo": True,
    "resblock_kernel_sizes": [3, 7, 11],
    "upsample_rates": [6, 5, 2, 2, 2],
    "upsample_kernel_sizes": [16, 15, 8, 4, 4],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "upsample_initial_channel": VOCODER_WIDTH,
    "output_sampling_rate": 24000,
}

# The same architectures as diffusers' configs, as its converter script (scripts/convert_ltx2_to_diffusers.py,
# `get_ltx2_audio_vae_config` / `get_ltx2_vocoder_config`, version "2.0") writes them, with these widths.
DIFFUSERS_AUDIO_VAE_CONFIG = {
    "_class_name": "AutoencoderKLLTX2Audio",
    "base_channels": BASE,
    "output_channels": 2,
    "ch_mult": [1, 2, 4],
    "num_res_blocks": 1,
    "attn_resolutions": None,
    "in_channels": 2,
    "resolution": 256,
    "latent_channels": LATENT_CHANNELS,
    "norm_type": "pixel",
    "causality_axis": "height",
    "dropout": 0.0,
    "mid_block_add_attention": False,
    "sample_rate": 16000,
    "mel_hop_length": 160,
    "is_causal": True,
    "mel_bins": MEL_BINS,
    "double_z": True,
}
DIFFUSERS_VOCODER_CONFIG = {
    "_class_name": "LTX2Vocoder",
    "in_channels": 2 * MEL_BINS,
    "hidden_channels": VOCODER_WIDTH,
    "out_channels": 2,
    "upsample_kernel_sizes": [16, 15, 8, 4, 4],
    "upsample_factors": [6, 5, 2, 2, 2],
    "resnet_kernel_sizes": [3, 7, 11],
    "resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "leaky_relu_negative_slope": 0.1,
    "output_sampling_rate": 24000,
}
# diffusers' vocoder key mapping, verbatim from scripts/convert_ltx2_to_diffusers.py (LTX_2_0_VOCODER_RENAME_DICT;
# the script is not in the wheel, and diffusers 0.42.1 has no single-file conversion for the vocoder).
VOCODER_RENAME = {"ups": "upsamplers", "resblocks": "resnets", "conv_pre": "conv_in", "conv_post": "conv_out"}


def _random(name: str, tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    shape = tuple(tensor.shape)
    if name.endswith("weight") and len(shape) > 1:
        return torch.randn(shape, generator=generator) / tensor[0].numel() ** 0.5
    return 0.05 * torch.randn(shape, generator=generator)


def write_audio_file(folder: Path, seed: int = 0) -> Path:
    """The tiny audio VAE and vocoder in Lightricks' layout (one file, config in its metadata)."""
    from ltx_core.model import audio_vae
    from safetensors.torch import save_file

    config = {"audio_vae": AUDIO_VAE_CONFIG, "vocoder": VOCODER_CONFIG}
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    parts = (
        ("audio_vae.encoder.", audio_vae.AudioEncoderConfigurator),
        ("audio_vae.decoder.", audio_vae.AudioDecoderConfigurator),
        ("vocoder.", audio_vae.VocoderConfigurator),
    )
    for prefix, configurator in parts:
        with torch.device("meta"):
            skeleton = configurator.from_config(config)
        for name, tensor in sorted(skeleton.state_dict().items()):
            if not name.startswith("per_channel_statistics."):  # shared, written once below
                tensors[prefix + name] = _random(name, tensor, generator)
    tensors["audio_vae.per_channel_statistics.mean-of-means"] = 0.2 * torch.randn(BASE, generator=generator)
    tensors["audio_vae.per_channel_statistics.std-of-means"] = 0.5 + torch.rand(BASE, generator=generator)
    file = folder / "ltx-2-19b-audio-tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(file), metadata={"config": json.dumps(config)})
    return file


def load_reference(file: Path):
    """(AudioEncoder, AudioDecoder, Vocoder) from the file, with the builders and key filters ModelLedger uses."""
    from ltx_core.model import audio_vae

    return built_by_ltx_core(
        file,
        (audio_vae.AudioEncoderConfigurator, audio_vae.AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER),
        (audio_vae.AudioDecoderConfigurator, audio_vae.AUDIO_VAE_DECODER_COMFY_KEYS_FILTER),
        (audio_vae.VocoderConfigurator, audio_vae.VOCODER_COMFY_KEYS_FILTER),
    )


def convert_ours(file: Path, folder: Path) -> Path:
    """A diffusers folder (`audio_vae/`, `vocoder/`) converted from the file by diffusers' own mappings: the audio
    VAE's `audio_vae.` tensors (as the converter script takes them) by diffusers' single-file conversion function
    `convert_ltx2_audio_vae_to_diffusers` (0.42.1 registers it, but AutoencoderKLLTX2Audio has no
    `from_single_file`), the vocoder's by the converter script's rename table; both loaded strictly."""
    from diffusers import AutoencoderKLLTX2Audio
    from diffusers.loaders.single_file_utils import convert_ltx2_audio_vae_to_diffusers
    from diffusers.pipelines.ltx2 import LTX2Vocoder
    from safetensors.torch import load_file

    tensors = load_file(str(file))
    audio = {k: v for k, v in tensors.items() if k.startswith("audio_vae.")}
    vae = AutoencoderKLLTX2Audio.from_config(
        {k: v for k, v in DIFFUSERS_AUDIO_VAE_CONFIG.items() if k != "_class_name"}
    )
    vae.load_state_dict(convert_ltx2_audio_vae_to_diffusers(audio), strict=True)  # every tensor used, none left
    vae.save_pretrained(str(folder / "audio_vae"), safe_serialization=True)

    vocoder = LTX2Vocoder.from_config({k: v for k, v in DIFFUSERS_VOCODER_CONFIG.items() if k != "_class_name"})
    renamed = {}
    for key, value in tensors.items():
        if key.startswith("vocoder."):
            key = key.removeprefix("vocoder.")
            for old, new in VOCODER_RENAME.items():
                key = key.replace(old, new)
            renamed[key] = value
    vocoder.load_state_dict(renamed, strict=True)
    vocoder.save_pretrained(str(folder / "vocoder"), safe_serialization=True)
    return folder
