"""Placement: put a model set's components where the memory policy says.

The policy decides (device, offload, FP8 weights, where the text encoder waits, VAE tiling); these
functions only carry it out with diffusers' own tools. The manager calls them, once per component.
"""

from __future__ import annotations

import torch

from ..core.errors import BadInput
from .policy import MemoryPolicy

VAES = ("vae", "audio_vae")


def place_shared(shared: dict, policy: MemoryPolicy) -> None:
    """Place the shared components; under model offload accelerate's hooks place them per call."""
    device, offload = torch.device(policy.device), policy.offload
    for kind, module in shared.items():
        if not isinstance(module, torch.nn.Module):
            continue  # tokenizer, processor, scheduler
        if kind == "text_encoder" and offload != "model":
            place_text_encoder(module, policy)
        elif kind == "prompt_enhancer" and offload != "model":
            # LTX-2.5's enhancer writes rarely: it waits on the CPU (and visits for a rewrite) unless
            # even the text encoder may stay on the device.
            module.to(device if policy.text_encoder == "device" else "cpu")
        elif offload == "none":
            module.to(device)
        elif offload == "group":
            # No CUDA streams for the VAEs: they misorder prefetches when tiling changes the call pattern.
            _group_offload(module, device, streams=kind not in VAES)


def place_text_encoder(encoder: torch.nn.Module, policy: MemoryPolicy) -> None:
    """On the device; or left on the CPU to visit (`visiting`); or streamed layer by layer.

    A streamed encoder moves each layer in and out as it runs, without CUDA streams: a prompt is
    encoded rarely (the manager caches embeddings), and streams would pin a second copy of its
    weights (24 GB for Gemma 3 12B) in the host's memory for good.
    """
    device = torch.device(policy.device)
    if policy.text_encoder == "device":
        encoder.to(device)
    elif policy.text_encoder == "stream":
        _group_offload(encoder, device, streams=False)


def place_transformer(transformer, policy: MemoryPolicy) -> None:
    """Attention backend, weights (FP8 by torchao or by layerwise casting), device, compile, offload.

    Layerwise casting goes first, on the CPU: the weights are FP8 before they reach the card, and
    group offload (registered after it, so its hook runs first) moves the FP8 copies, then the cast
    to the compute dtype happens on the device, one layer at a time.
    """
    device, offload = torch.device(policy.device), policy.offload
    if policy.attention_backend:
        try:
            transformer.set_attention_backend(policy.attention_backend)
        except (ValueError, RuntimeError, ImportError) as exc:
            raise BadInput(f"attention backend {policy.attention_backend!r} is not usable here: {exc}") from None
    if policy.weights == "fp8-layerwise":
        transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=policy.dtype)
    if offload == "none":
        transformer.to(device)
    if policy.weights == "fp8-torchao":
        quantize_fp8(transformer)
    if policy.compile:
        # Compiles on first use. Dynamic shapes: one warm-up per process serves every size and
        # frame count (static shapes would compile again for each new one).
        transformer.compile_repeated_blocks(fullgraph=True, dynamic=True)
    if offload == "group":
        transformer.enable_group_offload(
            onload_device=device,
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=device.type == "cuda",
        )


def quantize_fp8(transformer) -> None:
    """FP8 weights and dynamically scaled FP8 activations for the transformer's linear layers (torchao)."""
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_
    except ImportError:
        raise BadInput("FP8 needs torchao: pip install torchao (or set LTX_STUDIO_FP8=0)") from None
    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig())


def set_vae_tiling(vae, tiling: bool) -> None:
    """Decode in tiles or whole (diffusers' VAEs, and LTX-2.5's diffusion decoder, keep the flag in `use_tiling`)."""
    if tiling:
        vae.enable_tiling()
    else:
        vae.disable_tiling()


def _group_offload(module: torch.nn.Module, device: torch.device, *, streams: bool) -> None:
    from diffusers.hooks import apply_group_offloading

    apply_group_offloading(
        module,
        onload_device=device,
        offload_device=torch.device("cpu"),
        offload_type="leaf_level",
        use_stream=streams and device.type == "cuda",  # CUDA streams prefetch the next layer
    )


# Step caches diffusers 0.42.1 ships as hooks, by the name the lever sweep and levers.json use. MagCache is not
# here: it needs magnitude ratios calibrated per checkpoint (MagCacheConfig), which random weights cannot give.
STEP_CACHE_THRESHOLD = 0.05


def step_cache_config(kind: str):
    """diffusers' config for a step cache: first-block (FirstBlockCache) or taylorseer (TaylorSeer, order 1)."""
    from diffusers import FirstBlockCacheConfig, TaylorSeerCacheConfig

    if kind == "first-block":
        return FirstBlockCacheConfig(threshold=STEP_CACHE_THRESHOLD)
    if kind == "taylorseer":
        return TaylorSeerCacheConfig(cache_interval=2, disable_cache_before_step=3, max_order=1,
                                     taylor_factors_dtype=torch.float32)  # fmt: skip
    raise BadInput(f"unknown step cache {kind!r} (choose from: {', '.join(STEP_CACHES)})")


STEP_CACHES = ("first-block", "taylorseer")


def apply_step_cache(transformer, kind: str | None) -> None:
    """Switch `kind` on for `transformer` (None: none)."""
    if kind:
        transformer.enable_cache(step_cache_config(kind))
