"""The transformer of a Lightricks LTX-2 single file (the whole model in one safetensors) as diffusers'
LTX2VideoTransformer3DModel: only its `model.diffusion_model.*` tensors are read. The video VAE of such a
file is ltx2_vae_file.py's; a latent upsampler file, ltx2_upsampler_file.py's."""

from __future__ import annotations

from pathlib import Path


def load_transformer_file(cls, location: str, file: str, config: str | None, dtype):
    """The transformer of a Lightricks checkpoint that holds the whole model (the transformer under
    `model.diffusion_model.`, the VAEs, vocoder and text projection beside it): only the transformer's
    tensors are read, then diffusers' own conversion (`from_single_file`) maps them."""
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open

    if not config:
        raise ValueError(
            f"{file} needs a config: the diffusers repo or folder whose transformer/config.json it follows"
        )
    path = Path(location) / file
    if not path.exists():
        path = Path(hf_hub_download(location, file, local_files_only=True))
    folder = Path(config).expanduser()
    if (folder / "transformer" / "config.json").exists():
        config = str(folder)
    else:
        try:  # a Hub id: its transformer config must be in the HF cache (never downloaded here)
            hf_hub_download(config, "transformer/config.json", local_files_only=True)
        except Exception:
            raise ValueError(
                f"the architecture of {file} is {config}'s transformer/config.json, which is not on this "
                f"machine: hf download {config} transformer/config.json"
            ) from None
    prefix = "model.diffusion_model."
    with safe_open(str(path), framework="pt") as checkpoint:
        names = [key for key in checkpoint.keys() if key.startswith(prefix)]  # noqa: SIM118 (not a dict)
        tensors = {key: checkpoint.get_tensor(key) for key in names}
    if not tensors:
        raise ValueError(f"{file} holds no transformer weights (no {prefix}* tensors)")
    # LTX-2.3 files call the prompt cross-attention AdaLN `(audio_)prompt_adaln_single`, diffusers' model
    # `(audio_)prompt_adaln`; its single-file converter (0.42.1) renames only `adaln_single`, so it would
    # leave those weights unused (and the model on the meta device). Renamed here, as diffusers' own
    # convert_ltx2_to_diffusers.py does for 2.3; LTX-2.0 files have no such keys.
    stale = (f"{prefix}prompt_adaln_single.", f"{prefix}audio_prompt_adaln_single.")
    for key in [key for key in tensors if key.startswith(stale)]:
        tensors[key.replace("prompt_adaln_single.", "prompt_adaln.", 1)] = tensors.pop(key)
    return cls.from_single_file(tensors, config=config, subfolder="transformer", dtype=dtype, local_files_only=True)
