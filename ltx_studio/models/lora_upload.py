"""A LoRA file joins the studio's LoRA folder (the page's upload): checked without loading a tensor.

In order, each refusal one line that names no server path: its size on disk (`loras.MAX_FILE_BYTES`),
its safetensors header (parsed, the tensors' offsets checked against the file; a pickle is named as
one), LoRA weights in it, and a fit with the model set: every layer it adapts is in one of the set's
transformers with the LoRA's shapes, the check `loras.apply` makes before a render, here made on an
empty copy of each transformer built from its config on the meta device (no weights read). Then the
file is copied in whole under its own name, never over another.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from ..core.errors import BadInput
from . import loras

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,119}\.safetensors")  # a plain file name, no folders
PICKLE_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save's zip, a bare pickle's PROTO opcode


def add(upload: str | Path, folder: str | Path, model_set, name: str | None = None) -> str:
    """Check an uploaded file (`check`) and copy it into `folder` as `name` (the upload's own file name by
    default); returns its name in the folder, the one `loras.served` takes."""
    upload = Path(upload)
    name = (name or upload.name).strip()
    if not NAME.fullmatch(name):
        raise BadInput(
            "a LoRA upload must be a .safetensors file whose name is letters, digits, '.', '_', '-' or spaces"
        )
    check(upload, model_set, name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken = BadInput(f"the LoRA folder already holds a {name!r}: rename the file to add it beside that one")
    if (folder / name).exists():
        raise taken
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".uploading-", suffix=".part", delete=False) as part:
        staged = Path(part.name)
    try:
        shutil.copyfile(upload, staged)
        os.link(staged, folder / name)  # whole, or not at all; never over a file that came meanwhile
    except FileExistsError:
        raise taken from None
    finally:
        staged.unlink(missing_ok=True)
    return name


def check(path: str | Path, model_set, name: str) -> None:
    """BadInput (one line) unless `path` is a safetensors LoRA of at most MAX_FILE_BYTES that fits `model_set`."""
    path = Path(path)
    size = path.stat().st_size
    if size > loras.MAX_FILE_BYTES:
        raise loras.too_big(size, name)
    shapes, metadata = header(path, name)
    if not any("lora" in key for key in shapes):
        raise BadInput(f"LoRA {name!r} holds no LoRA weights (no keys like '...lora_A.weight'): is it a whole model?")
    fits(shapes, metadata, model_set, name)


def header(path: Path, name: str) -> tuple[dict[str, tuple[int, ...]], dict | None]:
    """A safetensors file's tensor shapes and diffusers' adapter config, from its header alone."""
    import json

    from safetensors import safe_open

    with path.open("rb") as file:
        head = file.read(8)
    if head.startswith(PICKLE_MAGIC):
        raise loras._pickle_error(name, "torch.save data, not safetensors")
    try:  # safetensors checks the header: its length, JSON, dtypes, and each tensor's offsets within the file
        with safe_open(str(path), framework="pt") as opened:
            shapes = {key: tuple(opened.get_slice(key).get_shape()) for key in opened.keys()}  # noqa: SIM118
            metadata = (opened.metadata() or {}).get(loras.METADATA_KEY)
        metadata = json.loads(metadata) if metadata else None
    except Exception as exc:  # safetensors' own errors, bad metadata JSON
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise BadInput(f"LoRA {name!r} is broken or truncated, not a readable safetensors file ({first})") from None
    return shapes, metadata


def fits(shapes: dict, metadata: dict | None, model_set, name: str) -> None:
    """BadInput unless the LoRA fits one of the set's transformers (its empty copies; none built: no check here,
    the render checks again anyway)."""
    import torch

    from .set_loras import lora_pipeline_class

    tensors = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    choice = loras.LoraChoice(name, 1.0, loras.LoraFile(Path(name), "", tensors, metadata))
    pipeline = lora_pipeline_class(model_set.family)
    where = f"model set {model_set.name!r} ({model_set.family})"
    first = None
    for shell in empty_shells(model_set.name):
        try:
            for component, part in loras._parts(pipeline, choice).items():
                if component not in shell:
                    raise BadInput(f"LoRA {name!r} adapts {component}, which {where} cannot check here")
                loras._check_fits(choice, shell[component], component, part, where)
            return
        except BadInput as exc:
            first = first or exc
    if first is not None:
        raise first


@lru_cache(maxsize=4)
def empty_shells(set_name: str) -> tuple[dict, ...]:
    """Per distinct transformer of the set: {component: module} on the meta device, built from configs on
    this machine (a transformer whose config is not here is left out)."""
    from . import tiny
    from .families import get_family
    from .manager import resolve
    from .variants import load_registry

    model_set = load_registry()[set_name]
    family = get_family(model_set.family)
    shared = {}
    connectors = model_set.components.get("connectors")
    if connectors is not None:
        shared["connectors"] = _empty(family.component_class("connectors"), resolve(connectors), connectors.subfolder)
    shells, seen = [], set()
    for variant in model_set.variants.values():
        source = variant.transformer
        if (source.repo, source.subfolder, source.file) in seen:
            continue
        seen.add((source.repo, source.subfolder, source.file))
        location, subfolder = resolve(source), source.subfolder
        if source.file and source.config in tiny.TRANSFORMER_PRESETS:  # LTX-Video's single files: a shipped config
            location, subfolder = str(tiny.transformer_config_folder(source.config)), None
        elif source.file:  # LTX-2's: the diffusers repo or folder whose transformer config it follows
            location, subfolder = source.config or source.repo, "transformer"
        module = _empty(family.component_class("transformer"), location, subfolder)
        if module is not None:
            shells.append({"transformer": module, **{k: v for k, v in shared.items() if v is not None}})
    return tuple(shells)


def _empty(cls, location: str, subfolder: str | None):
    """A model built from its config on the meta device (no weights), or None when its config is not here."""
    import torch

    try:
        config = cls.load_config(location, subfolder=subfolder, local_files_only=True)
    except Exception:  # not on this machine: nothing to check against
        return None
    with torch.device("meta"):
        return cls.from_config(config)
