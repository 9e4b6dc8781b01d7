"""PipelineManager: loads, caches and shares the components of one model set.

The text encoder, tokenizer, VAE and scheduler are loaded once per set; a variant adds only its
transformer. A cached variant costs no load at all. Transformers beyond the memory budget are
evicted least recently used first. Two threads asking for the same variant load it once. The
memory policy says where everything sits (`placement`); the manager applies it around the calls
that need more: the text encoder's visits for a new prompt, and VAE tiling per decode size.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import torch

from ..core.errors import BadInput, StudioError, WeightsMissing
from . import loras, tiny
from .families import get_family
from .levers import torchao_fp8_here, with_levers
from .placement import apply_step_cache, place_shared, place_transformer, set_vae_tiling
from .policy import MemoryPolicy, choose_policy, detect_device, detect_host_memory
from .variants import OPTIONAL_COMPONENTS, ModelSet, Source

ProgressFn = Callable[[str, float], None]
log = logging.getLogger(__name__)
PROMPT_CACHE_SIZE = 32  # prompts whose embeddings stay in memory


def resolve(source: Source) -> str:
    """A local folder for `tiny:` and local sources, else the Hub id (looked up in the HF cache)."""
    if source.repo.startswith("tiny:"):
        return str(tiny.ensure_demo_set(family=tiny.family_of(source.repo)))
    path = Path(source.repo).expanduser()
    return str(path) if path.exists() else source.repo


CONFIG_FILES = ("config.json", "tokenizer_config.json", "scheduler_config.json")


def locate(source: Source) -> Path | None:
    """The folder holding a source's files on this machine (local or in the HF cache), or None.

    A model folder counts only with its weights (a half-finished download does not).
    """
    if source.repo.startswith("tiny:"):
        return Path(tiny.ensure_demo_set(family=tiny.family_of(source.repo)))
    root = Path(source.repo).expanduser()
    if not root.exists():
        root = _hub_snapshot(source)
        if root is None:
            return None
    if source.file:
        return root if (root / source.file).exists() else None
    folder = root / (source.subfolder or "")
    if not any((folder / name).exists() for name in CONFIG_FILES):
        return None
    if (folder / "config.json").exists() and not _weights_complete(folder):
        return None
    return root


def _weights_complete(folder: Path) -> bool:
    """A model folder has its safetensors, every shard of a sharded checkpoint included."""
    import json

    for index in folder.glob("*.safetensors.index.json"):
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return all((folder / shard).exists() for shard in shards)
    return any(folder.glob("*.safetensors"))


def _hub_snapshot(source: Source) -> Path | None:
    """The HF-cache snapshot folder of a Hub source, if its config (or single file) is cached."""
    from huggingface_hub import try_to_load_from_cache

    prefix = f"{source.subfolder}/" if source.subfolder else ""
    for name in [source.file] if source.file else [prefix + n for n in CONFIG_FILES]:
        try:
            found = try_to_load_from_cache(source.repo, name)
        except Exception:  # an invalid repo id is simply "not there"
            return None
        if isinstance(found, str):
            return Path(found).parents[name.count("/")]
    return None


def _pickle_only(source: Source) -> bool:
    """A local folder that has pickle weights (which we never load) but no safetensors."""
    folder = Path(source.repo).expanduser() / (source.subfolder or "")
    return folder.is_dir() and any(p.suffix in (".bin", ".pt", ".pth", ".ckpt") for p in folder.iterdir())


def is_on_disk(source: Source) -> bool:
    """Whether a source's files are present locally (tiny sources count: they build offline)."""
    return source.repo.startswith("tiny:") or locate(source) is not None


def _on_disk_bytes(source: Source) -> int:
    """Bytes of weights a source has on this machine (0 if unknown or not there)."""
    if source.repo.startswith("tiny:") and not tiny.demo_set_built(family=tiny.family_of(source.repo)):
        return 0
    root = locate(source)
    if root is None:
        return 0
    if source.file:
        return (root / source.file).stat().st_size
    return sum(p.stat().st_size for p in (root / (source.subfolder or "")).glob("*.safetensors"))


NEWEST_FIRST = ("ltx25", "ltx2", "ltx2-19b", "ltxv")  # the sets a CUDA machine prefers, in order


def required_components(model_set: ModelSet) -> list[Source]:
    return [s for kind, s in model_set.components.items() if kind not in OPTIONAL_COMPONENTS]


def default_model_set_name(registry: dict[str, ModelSet], *, need_weights: bool = True) -> str:
    """Without CUDA, `demo`. With CUDA, the newest set whose default variant's files are all on this
    machine; if none is (or `need_weights` is False), `ltx2`, whose missing weights then say how to get them."""
    if not torch.cuda.is_available():
        return "demo"
    for name in NEWEST_FIRST:
        mset = registry.get(name)
        if mset is None:
            continue
        variant = mset.variants[mset.default_variant]
        if need_weights and all(is_on_disk(s) for s in [variant.transformer, *required_components(mset)]):
            return name
    return "ltx2" if "ltx2" in registry else "demo"


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
        if policy is None:  # chosen here: the GPU class's speed levers and the environment's apply
            device, free = detect_device()
            sizes = {kind: _on_disk_bytes(source) for kind, source in model_set.components.items()}
            text_encoder = sizes.pop("text_encoder", 0)
            largest = max((_on_disk_bytes(v.transformer) for v in model_set.variants.values()), default=0)
            policy = choose_policy(
                device,
                free,
                sum(sizes.values()),
                largest,
                text_encoder_bytes=text_encoder,
                torchao=torchao_fp8_here(device),
                host_bytes=detect_host_memory(),
            )
            policy = with_levers(policy)
            for note in policy.notes:
                log.warning("memory plan: %s", note)
        if budget_bytes is not None:
            policy = replace(policy, budget_bytes=budget_bytes)
        if self.family.name != "ltx2" and not policy.denoise_tiles:
            policy = replace(policy, denoise_tiles=1)  # only LTX-2's forward runs in tiles (families/tiles.py)
        self.policy = policy
        self.on_progress = on_progress
        self.loads: Counter[str] = Counter()  # component key -> times loaded (for tests and bench)
        self.bytes_loaded = 0
        self.load_seconds: dict[str, float] = {}
        self._shared: dict | None = None
        self._transformers: OrderedDict[str, object] = OrderedDict()  # LRU: oldest first
        self._pipelines: dict[str, object] = {}
        self._upsampler = None
        self._pass_models: dict[str, object] = {}  # a finishing pass's own model (a temporal upsampler), by weights
        self._active: str | None = None  # the variant whose pipeline holds the offload hooks
        self._lock = threading.RLock()
        self.prompt_cache: OrderedDict[tuple, object] = OrderedDict()
        self.embed_store = None  # prompt embeddings on disk (embed_store.py), set by whoever knows the outputs folder
        self.prompt_sources: Counter[str] = Counter()  # where each prompt's embeddings came from: memory, disk, encoder
        self.text_encoder_visits = 0  # times the text encoder went to the device for a call ("visit")
        self._visiting = 0  # depth of nested text_encoder_on_device() blocks
        self.decode_tiling: bool | None = None  # what the last prepare_decode chose
        self.transformer_hook = None  # called with each transformer as it loads (parallel.py)

    # --- public ------------------------------------------------------------------------------

    def get(self, variant: str):
        """A ready pipeline for `variant`: shared components plus its transformer, loading what's missing."""
        spec = self.model_set.variant(variant)
        with self._lock:
            if variant in self._pipelines:
                self._transformers.move_to_end(variant)
                return self._activate(variant)
            shared = self.shared(for_variant=variant)
            self._make_room(_on_disk_bytes(spec.transformer), keep=None)
            transformer = self._load("transformer", spec.transformer, f"{spec.label} transformer", variant)
            place_transformer(transformer, self.policy)
            if spec.sampling.guidance > 1:  # Pro: the guided, multi-step variants, where a step cache can pay
                apply_step_cache(transformer, self.policy.step_cache)
            if self.transformer_hook is not None:  # e.g. context parallelism for a final across GPUs
                self.transformer_hook(transformer)
            pipe = self.family.assemble(shared, transformer)
            self._transformers[variant] = transformer
            self._pipelines[variant] = pipe
            self._make_room(0, keep=variant)
            return self._activate(variant)

    def shared(self, for_variant: str | None = None) -> dict:
        """The set's shared components (text encoder, tokenizer, VAE, scheduler), loaded once."""
        with self._lock:
            if self._shared is None:
                shared = {}
                for kind in self.family.shared:
                    source = self.model_set.components.get(kind)
                    if source is None or (kind in OPTIONAL_COMPONENTS and not is_on_disk(source)):
                        continue  # an optional part (the enhancer's processor) that this set doesn't have
                    label = kind.replace("_", " ")
                    shared[kind] = self._load(kind, source, label, for_variant)
                if self.policy.vae_tiling:
                    shared["vae"].enable_tiling()
                place_shared(shared, self.policy)
                self._shared = shared
            return self._shared

    def upsampler(self):
        """The latent upsampler pipeline of the set (loaded once)."""
        with self._lock:
            if self._upsampler is None:
                source = self.model_set.upsampler
                if source is None:
                    raise BadInput(f"model set {self.model_set.name!r} has no latent upsampler configured")
                upsampler = self._load("upsampler", source, "latent upsampler", None)
                upsampler.to(self.policy.device)
                self._upsampler = self.family.assemble_upsampler(self.shared(), upsampler)
            return self._upsampler

    def pass_model(self, weights: str, load):
        """A finishing pass's own model (models/pass_weights.py), loaded once by `load()` and kept on the device."""
        with self._lock:
            if weights not in self._pass_models:
                self._pass_models[weights] = load().to(self.policy.device)
            return self._pass_models[weights]

    def adopt(self, shared: dict | None = None, transformers: dict | None = None, upsampler=None) -> None:
        """Use components built in memory (benchmarks of real-size random models) instead of loading them."""
        with self._lock:
            if shared is not None:
                self._shared = dict(shared)
                if self.policy.vae_tiling:
                    self._shared["vae"].enable_tiling()
            placed = set()  # one transformer may serve several variants: place (quantize, compile) it once
            for variant, transformer in (transformers or {}).items():
                self.model_set.variant(variant)
                if id(transformer) not in placed:
                    place_transformer(transformer, self.policy)
                    placed.add(id(transformer))
                self._transformers[variant] = transformer
                self._pipelines[variant] = self.family.assemble(self.shared(), transformer)
            if upsampler is not None:
                self._upsampler = self.family.assemble_upsampler(self.shared(), upsampler.to(self.policy.device))

    def apply_loras(self, pipes: list, choices: tuple[loras.LoraChoice, ...]) -> None:
        """Make `choices` exactly the active LoRAs of these pipelines (none: the plain transformer), loading
        each adapter once per transformer: never a transformer load. One that does not fit is a BadInput
        raised before any pipeline changes."""
        with self._lock:
            loras.apply(pipes, choices, f"model set {self.model_set.name!r} ({self.model_set.family})")

    def prompt_embeds(self, pipe, prompt: str, negative_prompt: str, guidance: float):
        """(embeddings, was_cached): encoded once per text encoder, prompt and negative prompt (LRU)."""
        use_cfg = guidance > 1.0
        key = (self.model_set.components["text_encoder"].describe(), prompt, negative_prompt if use_cfg else None)
        with self._lock:
            if key in self.prompt_cache:
                self.prompt_cache.move_to_end(key)
                self.prompt_sources["memory"] += 1
                return self.prompt_cache[key], True
        on_disk = (self.model_set.name, self.model_set.family, str(self.policy.dtype), *key)  # a bf16 run's are its own
        store = self.embed_store
        embeds = store.get(on_disk) if store is not None else None
        cached = embeds is not None
        if cached:  # written by an earlier process (or worker) on these outputs
            embeds = embeds.to(pipe._execution_device)
            self.prompt_sources["disk"] += 1
        else:
            with self.text_encoder_on_device():
                embeds = self.family.encode_prompt(pipe, prompt, negative_prompt, guidance)
            self.prompt_sources["encoder"] += 1
            if store is not None:
                store.put(on_disk, embeds)
        with self._lock:
            self.prompt_cache[key] = embeds
            while len(self.prompt_cache) > PROMPT_CACHE_SIZE:
                self.prompt_cache.popitem(last=False)
        return embeds, cached

    @contextlib.contextmanager
    def text_encoder_on_device(self) -> Iterator[None]:
        """Hold the text encoder on the device for the block, then send it back to the CPU.

        A visit happens only under the policy's "visit"; where it stays on the device, streams
        through it, or model offload's hooks move it, the block just runs. Nested blocks visit once.
        """
        if self.policy.text_encoder != "visit" or self.policy.offload == "model":
            yield
            return
        with self._lock:  # held through the visit: placement changes only between calls
            encoder = self.shared()["text_encoder"]
            if self._visiting == 0:
                try:
                    encoder.to(self.policy.device)
                except BaseException:  # out of memory half way: none of it may stay on the device
                    encoder.to("cpu")
                    raise
                self.text_encoder_visits += 1
            self._visiting += 1
            try:
                yield
            finally:
                self._visiting -= 1
                if self._visiting == 0:
                    encoder.to("cpu")

    def enhance_prompt(self, pipe, prompt: str, image, seed: int, max_tokens: int | None = None) -> str:
        """The family's prompt enhancement, with the model that writes it on the device: LTX-2.5's
        dedicated enhancer (visiting from the CPU), else the text encoder."""
        enhancer = getattr(pipe, "prompt_enhancer", None)
        if enhancer is not None:
            with self._lock:
                home = next(enhancer.parameters()).device
                moved = self.policy.offload != "model" and home != torch.device(self.policy.device)
                if moved:
                    enhancer.to(self.policy.device)
                try:
                    return self.family.enhance_prompt(pipe, prompt, image, seed, max_tokens)
                finally:
                    if moved:
                        enhancer.to(home)
        if self.policy.text_encoder == "stream":
            raise BadInput(
                "prompt enhancement is off on this card: the text encoder does not fit on it whole, and "
                "streaming it through layer by layer for every written word would take tens of minutes"
            )
        with self.text_encoder_on_device():
            return self.family.enhance_prompt(pipe, prompt, image, seed, max_tokens)

    def prepare_decode(self, width: int, height: int) -> bool:
        """Switch the VAE's tiling for a decode of this output size (the policy's `tiling_for`); whether it tiles."""
        tiling = self.policy.tiling_for(width, height)
        with self._lock:
            set_vae_tiling(self.shared()["vae"], tiling)
            if "diffusion_decoder" in self.shared():
                set_vae_tiling(self.shared()["diffusion_decoder"], tiling)
            self.decode_tiling = tiling
        return tiling

    def reduce_memory(self) -> str | None:
        """Step down to a lower-memory policy after an out-of-memory error; what changed, or None if nothing is left.

        The steps are the policy's (`MemoryPolicy.step_down`); this applies them to what is loaded.
        """
        with self._lock:
            step = self.policy.step_down()
            if step is None:
                return None
            before, (self.policy, change) = self.policy, step
            shared = self._shared or {}
            if self.policy.vae_tiling and "vae" in shared:
                shared["vae"].enable_tiling()
            if before.text_encoder == "device" and self.policy.text_encoder == "visit" and "text_encoder" in shared:
                shared["text_encoder"].to("cpu")
            if self.policy.offload != before.offload:
                if self.policy.offload == "group" or before.fp8:  # reloaded and placed anew on the next get()
                    for variant in list(self._pipelines):
                        self.evict(variant)
                if self.policy.offload == "model":
                    for module in [*self._transformers.values(), *shared.values()]:
                        if hasattr(module, "to"):
                            module.to("cpu")
                self._active = None  # the next get() chains the offload hooks
            return change

    def free_memory(self) -> None:
        """Release what a failed render left behind (cached allocator blocks, garbage)."""
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def cached_variants(self) -> list[str]:
        """Variants whose transformer is in memory, least recently used first."""
        with self._lock:
            return list(self._transformers)

    def state(self, variant: str) -> str:
        """ "ready" (in memory), "on disk" or "not downloaded"."""
        spec = self.model_set.variant(variant)
        if variant in self._pipelines:
            return "ready"
        sources = [spec.transformer, *required_components(self.model_set)]
        return "on disk" if all(is_on_disk(s) for s in sources) else "not downloaded"

    def evict(self, variant: str) -> None:
        """Drop a variant's transformer from memory."""
        with self._lock:
            self._transformers.pop(variant, None)
            pipe = self._pipelines.pop(variant, None)
            if pipe is not None and self.policy.offload == "model":
                pipe.remove_all_hooks()  # accelerate's hook chain would keep the transformer alive
            if self._active == variant:
                self._active = None
            del pipe
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
        if not is_on_disk(source):
            if _pickle_only(source):
                raise StudioError(
                    f"the {label} at {source.describe()} has only pickle (.bin/.pt) weights; LTX Studio loads "
                    "safetensors only (pickle files can run code): convert them to .safetensors"
                )
            raise WeightsMissing(self._missing_message(source, label, variant))
        location = resolve(source)
        try:
            component = self.family.load_component(
                kind, location, source.subfolder, source.file, source.config, self.policy.dtype
            )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            log.exception("loading %s failed", source.describe())
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise StudioError(f"could not load the {label} from {source.describe()}: {first_line}") from None
        if kind not in ("tokenizer", "scheduler") and hasattr(component, "eval"):
            component.eval()
        key = f"{kind}:{source.describe()}"
        self.loads[key] += 1
        self.bytes_loaded += parameter_bytes(component)
        self.load_seconds[key] = time.perf_counter() - started
        self._progress(f"Loaded {label}", 1.0)
        return component

    # Placement follows the policy (`placement`). Shared components are placed once; each transformer
    # once; model offload chains hooks across one pipeline's components, so it is re-chained when the
    # active variant changes (hooks are cheap; re-registering group-offload hooks would fail).

    def _activate(self, variant: str):
        pipe = self._pipelines[variant]
        if self.policy.offload == "model" and self._active != variant:
            pipe.enable_model_cpu_offload(device=self.policy.device)
        self._active = variant
        return pipe

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
