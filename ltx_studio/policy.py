"""Memory and speed policy: one small function decides how models sit on the device.

Inputs are facts about the machine (device kind, free memory) and the model set (bytes of
parameters); the output is a `MemoryPolicy` the manager applies. Nothing else decides offloading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

GIB = 1024**3
# Activations, VAE decode and the CUDA context at 768x512x121 need room beside the weights.
ACTIVATION_HEADROOM = 8 * GIB
TILING_BELOW = 32 * GIB


@dataclass(frozen=True)
class MemoryPolicy:
    """How to place models: device, dtype, offloading and VAE tiling, plus the transformer budget."""

    device: str
    dtype: torch.dtype
    offload: str  # "none" | "model" (whole models to CPU between uses) | "group" (layer by layer)
    vae_tiling: bool
    budget_bytes: int  # bytes of transformer parameters kept in memory at once
    # Speed levers, applied once per loaded transformer (so compile warm-up is once per process).
    # Off by default until GPU benchmarks pick the fastest safe set per GPU class (BENCHMARKS.md).
    compile: bool = False  # regional torch.compile of the repeated transformer blocks
    attention_backend: str | None = None  # a diffusers attention backend name, e.g. "_native_cudnn"

    def describe(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        levers = (", compiled" if self.compile else "") + (
            f", attention {self.attention_backend}" if self.attention_backend else ""
        )
        return (
            f"{self.device}, {dtype}, offload {self.offload}, VAE tiling {'on' if self.vae_tiling else 'off'}, "
            f"transformer budget {self.budget_bytes / GIB:.1f} GiB{levers}"
        )


def with_levers(policy: MemoryPolicy) -> MemoryPolicy:
    """The policy with speed levers asked for in the environment (LTX_STUDIO_COMPILE=1, LTX_STUDIO_ATTENTION=NAME)."""
    from dataclasses import replace

    from .errors import BadInput

    compile_ = os.environ.get("LTX_STUDIO_COMPILE", "").lower() in ("1", "true", "yes")
    attention = os.environ.get("LTX_STUDIO_ATTENTION") or None
    if attention is not None:
        from diffusers.models.attention_dispatch import AttentionBackendName

        names = {b.value for b in AttentionBackendName if not b.value.endswith("_hub")}  # hub kernels are remote code
        if attention not in names:
            raise BadInput(
                f"LTX_STUDIO_ATTENTION={attention!r} is not a local attention backend ({', '.join(sorted(names))})"
            )
    # Compiled blocks cannot hold group-offload hooks (they are excluded from compilation).
    compile_ = (compile_ or policy.compile) and policy.offload != "group"
    return replace(policy, compile=compile_, attention_backend=attention or policy.attention_backend)


def choose_policy(device: str, free_bytes: int, shared_bytes: int, transformer_bytes: int) -> MemoryPolicy:
    """Decide the policy from the device, its free memory and the model sizes (bytes of parameters).

    - CPU: float32 (bf16 matmuls are slow on most CPUs), no offload; budget half the free RAM.
    - GPU: bf16. Everything resident if it fits with headroom; else model offload if the largest
      single model fits; else group offload. VAE tiling on smaller cards.
    """
    if device == "cpu":
        return MemoryPolicy("cpu", torch.float32, "none", False, max(free_bytes // 2, transformer_bytes))
    room = free_bytes - ACTIVATION_HEADROOM
    if shared_bytes + transformer_bytes <= room:
        offload = "none"
        budget = room - shared_bytes
    elif max(shared_bytes, transformer_bytes) <= room:
        offload = "model"
        budget = transformer_bytes  # one transformer at a time on the card
    else:
        offload = "group"
        budget = transformer_bytes
    return MemoryPolicy(device, torch.bfloat16, offload, free_bytes < TILING_BELOW, max(budget, transformer_bytes))


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
