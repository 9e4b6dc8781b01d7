"""LoRAs: find a LoRA file, check it, read it once, and make a pipeline's adapters exactly what a
render asks for.

A LoRA is named by a local path, a name in the LoRA folder (`$LTX_STUDIO_LORAS`, default
`<outputs>/loras`) or a Hub id already in the Hugging Face cache (never downloaded), optionally
followed by `:WEIGHT`. Only safetensors are read: a pickle can run code. A file is read from disk
once per process; its sha256 is what a take records.

That is the rule of the command line and of Python on the studio's machine (its user owns the
files). A server door (the page, the API, MCP) names LoRAs under a stricter rule, `served`: a file
listed in the LoRA folder or a Hub id the model set itself names, a folder file at most
`MAX_FILE_BYTES` (by its size on disk, before any read), and a refusal that says neither whether a
path exists nor what a folder holds.

On a pipeline a LoRA is a peft adapter of the transformer (and, for LTX-2, of the text connectors),
loaded with diffusers' `load_lora_adapter` (the call `load_lora_weights` makes) once per
transformer. A render then only switches adapters and weights (`set_adapters`), or turns the LoRA
layers off when it asks for none, so adding, removing or re-weighting a LoRA never reloads the
transformer. A LoRA that does not fit the transformer (another family, another size) is refused
before any pipeline changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import warnings
from collections import Counter, OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import BadInput

MAX_LORAS = 8  # per render
MAX_WEIGHT = 4.0  # |weight|; beyond that a LoRA only burns the picture
MAX_ADAPTERS = 8  # adapters a transformer keeps loaded; beyond that the oldest unused one goes
FILES_CACHED = 8  # LoRA files whose tensors stay in memory (to load into another variant without a read)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
PREFERRED_FILE = "pytorch_lora_weights.safetensors"  # diffusers' name, when a folder holds several files
METADATA_KEY = "lora_adapter_metadata"  # diffusers' LoRA config in the safetensors header
# A LoRA a person names through a server door, by its size on disk, checked before any read (a read
# holds the whole file in memory). A LoRA grows with its rank: on LTX-2 19B, rank 128 in bf16 is about
# 2.6 GB (Lightricks' rank-384 distilled LoRA is 7.7 GB, IC-LoRAs 0.65 GB, style LoRAs 0.1-1.3 GB), so
# 4 GiB takes any LoRA people train, and no whole checkpoint (LTX-2 is 27-43 GB, LTX-Video 13B 26 GB).
# The LoRAs a model set names itself (its refine LoRA, camera moves, IC-LoRAs) are the set's own files.
MAX_FILE_BYTES = 4 * 1024**3
NOT_OFFERED = (
    "is not a LoRA this studio offers: name a file of its LoRA folder (the page lists them and takes "
    "uploads) or a Hub id its model set names (camera moves, IC-LoRAs, the refine LoRA)"
)

reads: Counter[str] = Counter()  # path -> times read from disk (for tests)
_files: OrderedDict[tuple, LoraFile] = OrderedDict()
_files_lock = threading.Lock()


@dataclass(eq=False)
class LoraFile:
    """One LoRA file as read: its content hash, tensors and diffusers' adapter config (if it has one)."""

    path: Path
    sha256: str
    tensors: dict  # key -> torch tensor, as stored
    metadata: dict | None  # diffusers' lora_adapter_metadata: LoraConfig fields prefixed by component
    parts: dict = field(default_factory=dict)  # pipeline class -> {component: state dict} in diffusers' layout

    @property
    def adapter(self) -> str:
        """The peft adapter name: one per file content (a copy under another name shares it)."""
        return f"lora_{self.sha256[:16]}"


@dataclass(frozen=True)
class LoraChoice:
    """A LoRA a render uses: the name as asked, its weight and the file it resolved to."""

    name: str
    weight: float
    file: LoraFile

    def record(self) -> dict:
        """What a take keeps: enough to find the LoRA again and to tell whether it is the same file."""
        return {"name": self.name, "file": self.file.path.name, "sha256": self.file.sha256, "weight": self.weight}


def default_folder(outputs: str | Path) -> Path:
    """The LoRA folder: `$LTX_STUDIO_LORAS`, else `loras` in the outputs folder."""
    return Path(os.environ.get("LTX_STUDIO_LORAS") or Path(outputs) / "loras").expanduser()


def too_big(size: int, name: str) -> BadInput:
    """The one line for a LoRA file over MAX_FILE_BYTES."""
    return BadInput(
        f"LoRA {name!r} is {size / 1024**3:.1f} GiB, over the {MAX_FILE_BYTES / 1024**3:g} GiB a LoRA may be "
        "(is it a whole model?)"
    )


def list_files(folder: str | Path) -> list[str]:
    """The LoRA folder's safetensors files, as names `choose` resolves (relative paths), sorted."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.safetensors") if p.is_file())


# --- a request's LoRAs -> files ------------------------------------------------------------------


def served(items, folder: str | Path | None, offered: Collection[str]) -> list[tuple[str, float]]:
    """A request's LoRAs as a server door (the page, the API, MCP) takes them: (name, weight) pairs.

    Each must be a file listed in the LoRA folder (`list_files`, ".safetensors" may be left off) of at
    most MAX_FILE_BYTES, or one of `offered`, the Hub ids the model set names (`set_loras.offered`).
    Anything else (a path, a folder, a pickle, another Hub id) is refused in the same line whether or
    not it exists; no message names a server path or lists a folder. Only the folder is listed and
    its files' sizes read: nothing else on disk is touched.
    """
    if not items:
        return []
    pairs = _pairs(items, on_disk=False)
    listed = set(list_files(folder)) if folder is not None else set()
    chosen = []
    for number, (name, weight) in enumerate(pairs, 1):
        if name in offered:
            chosen.append((name, weight))
            continue
        file = next((f for f in (name, f"{name}.safetensors") if f in listed), None)
        if file is None:
            raise BadInput(f"LoRA {number} of the request {NOT_OFFERED}")
        try:
            size = (Path(folder) / file).stat().st_size
        except OSError:
            raise BadInput(f"LoRA {number} of the request {NOT_OFFERED}") from None
        if size > MAX_FILE_BYTES:
            raise too_big(size, file)
        chosen.append((file, weight))
    return chosen


def choose(items, folder: str | Path | None) -> tuple[LoraChoice, ...]:
    """Resolve and read a request's LoRAs (BadInput with one line for anything unusable).

    Items: "NAME[:WEIGHT]", (name, weight) or {"lora": name, "weight": weight}; weight 1 by default.
    """
    if not items:
        return ()
    pairs = _pairs(items)
    chosen: list[LoraChoice] = []
    for name, weight in pairs:
        lora_file = read(resolve(name, folder), name)
        twin = next((c for c in chosen if c.file.sha256 == lora_file.sha256), None)
        if twin is not None:
            raise BadInput(f"LoRA {name!r} is listed twice (same file as {twin.name!r}): give it once, with one weight")
        chosen.append(LoraChoice(name, weight, lora_file))
    return tuple(chosen)


def _pairs(items, on_disk: bool = True) -> list[tuple[str, float]]:
    """(name, weight) of each LoRA given: a list of items, or one item given bare (`on_disk`: see `parse`)."""
    if isinstance(items, str | dict) or (
        isinstance(items, tuple) and len(items) == 2 and isinstance(items[1], float | int)
    ):
        items = [items]
    pairs = [parse(item, on_disk=on_disk) for item in items]
    if len(pairs) > MAX_LORAS:
        raise BadInput(f"too many LoRAs: {len(pairs)} (at most {MAX_LORAS})")
    return pairs


def parse(item, *, on_disk: bool = True) -> tuple[str, float]:
    """(name, weight) of one LoRA as given: "NAME", "NAME:WEIGHT", (name, weight) or {"lora", "weight"}.

    `on_disk`: a path whose file name holds a colon is that file when it exists; a server door passes
    False, so how a name parses never tells whether a path exists."""
    if isinstance(item, LoraChoice):
        return item.name, item.weight
    weight = 1.0
    if isinstance(item, dict):
        unknown = set(item) - {"lora", "name", "weight"}
        if unknown:
            raise BadInput(f"a LoRA is given as {{lora, weight}}; unknown field {sorted(unknown)[0]!r}")
        name, weight = item.get("lora", item.get("name")), item.get("weight", 1.0)
    elif isinstance(item, list | tuple) and len(item) == 2:
        name, weight = item
    elif isinstance(item, str):
        name = item.strip()
        head, colon, tail = name.rpartition(":")
        # "NAME:WEIGHT" unless the colon belongs to the path (C:\..., or a file whose name has one)
        if colon and not any(s in tail for s in "/\\") and not (on_disk and Path(name).expanduser().exists()):
            name, weight = head.strip(), tail.strip()
            if not tail.strip():
                raise BadInput(f"LoRA {item!r}: a weight must follow the colon (NAME:WEIGHT, e.g. {head}:0.8)")
    else:
        raise BadInput(f"a LoRA is a name, (name, weight) or {{lora, weight}}; got {str(item)[:60]!r}")
    if not isinstance(name, str) or not name.strip():
        raise BadInput(f"LoRA {str(item)[:60]!r}: the name or path is empty")
    return name.strip(), _weight(weight, name)


def _weight(value, name: str) -> float:
    if isinstance(value, bool):
        raise BadInput(f"LoRA {name!r}: the weight must be a number, got {value!r}")
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"LoRA {name!r}: the weight must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
        raise BadInput(f"LoRA {name!r}: the weight must be between {-MAX_WEIGHT:g} and {MAX_WEIGHT:g}, got {value}")
    return weight


def resolve(name: str, folder: str | Path | None) -> Path:
    """The file a LoRA name means: a name in the LoRA folder, a local path, or a Hub id in the HF cache.

    The folder comes first, so a name a server door vetted (`served`) means the folder's file here too.
    """
    path = Path(name).expanduser()
    if folder is not None and not path.is_absolute():
        for candidate in (Path(folder) / name, Path(folder) / f"{name}.safetensors"):
            if candidate.exists():
                return _file_in(candidate, name)
    if path.exists():
        return _file_in(path, name)
    cached = _hub_cached(name)
    if cached is not None:
        return _file_in(cached, name)
    where = f"no {name!r} in the LoRA folder, " if folder is not None else ""
    raise BadInput(
        f"LoRA {name!r} not found: no such file, {where}and no Hub repo of that name in the Hugging Face cache "
        "(LoRAs are never downloaded here: fetch it with `hf download` first)"
    )


def _file_in(path: Path, name: str) -> Path:
    """The LoRA file at `path`: the file itself, or the one safetensors file of a folder."""
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        preferred = [f for f in files if f.name == PREFERRED_FILE]
        if preferred or len(files) == 1:
            return (preferred or files)[0]
        if not files:
            pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
            if pickles:
                raise _pickle_error(name, pickles[0])
            raise BadInput(f"LoRA {name!r}: the folder {path} has no .safetensors file")
        raise BadInput(f"LoRA {name!r}: the folder holds several .safetensors files; name one ({name}/{files[0].name})")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise _pickle_error(name, path.name)
    if path.suffix.lower() != ".safetensors":
        raise BadInput(f"LoRA {name!r} is not a .safetensors file (LTX Studio reads LoRAs in safetensors only)")
    return path


def _pickle_error(name: str, file: str) -> BadInput:
    return BadInput(
        f"LoRA {name!r} is a pickle file ({file}): LTX Studio reads LoRAs in safetensors only, since loading a "
        "pickle can run code; convert it to .safetensors"
    )


def _hub_cached(name: str) -> Path | None:
    """A Hub id ("owner/repo" or "owner/repo/file.safetensors") already in the HF cache, else None."""
    parts = name.split("/")
    if len(parts) < 2 or any(not p or p in (".", "..") for p in parts):
        return None
    repo, file = "/".join(parts[:2]), "/".join(parts[2:])
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    try:
        if file:
            found = try_to_load_from_cache(repo, file)
            return Path(found) if isinstance(found, str) else None
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: simply "not there"
        return None


def read(path: Path, name: str) -> LoraFile:
    """A LoRA file's hash, tensors and adapter config, read from disk once per process (and again if it changed)."""
    import safetensors.torch

    try:
        stat = path.stat()
    except OSError as exc:
        raise BadInput(f"LoRA {name!r} cannot be read: {exc.strerror or exc}") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _files_lock:
        if key in _files:
            _files.move_to_end(key)
            return _files[key]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"LoRA {name!r} cannot be read: {exc.strerror or exc}") from None
    reads[key[0]] += 1
    try:  # safetensors parses, never executes: a pickle renamed .safetensors fails here, unopened
        tensors = safetensors.torch.load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        metadata = (header.get("__metadata__") or {}).get(METADATA_KEY)
        metadata = json.loads(metadata) if metadata else None
    except Exception as exc:  # safetensors' own errors, a bad header, bad metadata JSON
        if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":  # torch.save's zip, or a bare pickle's PROTO opcode
            raise _pickle_error(name, f"{path.name} holds pickled data (torch.save), not safetensors") from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise BadInput(f"LoRA {name!r} is broken or truncated, not a readable safetensors file ({first})") from None
    if not any("lora" in k for k in tensors):
        raise BadInput(f"LoRA {name!r} holds no LoRA weights (no keys like '...lora_A.weight'): is it a whole model?")
    lora_file = LoraFile(path, hashlib.sha256(data).hexdigest(), tensors, metadata)
    with _files_lock:
        _files[key] = lora_file
        while len(_files) > FILES_CACHED:
            _files.popitem(last=False)
    return lora_file


# --- files -> a pipeline's adapters ---------------------------------------------------------------


def apply(pipes: list, choices: tuple[LoraChoice, ...], where: str) -> None:
    """Make `choices` exactly the active LoRAs of `pipes` (none: LoRA layers off, the plain model).

    Every LoRA is checked against every component it adapts first: one that does not fit raises
    BadInput and no pipeline changes. Then adapters not loaded yet are loaded (once per transformer)
    and the asked ones switched on with their weights. A weight of 0 loads nothing.
    """
    pipes = list({id(pipe): pipe for pipe in pipes}.values())
    for pipe in pipes:
        for choice in choices:
            for component, part in _parts(pipe, choice).items():
                _check_fits(choice, getattr(pipe, component), component, part, where)
    active = [c for c in choices if c.weight != 0]
    if active:
        _load_missing(pipes, active, where)
    for module in _lora_modules(pipes):
        wanted = [c for c in active if c.file.adapter in module.peft_config]
        if wanted:
            module.enable_lora()
            module.set_adapters([c.file.adapter for c in wanted], [c.weight for c in wanted])
        else:
            module.disable_lora()


def _parts(pipe, choice: LoraChoice) -> dict[str, dict]:
    """A LoRA's tensors per pipeline component, in diffusers' layout (its converters applied once per class).
    `pipe`: a pipeline, or its class."""
    cls = pipe if isinstance(pipe, type) else type(pipe)
    parts = choice.file.parts.get(cls)
    if parts is not None:
        return parts
    components = list(getattr(cls, "_lora_loadable_modules", ()))
    if not components:
        raise BadInput(f"this pipeline ({cls.__name__}) takes no LoRAs")
    try:  # e.g. Lightricks' own `diffusion_model.` keys become diffusers' names
        converted = cls.lora_state_dict(dict(choice.file.tensors))
    except (ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise BadInput(f"LoRA {choice.name!r} is not in a layout diffusers reads for {cls.__name__}: {first}") from None
    if not any(k.startswith(f"{c}.") for k in converted for c in components):
        converted = {f"transformer.{k}": v for k, v in converted.items()}  # a bare peft state dict
    stray = next((k for k in converted if not any(k.startswith(f"{c}.") for c in components)), None)
    if stray is not None:
        raise BadInput(
            f"LoRA {choice.name!r} adapts {stray.split('.')[0]}, which LTX Studio does not adapt "
            f"(only: {', '.join(components)})"
        )
    parts = {c: {k: v for k, v in converted.items() if k.startswith(f"{c}.")} for c in components}
    parts = {c: part for c, part in parts.items() if part}
    choice.file.parts[cls] = parts
    return parts


def _layers(module) -> dict[str, object]:
    """The layers of a model a LoRA can adapt (peft wrappers seen as the layer they wrap), by name."""
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = {}
    for name, layer in module.named_modules():
        if any(part == "base_layer" or part.startswith("lora_") for part in name.split(".")):
            continue  # inside a peft wrapper
        if isinstance(layer, BaseTunerLayer):
            layers[name] = layer.get_base_layer()
        elif isinstance(layer, torch.nn.Linear | torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Conv3d):
            layers[name] = layer
    return layers


def _check_fits(choice: LoraChoice, module, component: str, part: dict, where: str) -> None:
    """BadInput unless every layer the LoRA adapts is in `module` with the LoRA's shapes, and the LoRA's
    own config (when it has one) targets no layer of `module` it has no weights for."""
    import torch

    label = f"LoRA {choice.name!r} does not fit {where}"
    layers = _layers(module)
    adapted = set()
    for key, tensor in part.items():
        layer_name, found, rest = key.removeprefix(f"{component}.").partition(".lora_")
        if not found:
            raise BadInput(f"LoRA {choice.name!r}: {key!r} is not a LoRA weight")
        layer = layers.get(layer_name)
        if layer is None:
            raise BadInput(f"{label}: it adapts {component}.{layer_name}, which is not there (another family or size?)")
        adapted.add(layer_name)
        if isinstance(layer, torch.nn.Linear) and tensor.ndim == 2:
            if rest == "A.weight" and tensor.shape[1] != layer.in_features:
                raise BadInput(
                    f"{label}: {component}.{layer_name} takes {layer.in_features} features, "
                    f"the LoRA expects {tensor.shape[1]} (another family or size?)"
                )
            if rest == "B.weight" and tensor.shape[0] != layer.out_features:
                raise BadInput(
                    f"{label}: {component}.{layer_name} gives {layer.out_features} features, "
                    f"the LoRA expects {tensor.shape[0]} (another family or size?)"
                )
    config = _config(choice, component)
    if config is None or config.target_modules is None:
        return
    from peft.tuners.tuners_utils import check_target_module_exists

    # A LoRA trained here would have weights for every layer its config targets; one that lacks some
    # was trained on a model without them (LTX-Video's layer names are a subset of LTX-2's).
    unadapted = [n for n in layers if n not in adapted and check_target_module_exists(config, n)]
    if unadapted:
        more = f" and {len(unadapted) - 1} more" if len(unadapted) > 1 else ""
        raise BadInput(
            f"{label}: its config targets {component}.{unadapted[0]}{more}, but it has no weights for them "
            "(trained on another family or size?)"
        )


def _config(choice: LoraChoice, component: str):
    """The LoraConfig a LoRA's diffusers metadata gives for one component, or None."""
    metadata = choice.file.metadata
    if not metadata:
        return None
    own = {k.removeprefix(f"{component}."): v for k, v in metadata.items() if k.startswith(f"{component}.")}
    if not own:
        return None
    from peft import LoraConfig

    try:
        return LoraConfig(**own)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"LoRA {choice.name!r}: its adapter config is not one peft reads ({str(exc)[:120]})") from None


def _load_missing(pipes: list, active: list[LoraChoice], where: str) -> None:
    """Load each active LoRA into each component that lacks it; on failure, remove what this call loaded."""
    loaded: list[tuple[object, str]] = []
    keep = {c.file.adapter for c in active}
    try:
        for pipe in pipes:
            for choice in active:
                for component, part in _parts(pipe, choice).items():
                    module = getattr(pipe, component)
                    if choice.file.adapter not in (getattr(module, "peft_config", None) or {}):
                        _make_room(module, keep)
                        _load(pipe, module, component, part, choice)
                        loaded.append((module, choice.file.adapter))
    except Exception as exc:
        for module, adapter in loaded:
            module.delete_adapters(adapter)
        if isinstance(exc, BadInput):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise BadInput(f"a LoRA could not be loaded into {where}: {first}") from None


def _load(pipe, module, component: str, part: dict, choice: LoraChoice) -> None:
    """One LoRA into one component, as the pipeline's `load_lora_weights` does it, with the file's config."""
    # diffusers builds the LoraConfig (rank, alpha) from the metadata only where it names this component
    metadata = choice.file.metadata if _config(choice, component) is not None else None
    with warnings.catch_warnings():  # peft's notice that a model holds several adapters: that is the point here
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        module.load_lora_adapter(
            dict(part), adapter_name=choice.file.adapter, metadata=metadata, prefix=component, _pipeline=pipe
        )


def _make_room(module, keep: set[str]) -> None:
    """Unload the oldest adapters not in use once a component holds MAX_ADAPTERS."""
    loaded = list(getattr(module, "peft_config", None) or {})
    for adapter in [a for a in loaded if a not in keep][: max(0, len(loaded) + 1 - MAX_ADAPTERS)]:
        module.delete_adapters(adapter)


def _lora_modules(pipes: list) -> list:
    """The components of `pipes` that hold peft adapters (each once: LTX-2's connectors are shared)."""
    modules = {}
    for pipe in pipes:
        for component in getattr(type(pipe), "_lora_loadable_modules", ()):
            module = getattr(pipe, component, None)
            if module is not None and getattr(module, "peft_config", None):
                modules[id(module)] = module
    return list(modules.values())
