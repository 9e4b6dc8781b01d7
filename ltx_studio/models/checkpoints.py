"""Single-file checkpoints a person already has, as a set's transformers: nobody downloads 40 GB twice.

ComfyUI and LTX-Desktop users keep Lightricks' single files (`ltx-2.3-22b-distilled.safetensors`,
`ltx-2-19b-dev.safetensors`, ...). `--checkpoint [VARIANT=]PATH` (repeatable; or LTX_STUDIO_CHECKPOINTS,
paths joined by the OS path separator) makes such a file the transformer of the set's variants: the
named one, or, unnamed, every variant that runs the same transformer as the set's distilled variant
(a file whose name says "distilled") or as its Pro variant (any other). Only the file's transformer is
read (models/families: the VAEs and the text encoder come from the set as before); its architecture is
a `transformer/config.json` beside the file, or else the replaced variant's diffusers config, which
must then be on this machine (the loader names the `hf download` command for that one small file).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..core.errors import BadInput
from .variants import ModelSet, Source, Variant

ENVIRONMENT = "LTX_STUDIO_CHECKPOINTS"
ENVIRONMENT_SET = "LTX_STUDIO_CHECKPOINTS_SET"  # the model set they were given for (the app exports both)


def from_environment() -> tuple[str | None, list[str]]:
    """(the set they serve, or None: whichever set starts) and the checkpoints LTX_STUDIO_CHECKPOINTS names."""
    specs = [part for part in os.environ.get(ENVIRONMENT, "").split(os.pathsep) if part.strip()]
    return os.environ.get(ENVIRONMENT_SET) or None, specs


def export(model_set: str, specs: list[str]) -> None:
    """Hand the checkpoints to the processes this one starts (workers, parallel ranks), for `model_set` only."""
    os.environ[ENVIRONMENT] = os.pathsep.join(
        str(Path(spec).expanduser()) if "=" not in spec else spec for spec in specs
    )
    os.environ[ENVIRONMENT_SET] = model_set


def with_checkpoints(model_set: ModelSet, specs: list[str] | None) -> ModelSet:
    """The set with each checkpoint as the transformer of the variants it serves, or BadInput in one line."""
    if not specs:
        return model_set
    if model_set.is_demo:
        raise BadInput(f"--checkpoint: model set {model_set.name!r} builds its own tiny models; pick a real set")
    variants = dict(model_set.variants)
    for spec in specs:
        name, path = _parse(spec, model_set)
        for served in _served(model_set, name, path):
            variants[served] = replace(variants[served], transformer=_source(path, variants[served]))
    return replace(model_set, variants=variants)


def _parse(spec: str, model_set: ModelSet) -> tuple[str | None, Path]:
    name, sep, text = spec.partition("=")
    if not sep or name not in model_set.variants:
        name, text = None, spec
    path = Path(text.strip()).expanduser()
    if path.suffix != ".safetensors":
        raise BadInput(f"--checkpoint {path.name}: a single-file checkpoint is a .safetensors file")
    if not path.is_file():
        raise BadInput(f"--checkpoint {path}: no such file")
    return name, path.resolve()


def _served(model_set: ModelSet, name: str | None, path: Path) -> list[str]:
    """The variants a checkpoint becomes the transformer of."""
    if name is not None:
        return [name]
    kind = "distilled" if "distilled" in path.name.lower() else "pro"
    if kind not in model_set.variants:
        raise BadInput(
            f"--checkpoint {path.name}: model set {model_set.name!r} has no {kind} variant; "
            f"name one (VARIANT=PATH, from: {', '.join(model_set.variants)})"
        )
    like = model_set.variants[kind].transformer
    return [v.name for v in model_set.variants.values() if v.transformer == like]


def _source(path: Path, variant: Variant) -> Source:
    """A single-file source whose architecture is a `transformer/config.json` beside the file if there is
    one, else the variant's own diffusers transformer config (a repo in the HF cache, or a folder)."""
    if (path.parent / "transformer" / "config.json").is_file():
        config = str(path.parent)
    else:
        own = variant.transformer
        config = own.config if own.file else own.repo
    return Source(repo=str(path.parent), file=path.name, config=config)
