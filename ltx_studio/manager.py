"""PipelineManager: loads, caches and shares the components of one model set.

The text encoder, tokenizer, VAE and scheduler are loaded once per set; a variant adds only its
transformer. A cached variant costs no load at all. Transformers beyond the memory budget are
evicted least recently used first. Two threads asking for the same variant load it once.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch

from . import tiny
from .errors import WeightsMissing
from .families import get_family
from .policy import MemoryPolicy, choose_policy, detect_device
from .variants import ModelSet, Source

ProgressFn = Callable[[str, float], None]


def resolve(source: Source) -> str:
    """A local folder for `tiny:` and local sources, else the Hub id (looked up in the HF cache)."""
    if source.repo.startswith("tiny:"):
        return str(tiny.ensure_demo_set())
    path = Path(source.repo).expanduser()
    return str(path) if path.exists() else source.repo


def _on_disk_bytes(source: Source) -> int:
    """Bytes of safetensors a source has on this machine (0 if unknown or not there)."""
    location = Path(resolve(source))
    if not location.exists():
        location = _hub_folder(source)
        if location is None:
            return 0
    if source.file:
        path = location / source.file
        return path.stat().st_size if path.exists() else 0
    folder = location / (source.subfolder or "")
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def _hub_folder(source: Source) -> Path | None:
    """The HF-cache snapshot folder of a Hub source, if its files are there."""
    from huggingface_hub import try_to_load_from_cache

    name = source.file or f"{source.subfolder + '/' if source.subfolder else ''}config.json"
    try:
        found = try_to_load_from_cache(source.repo, name)
    except Exception:  # an invalid repo id is simply "not there"
        return None
    if not isinstance(found, str):
        return None
    depth = 1 + name.count("/")
    return Path(found).parents[depth - 1]


def is_on_disk(source: Source) -> bool:
    """Whether a source's files are present locally (tiny sources count: they build offline)."""
    if source.repo.startswith("tiny:") or Path(source.repo).expanduser().exists():
        return True
    return _hub_folder(source) is not None


def default_model_set_name(registry: dict[str, ModelSet], *, need_weights: bool = True) -> str:
    """`ltxv` on a CUDA machine (that has its default variant's files, with `need_weights`), else `demo`."""
    if not torch.cuda.is_available() or "ltxv" not in registry:
        return "demo"
    ltxv = registry["ltxv"]
    variant = ltxv.variants[ltxv.default_variant]
    present = all(is_on_disk(s) for s in [variant.transformer, *ltxv.components.values()])
    return "ltxv" if present or not need_weights else "demo"


def parameter_bytes(module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters()) if hasattr(module, "parameters") else 0


class PipelineManager:
    """Ready pipelines for the variants of one model set, within a memory budget."""

    def __init__(
        self,
        model_set: ModelSet,
        *,
        policy: MemoryPolicy | None = None,
        budget_bytes: int | None = None,
        on_progress: ProgressFn | None = None,
    ):
        self.model_set = model_set
        self.family = get_family(model_set.family)
        if policy is None:
            device, free = detect_device()
            shared = sum(_on_disk_bytes(s) for s in model_set.components.values())
            largest = max((_on_disk_bytes(v.transformer) for v in model_set.variants.values()), default=0)
            policy = choose_policy(device, free, shared, largest)
        if budget_bytes is not None:
            policy = MemoryPolicy(policy.device, policy.dtype, policy.offload, policy.vae_tiling, budget_bytes)
        self.policy = policy
        self.on_progress = on_progress
        self.loads: Counter[str] = Counter()  # component key -> times loaded (for tests and bench)
        self.bytes_loaded = 0
        self.load_seconds: dict[str, float] = {}
        self._shared: dict | None = None
        self._transformers: OrderedDict[str, object] = OrderedDict()  # LRU: oldest first
        self._pipelines: dict[str, object] = {}
        self._upsampler = None
        self._lock = threading.RLock()
        self.prompt_cache: OrderedDict[tuple, object] = OrderedDict()

    # --- public ------------------------------------------------------------------------------

    def get(self, variant: str):
        """A ready pipeline for `variant`: shared components plus its transformer, loading what's missing."""
        spec = self.model_set.variant(variant)
        with self._lock:
            if variant in self._pipelines:
                self._transformers.move_to_end(variant)
                return self._pipelines[variant]
            shared = self.shared(for_variant=variant)
            self._make_room(_on_disk_bytes(spec.transformer), keep=None)
            transformer = self._load("transformer", spec.transformer, f"{spec.label} transformer", variant)
            self._transformers[variant] = transformer
            self._make_room(0, keep=variant)
            pipe = self.family.assemble(shared, transformer)
            self._place(pipe)
            self._pipelines[variant] = pipe
            return pipe

    def shared(self, for_variant: str | None = None) -> dict:
        """The set's shared components (text encoder, tokenizer, VAE, scheduler), loaded once."""
        with self._lock:
            if self._shared is None:
                shared = {}
                for kind in self.family.shared:
                    label = kind.replace("_", " ")
                    shared[kind] = self._load(kind, self.model_set.components[kind], label, for_variant)
                if self.policy.vae_tiling:
                    shared["vae"].enable_tiling()
                if self.policy.offload == "none":
                    for kind in ("text_encoder", "vae"):
                        shared[kind].to(self.policy.device)
                self._shared = shared
            return self._shared

    def upsampler(self):
        """The latent upsampler pipeline of the set (loaded once)."""
        with self._lock:
            if self._upsampler is None:
                source = self.model_set.upsampler
                if source is None:
                    from .errors import BadInput

                    raise BadInput(f"model set {self.model_set.name!r} has no latent upsampler configured")
                upsampler = self._load("upsampler", source, "latent upsampler", None)
                upsampler.to(self.policy.device)
                self._upsampler = self.family.assemble_upsampler(self.shared(), upsampler)
            return self._upsampler

    def adopt(self, shared: dict | None = None, transformers: dict | None = None, upsampler=None) -> None:
        """Use components built in memory (benchmarks of real-size random models) instead of loading them."""
        with self._lock:
            if shared is not None:
                self._shared = dict(shared)
            for variant, transformer in (transformers or {}).items():
                self.model_set.variant(variant)
                self._transformers[variant] = transformer
                pipe = self.family.assemble(self.shared(), transformer)
                self._place(pipe)
                self._pipelines[variant] = pipe
            if upsampler is not None:
                self._upsampler = self.family.assemble_upsampler(self.shared(), upsampler.to(self.policy.device))

    def cached_variants(self) -> list[str]:
        """Variants whose transformer is in memory, least recently used first."""
        with self._lock:
            return list(self._transformers)

    def state(self, variant: str) -> str:
        """ "ready" (in memory), "on disk" or "not downloaded"."""
        spec = self.model_set.variant(variant)
        if variant in self._pipelines:
            return "ready"
        sources = [spec.transformer, *self.model_set.components.values()]
        return "on disk" if all(is_on_disk(s) for s in sources) else "not downloaded"

    def evict(self, variant: str) -> None:
        """Drop a variant's transformer from memory."""
        with self._lock:
            self._transformers.pop(variant, None)
            self._pipelines.pop(variant, None)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def transformer_bytes(self) -> int:
        with self._lock:
            return sum(parameter_bytes(t) for t in self._transformers.values())

    # --- internals ---------------------------------------------------------------------------

    def _make_room(self, incoming: int, keep: str | None) -> None:
        while self._transformers:
            if self.transformer_bytes() + incoming <= self.policy.budget_bytes:
                return
            oldest = next(iter(self._transformers))
            if oldest == keep:
                return
            self._progress(f"Evicting {oldest} to stay within the memory budget", 0.0)
            self.evict(oldest)

    def _load(self, kind: str, source: Source, label: str, variant: str | None):
        self._progress(f"Loading {label}", 0.0)
        started = time.perf_counter()
        location = resolve(source)
        try:
            component = self.family.load_component(
                kind, location, source.subfolder, source.file, source.config, self.policy.dtype
            )
        except (OSError, ValueError) as exc:
            if not _looks_missing(exc):
                raise
            raise WeightsMissing(self._missing_message(source, label, variant)) from None
        if kind not in ("tokenizer", "scheduler") and hasattr(component, "eval"):
            component.eval()
        key = f"{kind}:{source.describe()}"
        self.loads[key] += 1
        self.bytes_loaded += parameter_bytes(component)
        self.load_seconds[key] = time.perf_counter() - started
        self._progress(f"Loaded {label}", 1.0)
        return component

    def _place(self, pipe) -> None:
        offload = self.policy.offload
        if offload == "model":
            pipe.enable_model_cpu_offload(device=self.policy.device)
        elif offload == "group":
            pipe.enable_group_offload(
                onload_device=torch.device(self.policy.device),
                offload_device=torch.device("cpu"),
                offload_type="leaf_level",
                use_stream=True,
            )
        else:
            pipe.transformer.to(self.policy.device)

    def _missing_message(self, source: Source, label: str, variant: str | None) -> str:
        who = f"variant {variant!r} ({label})" if variant else f"the {label}"
        download = f"python -m ltx_studio models download {variant or self.model_set.default_variant}"
        return (
            f"{who} of model set {self.model_set.name!r} needs {source.describe()}, which is not on this machine: "
            f"run `{download} --model-set {self.model_set.name}` on a connected machine "
            f"(or copy its Hugging Face cache here), or use --model-set demo"
        )

    def _progress(self, message: str, fraction: float) -> None:
        if self.on_progress is not None:
            self.on_progress(message, fraction)


def _looks_missing(exc: Exception) -> bool:
    """Whether a loading error means "files not here" (rather than a bug or a corrupt file)."""
    from huggingface_hub.errors import HFValidationError

    if isinstance(exc, (FileNotFoundError, HFValidationError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, OSError) and any(
        hint in text
        for hint in (
            "local_files_only",
            "cannot find",
            "can't load",
            "does not appear",
            "no such file",
            "offline",
            "not found",
        )
    )
