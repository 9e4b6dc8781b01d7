"""The latent upsampler of a Lightricks single file (e.g. `ltx-2.3-spatial-upscaler-x2-1.1.safetensors`) as
diffusers' LTX2LatentUpsamplerModel.

Lightricks ships an upsampler as one safetensors file: its weights under ltx_core's `LatentUpsampler` names and
its architecture as JSON in the `config` metadata entry, which ltx_core's builder reads (ltx_pipelines'
ModelLedger: `Builder(model_path=spatial_upsampler_path, model_class_configurator=LatentUpsamplerConfigurator)`).
diffusers' model is the same architecture under the same names; only the constructor's keywords differ
(`spatial_scale` -> `rational_spatial_scale`, `rational_resampler` -> `use_rational_resampler`), so the file
loads as is, strictly, as diffusers' own converter loads it (scripts/convert_ltx2_to_diffusers.py:
`LTX2LatentUpsamplerModel(**config).load_state_dict(file, strict=True)`). A key the configurator leaves out
takes ltx_core's default (`LatentUpsamplerConfigurator.from_config`), not diffusers' (they differ:
`mid_channels` 512 vs 1024, `rational_resampler` False vs True).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .ltx2_vae_file import assigned

# ltx_core 1.0.0's LatentUpsamplerConfigurator.from_config defaults, in diffusers' keywords.
LTX_CORE_DEFAULTS = {
    "in_channels": 128,
    "mid_channels": 512,
    "num_blocks_per_stage": 4,
    "dims": 3,
    "spatial_upsample": True,
    "temporal_upsample": False,
    "rational_spatial_scale": 2.0,
    "use_rational_resampler": False,
}
RENAMED = {"spatial_scale": "rational_spatial_scale", "rational_resampler": "use_rational_resampler"}


def upsampler_config(metadata: dict[str, str] | None) -> dict:
    """diffusers' LTX2LatentUpsamplerModel keywords for a file's safetensors metadata (its `config` JSON)."""
    raw = json.loads((metadata or {}).get("config") or "{}")
    config = dict(LTX_CORE_DEFAULTS)
    for key, value in raw.items():
        key = RENAMED.get(key, key)
        if key in config:
            config[key] = value
    config["rational_spatial_scale"] = float(config["rational_spatial_scale"])
    return config


def load_latent_upsampler(location: str, file: str, dtype, *, temporal: bool = False):
    """LTX2LatentUpsamplerModel from the single file `file` in `location` (a folder, or a Hub id in the HF cache;
    never downloaded). The studio's two-stage renders upsample x2 in space, a frame-rate pass x2 in time
    (`temporal`): a file of another kind is refused, and every parameter must come from the file, every tensor of it fit."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open

    path = Path(location) / file
    if not path.exists():
        path = Path(hf_hub_download(location, file, local_files_only=True))
    with safe_open(str(path), framework="pt") as checkpoint:
        config = upsampler_config(checkpoint.metadata())
        tensors = {key: checkpoint.get_tensor(key) for key in checkpoint.keys()}  # noqa: SIM118 (not a dict)
    if temporal:
        right = config["temporal_upsample"] and not config["spatial_upsample"]
    else:
        right = (
            config["spatial_upsample"] and not config["temporal_upsample"] and config["rational_spatial_scale"] == 2.0
        )
    if not right:
        raise ValueError(
            f"{path.name} is not a {'temporal' if temporal else 'spatial'} x2 latent upsampler (its config: "
            f"spatial {config['spatial_upsample']}, "
            f"temporal {config['temporal_upsample']}, scale {config['rational_spatial_scale']:g})"
        )
    with torch.device("meta"):
        model = LTX2LatentUpsamplerModel(**config)
    return assigned(model, tensors, f"{path.name}: its upsampler", "the config in its metadata").to(dtype).eval()
