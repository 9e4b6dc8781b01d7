"""The weights a finishing pass (models/passes.py) names: its IC-LoRA, or its temporal x2 latent upsampler.

Real ones are read from the HF cache ("owner/repo/file.safetensors", never downloaded: a missing one is one
line with its `hf download` command); a demo set's (`tiny:NAME`) are built once, offline and
deterministically, and loaded through the same code: a tiny LoRA (set_loras.ensure_tiny_lora), or a tiny
temporal upsampler saved as Lightricks ships one (one safetensors file, its architecture as JSON in the
`config` metadata entry), read by the single-file loader the real one goes through."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from ..core.errors import WeightsMissing
from .passes import Pass
from .set_loras import TINY_PREFIX, set_lora

TINY_TEMPORAL_VERSION = 1


def pass_lora(model_set, one: Pass) -> str:
    """The file (a path) of an `ic` or `hdr` pass's IC-LoRA."""
    name = one.lora.removeprefix(TINY_PREFIX)
    return set_lora(model_set, one.lora, f"the {one.name} pass", tiny_name=f"pass-{name}", seed=_seed(name))


def temporal_upsampler(manager, one: Pass):
    """A `temporal` pass's x2 temporal latent upsampler (diffusers' LTX2LatentUpsamplerModel), on the device."""
    from .families.ltx2_upsampler_file import load_latent_upsampler

    def load():
        location, file = _located(one.upsampler, f"the {one.name} pass")
        return load_latent_upsampler(location, file, manager.policy.dtype, temporal=True)

    return manager.pass_model(one.upsampler, load)


def _located(source: str, what: str) -> tuple[str, str]:
    """(folder or Hub id, file) of an upsampler: a tiny one is built first."""
    if source.startswith(TINY_PREFIX):
        path = ensure_tiny_temporal(source.removeprefix(TINY_PREFIX))
        return str(path.parent), path.name
    from .loras import _hub_cached

    owner, repo, file = (source.split("/", 2) + ["", ""])[:3]
    found = _hub_cached(source)
    if found is None or not Path(found).is_file():
        raise WeightsMissing(
            f"{what} needs {owner}/{repo} ({file}), which is not on this machine: hf download {owner}/{repo} {file}"
        )
    return str(Path(found).parent), Path(found).name


def ensure_tiny_temporal(name: str) -> Path:
    """A tiny x2 temporal latent upsampler (the demo sets' 128 latent channels), built once, saved as one file."""
    import torch
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel
    from safetensors.torch import save_file

    from .tiny import TINY_VERSION, cache_root
    from .tiny_ltx2 import LATENT_CHANNELS

    folder = cache_root() / f"pass-weights-v{TINY_VERSION}.{TINY_TEMPORAL_VERSION}"
    path = folder / f"{name}.safetensors"
    if path.exists():
        return path
    # ltx_core's LatentUpsampler keywords, as Lightricks writes them into a file's `config` metadata.
    config = {
        "in_channels": LATENT_CHANNELS,
        "mid_channels": 32,
        "num_blocks_per_stage": 1,
        "dims": 3,
        "spatial_upsample": False,
        "temporal_upsample": True,
    }
    torch.manual_seed(_seed(name))
    model = LTX2LatentUpsamplerModel(**config)
    with torch.no_grad():  # near the identity in time: each new latent frame a mix of its neighbours
        for parameter in model.parameters():
            parameter.mul_(0.5)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.building")  # two processes building at once never share one
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp), metadata={"config": json.dumps(config)})
    tmp.rename(path)  # whole, or not at all
    return path


def _seed(name: str) -> int:
    return 3000 + zlib.crc32(name.encode()) % 1000
