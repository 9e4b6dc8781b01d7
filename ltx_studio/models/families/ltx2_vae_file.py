"""The video VAE of a Lightricks LTX-2 single file (`vae.*` tensors) as diffusers' AutoencoderKLLTX2Video.

diffusers 0.42.1's single-file conversion (`convert_ltx2_vae_to_diffusers`) knows LTX-2.0's block numbering
only: a decoder of three upsamplers, Lightricks' `up_blocks.0..6`. LTX-2.3's decoder has four (spatiotemporal,
spatiotemporal, temporal, spatial: `up_blocks.0..8`), which diffusers' model expresses by its config alone
(`upsample_type`, `upsample_factor`, `upsample_residual`), so only the last two blocks' names are missing: they
are renamed here as diffusers' own converter script does for 2.3 (scripts/convert_ltx2_to_diffusers.py,
`LTX_2_3_VIDEO_VAE_RENAME_DICT`: `up_blocks.7` -> `up_blocks.3.upsamplers.0`, `up_blocks.8` -> `up_blocks.3`),
after diffusers' 2.0 conversion, which leaves them untouched. The architecture is the config of the diffusers
VAE the file follows (`vae/config.json` of a set's repo or folder), as for the transformer.
"""

from __future__ import annotations

from pathlib import Path

import torch

PREFIX = "vae."
# Lightricks' names of LTX-2.3's fourth decoder level, after diffusers' 2.0 conversion -> diffusers' names.
LTX_2_3_DECODER_BLOCKS = {
    "decoder.up_blocks.7.": "decoder.up_blocks.3.upsamplers.0.",
    "decoder.up_blocks.8.": "decoder.up_blocks.3.",
}


def convert_video_vae(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers' names for a file's `vae.*` tensors (LTX-2.0 or LTX-2.3 layout)."""
    from diffusers.loaders.single_file_utils import convert_ltx2_vae_to_diffusers

    converted = convert_ltx2_vae_to_diffusers(dict(tensors))
    renamed = {}
    for key, value in converted.items():
        for old, new in LTX_2_3_DECODER_BLOCKS.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        renamed[key] = value
    return renamed


def load_video_vae(location: str, file: str, config: str | None, dtype):
    """AutoencoderKLLTX2Video with the `vae.*` tensors of the single file `file` in `location` (a folder, or a Hub
    id in the HF cache); `config`: the diffusers repo or folder whose `vae/config.json` gives the architecture.
    Every parameter must come from the file, and every tensor of it fit."""
    from diffusers import AutoencoderKLLTX2Video
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open

    if not config:
        raise ValueError(f"{file} needs a config: the diffusers repo or folder whose vae/config.json it follows")
    path = Path(location) / file
    if not path.exists():
        path = Path(hf_hub_download(location, file, local_files_only=True))
    if Path(config).expanduser().is_dir():
        config = str(Path(config).expanduser())
    with safe_open(str(path), framework="pt") as checkpoint:
        names = [key for key in checkpoint.keys() if key.startswith(PREFIX)]  # noqa: SIM118 (not a dict)
        tensors = {key: checkpoint.get_tensor(key) for key in names}
    if not tensors:
        raise ValueError(f"{path.name} holds no video VAE weights (no {PREFIX}* tensors)")
    settings = AutoencoderKLLTX2Video.load_config(config, subfolder="vae", local_files_only=True)
    with torch.device("meta"):
        vae = AutoencoderKLLTX2Video.from_config(settings)
    state = convert_video_vae(tensors)
    return assigned(vae, state, f"{path.name}: its video VAE", f"{config}'s vae/config.json").to(dtype).eval()


def assigned(model: torch.nn.Module, state: dict, what: str, against: str) -> torch.nn.Module:
    """`model` (built on the meta device) holding exactly `state`, or ValueError saying what does not fit
    (`what`: "FILE: its video VAE"; `against`: the config it was built from)."""
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(
            f"{what} does not fit {against} (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    on_meta = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.device.type == "meta"]
    if on_meta:
        raise ValueError(f"{what}: {on_meta[:3]} were not in the file")
    return model
