"""Speed levers per GPU class (compile, attention backend, FP8 matmuls): the built-in safe baseline,
what the bench measured and stored for this machine, and the environment on top, applied to a
memory policy (`with_levers`)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .policy import _DTYPE_WEIGHTS, MemoryPolicy

log = logging.getLogger(__name__)

FP8_CLASSES = ("hopper", "ada", "blackwell")  # GPUs with FP8 tensor cores


@dataclass(frozen=True)
class Levers:
    """The speed levers the studio switches on for one GPU class, and where that choice came from."""

    compile: bool = False
    attention: str | None = None
    fp8: bool = False
    step_cache: str | None = None  # a step cache the sweep kept (placement.STEP_CACHES): multi-step variants only
    source: str = "built-in"

    def to_json(self) -> dict:
        return {"compile": self.compile, "attention": self.attention, "fp8": self.fp8, "step_cache": self.step_cache,
                "source": self.source}  # fmt: skip


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
            step_cache=entry.get("step_cache") or None,
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
        "step_cache": levers.step_cache,
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
    from ..core.errors import BadInput

    raise BadInput(f"{name}={value!r}: use 1 or 0")


def local_attention_backends() -> set[str]:
    from diffusers.models.attention_dispatch import AttentionBackendName

    return {b.value for b in AttentionBackendName if not b.value.endswith("_hub")}  # hub kernels are remote code


def with_levers(policy: MemoryPolicy, levers: Levers | None = None) -> MemoryPolicy:
    """The policy with its speed levers: the GPU class's defaults, then the environment on top.

    LTX_STUDIO_COMPILE=1|0, LTX_STUDIO_ATTENTION=NAME|default, LTX_STUDIO_FP8=1|0.
    """
    from ..core.errors import BadInput

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
    step_cache = levers.step_cache or policy.step_cache
    return replace(policy, compile=compile_, attention_backend=attention, fp8=fp8, weights=weights, levers_from=source,
                   step_cache=step_cache)  # fmt: skip


def torchao_fp8_here(device: str) -> bool:
    """Whether torchao's FP8 (weights and matmuls) can run here: an FP8 GPU and torchao installed."""
    return gpu_class(device) in FP8_CLASSES and importlib.util.find_spec("torchao") is not None
