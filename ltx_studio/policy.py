"""Memory and speed policy: one small function decides how models sit on the device.

Inputs are facts about the machine (device kind, free memory) and the model set (bytes of
parameters); the output is a `MemoryPolicy` the manager applies. Nothing else decides offloading.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

log = logging.getLogger("ltx_studio")
GIB = 1024**3
# Activations, VAE decode and the CUDA context at 768x512x121 need room beside the weights.
ACTIVATION_HEADROOM = 8 * GIB
# One prompt through the text encoder (Gemma 3 12B's stacked hidden states at 1024 tokens: < 1 GiB).
ENCODE_HEADROOM = 2 * GIB
TILING_BELOW = 32 * GIB  # cards smaller than this always decode in tiles
TILING_FROM_PIXELS = 1920 * 1080  # and every card decodes 1080p and above in tiles
# FP8 bytes per bf16 byte of a transformer: the linear weights (nearly all of them) halve; norms,
# embeddings and the modulation tables stay bf16. Rounded up, so the plan errs towards fitting.
FP8_FRACTION = 0.55
WEIGHTS = ("bf16", "fp16", "fp32", "fp8-torchao", "fp8-layerwise")
TEXT_ENCODER_PLACES = ("device", "visit", "stream")
_DTYPE_WEIGHTS = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}
_TEXT_ENCODER_WORDS = {
    "device": "on the device",
    "visit": "visits the device per new prompt",
    "stream": "streams through the device per new prompt",
}


@dataclass(frozen=True)
class MemoryPolicy:
    """How to place models: device, dtype, weights, offloading, the text encoder, VAE tiling, and the
    transformer budget."""

    device: str
    dtype: torch.dtype
    offload: str  # "none" | "model" (whole models to CPU between uses) | "group" (layer by layer)
    vae_tiling: bool  # tile every decode (small cards, or after an out-of-memory); see `tiling_for`
    budget_bytes: int  # bytes of transformer parameters kept in memory at once
    # Speed levers, applied once per loaded transformer (so compile warm-up is once per process).
    # Defaults come per GPU class from `Levers` (built-in, then measured by the bench, then environment).
    compile: bool = False  # regional torch.compile of the repeated transformer blocks
    attention_backend: str | None = None  # a diffusers attention backend name, e.g. "_native_cudnn"
    fp8: bool = False  # weights are "fp8-torchao" (FP8 weights and matmuls); with weights unset, True asks for them
    levers_from: str = "built-in"
    # The transformer's weights: the policy's dtype ("bf16", "fp32"), or FP8 when the bf16 ones do not
    # fit: "fp8-torchao" (torchao, FP8 matmuls on Hopper/Ada/Blackwell) or "fp8-layerwise" (diffusers'
    # layerwise casting: stored FP8, computed in the policy's dtype; memory only). "" = the dtype's.
    weights: str = ""
    # The text encoder, needed only for a prompt not yet in the manager's embedding cache: "device"
    # (stays there), "visit" (on the CPU, moved whole to the device for one encode and back), or
    # "stream" (on the CPU, streamed through the device layer by layer when a whole visit does not fit).
    text_encoder: str = "device"

    def __post_init__(self) -> None:
        weights = self.weights or ("fp8-torchao" if self.fp8 else _DTYPE_WEIGHTS.get(self.dtype, "bf16"))
        if weights not in WEIGHTS or self.text_encoder not in TEXT_ENCODER_PLACES:
            raise ValueError(f"weights {weights!r} / text encoder {self.text_encoder!r}: not a known placement")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "fp8", weights == "fp8-torchao")

    def tiling_for(self, width: int, height: int) -> bool:
        """Whether a decode of this output size goes through the VAE in tiles."""
        return self.vae_tiling or width * height >= TILING_FROM_PIXELS

    def step_down(self) -> tuple[MemoryPolicy, str] | None:
        """The next lower-memory policy after an out-of-memory error and what changed, or None.

        VAE tiling for every size; then the text encoder off the device between prompts; then, with
        everything resident on a GPU, group offload (FP8 weights, or a streamed text encoder, whose
        hooks whole-model offload cannot take) or else model CPU offload (in the dtype: torchao's FP8
        tensors do not follow whole-model moves).
        """
        if not self.vae_tiling:
            return replace(self, vae_tiling=True), "VAE tiling"
        if self.device == "cpu":
            return None
        if self.text_encoder == "device" and self.offload != "model":
            return replace(self, text_encoder="visit"), "the text encoder on the CPU between prompts"
        if self.offload != "none":
            return None
        if self.weights.startswith("fp8") or self.text_encoder == "stream":
            return replace(self, offload="group", budget_bytes=0, compile=False), "group offload"
        dtype_weights = _DTYPE_WEIGHTS.get(self.dtype, "bf16")
        model = replace(self, offload="model", budget_bytes=0, fp8=False, weights=dtype_weights, text_encoder="visit")
        return model, "model CPU offload"

    def describe(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        levers = (
            (", compiled" if self.compile else "")
            + (f", attention {self.attention_backend}" if self.attention_backend else "")
            + (f" (speed levers {self.levers_from})" if self.levers_from != "built-in" else "")
        )
        tiling = "on" if self.vae_tiling else f"from {TILING_FROM_PIXELS // 1080}x1080"
        return (
            f"{self.device}, {dtype}, weights {self.weights}, offload {self.offload}, "
            f"text encoder {_TEXT_ENCODER_WORDS[self.text_encoder]}, VAE tiling {tiling}, "
            f"transformer budget {self.budget_bytes / GIB:.1f} GiB{levers}"
        )


# --- speed levers per GPU class -------------------------------------------------------------------

FP8_CLASSES = ("hopper", "ada", "blackwell")  # GPUs with FP8 tensor cores


@dataclass(frozen=True)
class Levers:
    """The speed levers the studio switches on for one GPU class, and where that choice came from."""

    compile: bool = False
    attention: str | None = None
    fp8: bool = False
    source: str = "built-in"

    def to_json(self) -> dict:
        return {"compile": self.compile, "attention": self.attention, "fp8": self.fp8, "source": self.source}


# Built in: the safe baseline (bf16 and PyTorch's own attention choice) for every class. Nothing is
# switched on here without a GPU figure behind it; `python -m ltx_studio bench --arch ... --sweep
# --save` measures each lever on this machine and stores the fastest safe set for its GPU class in
# the cache (`levers.json`), which then becomes this machine's default.
BUILT_IN_LEVERS: dict[str, Levers] = {}


def gpu_class(device: str) -> str:
    """cpu, mps, or the CUDA architecture family: blackwell, hopper, ada, ampere, turing, older."""
    kind = torch.device(device).type
    if kind != "cuda":
        return kind
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if major >= 10:
        return "blackwell"
    if major == 9:
        return "hopper"
    if (major, minor) == (8, 9):
        return "ada"
    return {8: "ampere", 7: "turing" if minor >= 5 else "older"}.get(major, "older")


def levers_file() -> Path:
    from .tiny import cache_root

    return cache_root() / "levers.json"


def measured_levers(klass: str) -> Levers | None:
    """The levers the bench stored for this GPU class, if it ran here with today's torch and diffusers.

    A broken file, an entry measured under other versions, or one naming a backend or library this
    machine no longer has counts as no measurement (with a warning): it must never stop the studio.
    """
    try:
        entry = json.loads(levers_file().read_text())[klass]
        levers = Levers(
            compile=bool(entry["compile"]),
            attention=entry.get("attention") or None,
            fp8=bool(entry.get("fp8")),
            source=f"measured {entry.get('date', '')} on {entry.get('gpu', klass)}".strip(),
        )
        measured_with = (entry.get("torch"), entry.get("diffusers"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    problem = None
    if measured_with != _versions():
        problem = f"measured with torch {measured_with[0]}, diffusers {measured_with[1]}"
    elif levers.attention and levers.attention not in local_attention_backends():
        problem = f"attention backend {levers.attention!r} is not available"
    elif levers.fp8 and importlib.util.find_spec("torchao") is None:
        problem = "FP8 needs torchao, which is not installed"
    if problem:
        log.warning(
            "ignoring the speed levers in %s (%s): rerun `python -m ltx_studio bench --sweep --save`",
            levers_file(),
            problem,
        )
        return None
    return levers


def _versions() -> tuple[str, str]:
    import diffusers

    return torch.__version__, diffusers.__version__


def save_levers(klass: str, levers: Levers, path: Path | None = None, **facts) -> Path:
    """Store the fastest safe levers measured for a GPU class (other classes' entries are kept)."""
    path = path or levers_file()
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    torch_version, diffusers_version = _versions()
    table[klass] = {
        "compile": levers.compile,
        "attention": levers.attention,
        "fp8": levers.fp8,
        "torch": torch_version,
        "diffusers": diffusers_version,
        **facts,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(table, indent=2))
    partial.replace(path)
    return path


def default_levers(device: str) -> Levers:
    klass = gpu_class(device)
    return measured_levers(klass) or BUILT_IN_LEVERS.get(klass, Levers())


def _flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    from .errors import BadInput

    raise BadInput(f"{name}={value!r}: use 1 or 0")


def local_attention_backends() -> set[str]:
    from diffusers.models.attention_dispatch import AttentionBackendName

    return {b.value for b in AttentionBackendName if not b.value.endswith("_hub")}  # hub kernels are remote code


def with_levers(policy: MemoryPolicy, levers: Levers | None = None) -> MemoryPolicy:
    """The policy with its speed levers: the GPU class's defaults, then the environment on top.

    LTX_STUDIO_COMPILE=1|0, LTX_STUDIO_ATTENTION=NAME|default, LTX_STUDIO_FP8=1|0.
    """
    from .errors import BadInput

    levers = levers or default_levers(policy.device)
    compile_, attention, fp8 = levers.compile or policy.compile, levers.attention, levers.fp8 or policy.fp8
    attention = attention or policy.attention_backend
    asked = {
        "compile": _flag("LTX_STUDIO_COMPILE"),
        "fp8": _flag("LTX_STUDIO_FP8"),
        "attention": os.environ.get("LTX_STUDIO_ATTENTION") or None,
    }
    if asked["compile"] is not None:
        compile_ = asked["compile"]
    if asked["fp8"] is not None:
        fp8 = asked["fp8"]
    if asked["attention"] is not None:
        attention = None if asked["attention"] == "default" else asked["attention"]
        if attention is not None and attention not in local_attention_backends():
            raise BadInput(
                f"LTX_STUDIO_ATTENTION={attention!r} is not a local attention backend "
                f"({', '.join(sorted(local_attention_backends()))})"
            )
    overridden = [name for name, value in asked.items() if value is not None]
    source = levers.source + (f", {' and '.join(overridden)} from the environment" if overridden else "")
    if fp8 and gpu_class(policy.device) not in FP8_CLASSES:
        if asked["fp8"]:
            raise BadInput(f"LTX_STUDIO_FP8=1 needs a Hopper, Ada or Blackwell GPU; {policy.device} has no FP8 matmuls")
        fp8 = False
    if fp8 and policy.offload == "model":
        if asked["fp8"]:
            log.warning(
                "LTX_STUDIO_FP8=1 is off: model offload moves whole models, which torchao's FP8 tensors do not follow"
            )
        fp8 = False
    # FP8 that memory asked for stays FP8: without torchao's matmuls, by layerwise casting.
    memory_fp8 = policy.weights.startswith("fp8")
    weights = "fp8-torchao" if fp8 else "fp8-layerwise" if memory_fp8 else _DTYPE_WEIGHTS.get(policy.dtype, "bf16")
    # Compiled blocks cannot hold group-offload hooks (they are excluded from compilation), and layerwise
    # casting recasts each layer's weights in every forward: neither is compiled.
    compile_ = compile_ and policy.offload != "group" and weights != "fp8-layerwise"
    return replace(policy, compile=compile_, attention_backend=attention, fp8=fp8, weights=weights, levers_from=source)


def torchao_fp8_here(device: str) -> bool:
    """Whether torchao's FP8 (weights and matmuls) can run here: an FP8 GPU and torchao installed."""
    return gpu_class(device) in FP8_CLASSES and importlib.util.find_spec("torchao") is not None


def choose_policy(
    device: str,
    free_bytes: int,
    shared_bytes: int,
    transformer_bytes: int,
    *,
    text_encoder_bytes: int = 0,
    torchao: bool = False,
) -> MemoryPolicy:
    """Decide the policy from the device, its free memory and the model sizes (bytes of parameters).

    `shared_bytes` are the set's shared parts other than the text encoder (VAEs, vocoder, connectors),
    `text_encoder_bytes` the text encoder's (0: it is counted in `shared_bytes` and stays with them),
    `transformer_bytes` the largest variant's transformer in bf16; `torchao`: torchao's FP8 can run here.

    - CPU: float32 (bf16 matmuls are slow on most CPUs), no offload; budget half the free RAM.
    - GPU: bf16, the first plan that fits, from fastest to leanest: everything resident; model offload
      if each model fits alone; FP8 weights resident (torchao, else layerwise casting); FP8 weights
      with group offload. The text encoder, needed only for a new prompt (the manager caches
      embeddings), stays on the device if it fits beside the resident models, else visits the
      device whole for each new prompt, else streams through it layer by layer. VAE tiling on
      cards under 32 GiB; `tiling_for` adds it for 1080p and above on any card.
    """
    if device == "cpu":
        return MemoryPolicy("cpu", torch.float32, "none", False, max(free_bytes // 2, transformer_bytes))
    room = free_bytes - ACTIVATION_HEADROOM
    fp8 = "fp8-torchao" if torchao else "fp8-layerwise"
    fp8_bytes = int(transformer_bytes * FP8_FRACTION)
    if shared_bytes + transformer_bytes <= room:
        offload, weights, transformer_on_device = "none", "bf16", transformer_bytes
    elif max(shared_bytes, transformer_bytes, text_encoder_bytes) <= room:
        offload, weights, transformer_on_device = "model", "bf16", transformer_bytes
    elif shared_bytes + fp8_bytes <= room:
        offload, weights, transformer_on_device = "none", fp8, fp8_bytes
    else:
        offload, weights, transformer_on_device = "group", fp8, fp8_bytes
    if offload == "model":  # accelerate moves every model whole, the text encoder included
        text_encoder, budget = "visit", transformer_bytes  # one transformer at a time on the card
    elif offload == "group":  # the transformer and the shared parts stream: the text encoder has the card
        text_encoder = _text_encoder_place(0, text_encoder_bytes, room, free_bytes)
        budget = transformer_on_device
    else:
        resident = shared_bytes + transformer_on_device
        text_encoder = _text_encoder_place(resident, text_encoder_bytes, room, free_bytes)
        room_for_transformers = {
            "device": room - text_encoder_bytes,
            "visit": min(room, free_bytes - text_encoder_bytes - ENCODE_HEADROOM),  # a visit still fits
            "stream": room,
        }[text_encoder]
        budget = room_for_transformers - shared_bytes
    return MemoryPolicy(
        device,
        torch.bfloat16,
        offload,
        free_bytes < TILING_BELOW,
        max(budget, transformer_on_device),
        weights=weights,
        text_encoder=text_encoder,
    )


def _text_encoder_place(resident: int, text_encoder_bytes: int, room: int, free_bytes: int) -> str:
    """device, visit or stream: where the text encoder waits, given the bytes resident beside it."""
    if resident + text_encoder_bytes <= room:
        return "device"
    if resident + text_encoder_bytes + ENCODE_HEADROOM <= free_bytes:  # a denoise's activations are gone by then
        return "visit"
    return "stream"


def detect_device() -> tuple[str, int]:
    """The device to render on and its free memory in bytes (`LTX_STUDIO_DEVICE`, e.g. cuda:1, overrides)."""
    from .errors import BadInput

    asked = os.environ.get("LTX_STUDIO_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(asked)
    except (RuntimeError, ValueError):
        raise BadInput(f"LTX_STUDIO_DEVICE={asked!r} is not a device (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count():
            raise BadInput(f"LTX_STUDIO_DEVICE={asked!r}: no such CUDA device here")
        free, _total = torch.cuda.mem_get_info(device)
        return str(device), int(free)
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pages = 8 * GIB
    return str(device), int(pages)
