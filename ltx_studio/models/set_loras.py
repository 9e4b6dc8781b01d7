"""LoRAs a model set names as data: its camera moves, its IC-LoRAs, and the distilled LoRA its Pro variant refines
with (Lightricks' two-stage recipe: the dev transformer plus the distilled LoRA). Each is read from
the HF cache (never downloaded here: a missing one is one line with the `hf download` command), or,
on the demo sets (`tiny:`), a tiny LoRA built once, offline and deterministically, so the same path
runs in the tests.

LTX-2.3's distilled LoRA comes in Lightricks' key layout (`diffusion_model.<ltx_core module>`), which names the
prompt cross-attention AdaLN `(audio_)prompt_adaln_single`, diffusers' `(audio_)prompt_adaln`. Nothing is renamed
here: diffusers' LTX-2 LoRA converter (0.42.1) renames it itself, unlike its single-file transformer converter
(families/ltx2.py renames there); tests/parity/test_refine_lora.py holds both."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..core.errors import WeightsMissing

TINY_PREFIX = "tiny:"
TINY_LORA_RANK = 4
TINY_LORA_VERSION = 2  # 2: the first block only, so one LoRA fits every demo variant (1, 2 and 3 blocks)
TINY_LORA_TARGETS = r"transformer_blocks\.0\.attn1\.to_(q|k|v|out\.0)"


def offered(model_set) -> frozenset[str]:
    """The Hub ids of the LoRAs the set names itself (camera moves, IC-LoRAs, the refine LoRA): the
    only Hub ids a server door takes as a LoRA (`loras.served`). A demo set's tiny ones are built, not named."""
    names = [*model_set.cameras.values(), *model_set.ic_loras]
    names += [v.sampling.refine_lora for v in model_set.variants.values() if v.sampling.refine_lora]
    return frozenset(n for n in names if not n.startswith(TINY_PREFIX))


def set_lora(model_set, source: str, what: str, *, tiny_name: str, seed: int) -> str:
    """The file (a path) of a LoRA a set names: "OWNER/REPO/FILE" in the HF cache, or on a demo set
    ("tiny:...") a tiny one built here as `tiny_name` from `seed`. `what` names it in the one-line error."""
    if source.startswith(TINY_PREFIX):
        return str(ensure_tiny_lora(model_set, tiny_name, seed))
    from .loras import _hub_cached

    found = _hub_cached(source)
    if found is None or not Path(found).is_file():
        owner, repo, file = (source.split("/", 2) + ["", ""])[:3]
        repo = f"{owner}/{repo}"
        raise WeightsMissing(f"{what} needs {repo} ({file}), which is not on this machine: hf download {repo} {file}")
    return str(found)


def ensure_tiny_lora(model_set, name: str, seed: int) -> Path:
    """A tiny LoRA for a demo set's transformers, built once, offline and deterministically: random,
    non-zero weights on the first block's attention projections (every demo variant has that block),
    saved as diffusers saves LoRAs. Output is noise, like the set's."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from .families import get_family
    from .manager import resolve
    from .tiny import TINY_VERSION, cache_root

    source = model_set.variant(model_set.default_variant).transformer
    folder = cache_root() / f"set-loras-v{TINY_VERSION}.{TINY_LORA_VERSION}" / model_set.family
    path = folder / f"{name}.safetensors"
    if path.exists():
        return path
    family = get_family(model_set.family)
    transformer = family.load_component(
        "transformer", resolve(source), source.subfolder, source.file, source.config, torch.float32
    )
    config = LoraConfig(
        r=TINY_LORA_RANK, lora_alpha=2 * TINY_LORA_RANK, target_modules=TINY_LORA_TARGETS, init_lora_weights=False
    )
    torch.manual_seed(seed)
    transformer.add_adapter(config)
    folder.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=folder))
    try:
        lora_pipeline_class(model_set.family).save_lora_weights(
            building,
            transformer_lora_layers=get_peft_model_state_dict(transformer),
            weight_name=path.name,
            transformer_lora_adapter_metadata=config.to_dict(),
        )
        (building / path.name).rename(path)  # whole, or not at all
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return path


def lora_pipeline_class(family: str):
    """The diffusers pipeline class whose LoRA loader reads a family's LoRAs."""
    from diffusers import LTX2ConditionPipeline, LTXConditionPipeline

    return LTX2ConditionPipeline if family == "ltx2" else LTXConditionPipeline


def subject_lora(model_set) -> str | None:
    """The file (a path) of the set's reference-sheet IC-LoRA (LTX-2.3's Ingredients), or None if it has none."""
    if not model_set.subject_lora:
        return None
    return set_lora(model_set, model_set.subject_lora, "a subject reference", tiny_name="subject", seed=2001)
