"""Camera moves: dolly in/out/left/right, jib up/down, static. Each is a camera-control LoRA named in
the model set's `cameras` table (data in variants.toml), applied through the LoRA machinery (loras.py:
no transformer reload; read once per process). LTX-2 sets use Lightricks' camera-control LoRAs
(trained on LTX-2 19B, used on LTX-2.3 too); the demo sets get tiny ones built offline, so the same
path runs in tests. A camera LoRA is never downloaded here: a missing one is one line with the command.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..core.errors import BadInput, WeightsMissing
from .variants import CAMERA_MOVES as NAMES

TINY_PREFIX = "tiny:"


def camera_lora(model_set, name: str) -> str:
    """The LoRA file (a path) of a camera move on `model_set`, or a one-line error."""
    name = (name or "").strip().lower()
    if name not in NAMES:
        raise BadInput(f"unknown camera move {name!r} (choose from: {', '.join(NAMES)})")
    if not model_set.cameras:
        with_cameras = "LTX-2 sets (ltx2, ltx2-19b, demo)"
        raise BadInput(f"model set {model_set.name!r} has no camera moves; they come with {with_cameras}")
    source = model_set.cameras.get(name)
    if source is None:
        raise BadInput(
            f"model set {model_set.name!r} has no {name!r} camera move (it has: {', '.join(model_set.cameras)})"
        )
    if source.startswith(TINY_PREFIX):
        return str(ensure_camera_lora(model_set, name))
    from .loras import _hub_cached

    found = _hub_cached(source)
    if found is None or not Path(found).is_file():
        owner, repo, file = (source.split("/", 2) + ["", ""])[:3]
        repo = f"{owner}/{repo}"
        raise WeightsMissing(
            f"the {name} camera move needs {repo} ({file}), which is not on this machine: hf download {repo} {file}"
        )
    return str(found)


CAMERA_LORA_RANK = 4
CAMERA_LORA_VERSION = 2  # 2: the first block only, so one LoRA fits every demo variant (1, 2 and 3 blocks)
CAMERA_LORA_TARGETS = r"transformer_blocks\.0\.attn1\.to_(q|k|v|out\.0)"


def ensure_camera_lora(model_set, name: str) -> Path:
    """A tiny camera-control LoRA for a demo set's transformers, built once, offline and deterministically:
    random, non-zero weights on the first block's attention projections (every demo variant has that
    block), saved as diffusers saves LoRAs. Output is noise, like the set's."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from .families import get_family
    from .manager import resolve
    from .tiny import TINY_VERSION, cache_root

    source = model_set.variant(model_set.default_variant).transformer
    folder = cache_root() / f"camera-loras-v{TINY_VERSION}.{CAMERA_LORA_VERSION}" / model_set.family
    path = folder / f"camera-{name}.safetensors"
    if path.exists():
        return path
    family = get_family(model_set.family)
    transformer = family.load_component(
        "transformer", resolve(source), source.subfolder, source.file, source.config, torch.float32
    )
    config = LoraConfig(
        r=CAMERA_LORA_RANK, lora_alpha=2 * CAMERA_LORA_RANK, target_modules=CAMERA_LORA_TARGETS,
        init_lora_weights=False,
    )  # fmt: skip
    torch.manual_seed(1000 + NAMES.index(name))
    transformer.add_adapter(config)
    folder.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=folder))
    try:
        _lora_pipeline_class(model_set.family).save_lora_weights(
            building,
            transformer_lora_layers=get_peft_model_state_dict(transformer),
            weight_name=path.name,
            transformer_lora_adapter_metadata=config.to_dict(),
        )
        (building / path.name).rename(path)  # whole, or not at all
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return path


def _lora_pipeline_class(family: str):
    from diffusers import LTX2ConditionPipeline, LTXConditionPipeline

    return LTX2ConditionPipeline if family == "ltx2" else LTXConditionPipeline
