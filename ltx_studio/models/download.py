"""Model sets on this machine: list them, check what is present, download what is missing."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.errors import BadInput, StudioError
from . import tiny
from .manager import default_model_set_name, is_on_disk
from .variants import ModelSet, Source, load_registry, model_set


def _sources(mset: ModelSet, variant: str | None) -> dict[str, Source]:
    """The sources a variant needs (all variants' with None or "all"), shared ones included."""
    names = list(mset.variants) if variant in (None, "all") else [mset.variant(variant).name]
    sources = {f"{kind}": source for kind, source in mset.components.items()}
    if mset.upsampler is not None:
        sources["upsampler"] = mset.upsampler
    for name in names:
        sources[f"transformer ({name})"] = mset.variants[name].transformer
        lora = mset.variants[name].sampling.refine_lora
        if lora and not lora.startswith("tiny:"):
            owner, repo, file = (lora.split("/", 2) + ["", ""])[:3]
            sources[f"refine LoRA ({name})"] = Source(f"{owner}/{repo}", file=file)  # the distilled LoRA
    return sources


def describe_sets(variants_file=None) -> dict:
    registry = load_registry(variants_file)
    return {
        name: {
            "family": mset.family,
            "label": mset.label,
            "default_variant": mset.default_variant,
            "variants": {
                v.name: {
                    "label": v.label,
                    "transformer": v.transformer.describe(),
                    "draft_size": list(v.draft_size),
                    "full_size": list(v.full_size),
                    "max_size": list(v.max_size),
                    "draft_frames": v.draft_frames,
                    "max_frames": v.max_frames,
                    "two_stage": v.sampling.two_stage,
                }
                for v in mset.variants.values()
            },
        }
        for name, mset in registry.items()
    }


def format_sets(data: dict) -> str:
    lines = []
    for name, info in data.items():
        lines.append(f"{name}: {info['label']} (family {info['family']}, default {info['default_variant']})")
        for vname, v in info["variants"].items():
            sizes = " / ".join("x".join(map(str, v[k])) for k in ("draft_size", "full_size", "max_size"))
            lines.append(
                f"  {vname:10} {v['label']:32} draft/full/max {sizes}, up to {v['max_frames']} frames  {v['transformer']}"
            )
    return "\n".join(lines)


def check(variants_file=None, set_name: str | None = None) -> dict:
    """Per variant of a set: "on disk" or "not downloaded" (what a fresh process would find)."""
    registry = load_registry(variants_file)
    mset = model_set(registry, set_name or default_model_set_name(registry, need_weights=False))
    states = {}
    for name in mset.variants:
        needed = _sources(mset, name)
        missing = [label for label, source in needed.items() if not is_on_disk(source)]
        states[name] = {"state": "not downloaded" if missing else "on disk", "missing": missing}
    return {"model_set": mset.name, "variants": states}


def format_check(data: dict) -> str:
    lines = [f"model set {data['model_set']}:"]
    for name, info in data["variants"].items():
        missing = f" (missing: {', '.join(info['missing'])})" if info["missing"] else ""
        lines.append(f"  {name:10} {info['state']}{missing}")
    return "\n".join(lines)


def download(variants_file=None, set_name: str | None = None, variant: str | None = None, quiet: bool = False) -> dict:
    """Fetch a variant's files (and the shared ones) into the Hugging Face cache; tiny sets are built."""
    if not variant:
        raise BadInput("models download needs a variant: fast, distilled, pro or all")
    registry = load_registry(variants_file)
    mset = model_set(registry, set_name or default_model_set_name(registry, need_weights=False))
    done = {}
    for label, source in _sources(mset, variant).items():
        if not quiet:
            sys.stderr.write(f"[download] {label}: {source.describe()}\n")
        if source.repo.startswith("tiny:"):
            done[label] = str(tiny.ensure_demo_set(family=tiny.family_of(source.repo)))
        elif is_on_disk(source):
            done[label] = "already here"
        else:
            done[label] = _fetch(source)
    return {"model_set": mset.name, "variant": variant, "components": done}


def _fetch(source: Source) -> str:
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        if source.file:
            path = hf_hub_download(source.repo, source.file)
            if source.config and "/" in source.config and not Path(source.config).exists():
                # a single-file LTX-2 transformer takes its architecture from a diffusers repo's config
                hf_hub_download(source.config, "transformer/config.json")
            return path
        patterns = [f"{source.subfolder}/*"] if source.subfolder else None
        return snapshot_download(source.repo, allow_patterns=patterns)
    except Exception as exc:  # network, auth, disk: one line for the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudioError(f"could not download {source.describe()}: {reason[:200]}") from None
