"""Tiny random LTX-Video checkpoints, built offline in diffusers format (LTX-2: `tiny_ltx2`).

The `demo-ltxv` model set is made of these: the same architecture as LTX-Video 0.9.7+ (32x/8x VAE,
T5 text encoder, LTX transformer, latent upsampler) at a size that runs in milliseconds on a CPU.
They are saved with `save_pretrained` and loaded back through exactly the code that loads a Hub
repo, so every code path is the real one; only the output is noise.

Real-size presets with random weights (`build_transformer("ltxv-13b")`, ...) have the same cost as
real weights and serve the GPU benchmarks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

# Bump when the tiny layout changes, so an old cache folder is rebuilt rather than misread.
TINY_VERSION = 2

TRANSFORMER_PRESETS = {
    # LTX-Video 2B (0.9.x): 28 blocks, width 2048 = 32 heads x 64.
    "ltxv-2b": dict(num_layers=28, num_attention_heads=32, attention_head_dim=64, cross_attention_dim=2048),
    # LTX-Video 13B (0.9.7/0.9.8): 48 blocks, width 4096 = 32 heads x 128.
    "ltxv-13b": dict(num_layers=48, num_attention_heads=32, attention_head_dim=128, cross_attention_dim=4096),
}
# The demo set's three transformers differ in depth (and, being seeded apart, in weights).
TINY_TRANSFORMERS = {
    "fast": dict(num_layers=1, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16),
    "distilled": dict(num_layers=2, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16),
    "pro": dict(num_layers=3, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16),
}
TINY_CAPTION_CHANNELS = 32
REAL_CAPTION_CHANNELS = 4096

# The LTX-Video 0.9.5+ VAE (used by 0.9.7 and 0.9.8): 32x spatial, 8x temporal, 128 channels.
REAL_VAE = dict(
    block_out_channels=(128, 256, 512, 1024, 2048),
    decoder_block_out_channels=(256, 512, 1024),
    layers_per_block=(4, 6, 6, 2, 2),
    decoder_layers_per_block=(5, 5, 5, 5),
    latent_channels=128,
)
# Same block structure, narrow channels. Residual 2x upsamplers need decoder channels that grow.
TINY_VAE = dict(
    block_out_channels=(8, 8, 16, 16, 16),
    decoder_block_out_channels=(8, 16, 32),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1),
    latent_channels=128,
)

REAL_T5 = dict(d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, vocab_size=32128)
TINY_T5 = dict(d_model=TINY_CAPTION_CHANNELS, d_kv=8, d_ff=64, num_layers=2, num_heads=4)

TINY_WORDS = (
    "a an the of and in on with at to from by is are cat dog astronaut coffee cup rocket sky sea "
    "city street night day sun moon light dark red blue green gold white black slow fast camera "
    "pan zoom close up wide shot walks runs flies looks smiles rain snow fire water mountain forest "
    "portrait cinematic film video quality worst blurry jittery distorted inconsistent motion"
).split()


def build_tokenizer():
    """A T5 Unigram tokenizer built entirely in code (no sentencepiece file, no Hub)."""
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(f"\u2581{word}", -5.0) for word in TINY_WORDS]
    pieces += [(chr(c), -10.0) for c in range(33, 127)]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=128)


def vae_config(preset: dict) -> dict:
    """Full AutoencoderKLLTXVideo kwargs for the 0.9.5+ block structure with the preset's widths."""
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("LTXVideo095DownBlock3D",) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
        **preset,
    )


def build_vae(preset: dict = TINY_VAE, seed: int = 0):
    """An AutoencoderKLLTXVideo with random weights (tiny by default)."""
    from diffusers import AutoencoderKLLTXVideo

    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(**vae_config(preset))
    # Non-trivial latent statistics, so normalisation is exercised like in the real VAE.
    channels = preset["latent_channels"]
    vae.latents_mean.copy_(torch.linspace(-0.1, 0.1, channels))
    vae.latents_std.copy_(torch.linspace(0.5, 1.5, channels))
    return vae


def build_transformer(preset: str | dict, caption_channels: int | None = None, seed: int = 0):
    """An LTXVideoTransformer3DModel with random weights: a preset name or explicit sizes."""
    from diffusers import LTXVideoTransformer3DModel

    sizes = TRANSFORMER_PRESETS[preset] if isinstance(preset, str) else preset
    if caption_channels is None:
        caption_channels = REAL_CAPTION_CHANNELS if isinstance(preset, str) else TINY_CAPTION_CHANNELS
    torch.manual_seed(seed)
    return LTXVideoTransformer3DModel(in_channels=128, out_channels=128, caption_channels=caption_channels, **sizes)


def build_text_encoder(preset: dict = TINY_T5, seed: int = 0):
    """A T5 encoder with random weights (tiny by default, T5-XXL sizes with REAL_T5)."""
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(**{"vocab_size": 512, **preset}, feed_forward_proj="gated-gelu", is_encoder_decoder=False)
    return T5EncoderModel(config)


def build_upsampler(mid_channels: int = 32, blocks: int = 1, seed: int = 0):
    """A latent upsampler x2 (mid_channels must be a multiple of 32: GroupNorm(32)); real size is 512, 4."""
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    torch.manual_seed(seed)
    return LTXLatentUpsamplerModel(in_channels=128, mid_channels=mid_channels, num_blocks_per_stage=blocks)


def build_scheduler():
    """The flow-matching scheduler LTX-Video uses, without dynamic shifting (see LTX_FACTS)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False, shift_terminal=None)


def save_demo_set(folder: Path) -> None:
    """Write the demo set as a diffusers pipeline folder plus extra transformers and an upsampler.

    Layout: a full `LTXConditionPipeline` folder (its `transformer/` is the distilled one),
    `transformer-fast/`, `transformer-pro/` and `latent_upsampler/`, all in diffusers format.
    """
    from diffusers import LTXConditionPipeline

    torch.set_grad_enabled(False)
    transformers = {
        name: build_transformer(sizes, seed=10 + i) for i, (name, sizes) in enumerate(TINY_TRANSFORMERS.items())
    }
    pipe = LTXConditionPipeline(
        scheduler=build_scheduler(),
        vae=build_vae(),
        text_encoder=build_text_encoder(),
        tokenizer=build_tokenizer(),
        transformer=transformers["distilled"],
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    transformers["fast"].save_pretrained(folder / "transformer-fast", safe_serialization=True)
    transformers["pro"].save_pretrained(folder / "transformer-pro", safe_serialization=True)
    build_upsampler().save_pretrained(folder / "latent_upsampler", safe_serialization=True)
    (folder / "tiny.json").write_text(json.dumps({"version": TINY_VERSION, "family": "ltxv"}))


def cache_root() -> Path:
    """Where built models and calibrations live (`LTX_STUDIO_CACHE`, else the user's cache dir)."""
    root = os.environ.get("LTX_STUDIO_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ltx-studio"


FAMILIES = ("ltxv", "ltx2")  # `tiny:<family>` in the variants file


def family_of(repo: str) -> str:
    """The family of a `tiny:<family>` source (an unknown one is refused when the variants file is read)."""
    return repo.removeprefix("tiny:")


def demo_folder(root: Path | None = None, family: str = "ltxv") -> Path:
    return (root or cache_root()) / f"demo-{family}-v{TINY_VERSION}"


def demo_set_built(root: Path | None = None, family: str = "ltxv") -> bool:
    return (demo_folder(root, family) / "tiny.json").exists()


def ensure_demo_set(root: Path | None = None, family: str = "ltxv") -> Path:
    """Build a family's tiny set once (atomically: built aside, then renamed) and return its folder."""
    if family not in FAMILIES:
        raise ValueError(f"no tiny set for family {family!r}")
    folder = demo_folder(root, family)
    if (folder / "tiny.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        if family == "ltx2":
            from . import tiny_ltx2

            tiny_ltx2.save_demo_set(building, TINY_VERSION)
        else:
            save_demo_set(building)
        try:
            building.rename(folder)
        except OSError:
            # Another process finished first; its copy is identical (deterministic build).
            if not (folder / "tiny.json").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def transformer_config_folder(preset: str) -> Path:
    """A folder holding just the diffusers config of a real-size transformer preset.

    `from_single_file(config=...)` reads the architecture from it instead of a Hub repo.
    """
    folder = cache_root() / "configs" / preset
    if not (folder / "config.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "_class_name": "LTXVideoTransformer3DModel",
            "in_channels": 128,
            "out_channels": 128,
            "caption_channels": REAL_CAPTION_CHANNELS,
            **TRANSFORMER_PRESETS[preset],
        }
        tmp = folder / "config.json.tmp"
        tmp.write_text(json.dumps(config, indent=2))
        tmp.replace(folder / "config.json")
    return folder
