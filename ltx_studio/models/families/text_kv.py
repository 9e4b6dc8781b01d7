"""Exact text K/V caching: the prompt's keys and values in every block computed once per render, reused at
every step. The prompt does not change while a clip denoises, so neither does any projection of it alone.

diffusers 0.42.1's `hooks/text_kv_cache.py` covers only NucleusMoE's blocks; this is the same idea for the
LTX transformers, at the level of the linear layers that see only text: the caption projections and each
cross-attention's `to_k` and `to_v`. A layer's output is reused when its input is equal, element for
element, to the one it was computed from (the same text, even in a new tensor each step: LTX-2 projects its
captions anew every call), so the result is bit-identical to not caching, by construction; the check reads
the input once, a small fraction of the matmul it saves.

Where the text is modulated by the step's timestep before its K/V projections (LTX-2.3: `cross_attn_adaln`
with `use_prompt_adaln_single`), those inputs differ every step and only the caption projections are kept;
LTX-2.0 and LTX-2.5 (a fixed per-layer table) keep all. At most two inputs a layer (a prompt and its
negative, or CFG's batch), dropped when the block ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

TEXT_ONLY = ("caption_projection", "audio_caption_projection")
CROSS = ("attn2", "audio_attn2")


def text_layers(transformer) -> list[torch.nn.Module]:
    """The layers of `transformer` whose input is text alone, whose output is the same at every step."""
    modulated = bool(getattr(transformer, "prompt_modulation", False)) and bool(
        getattr(getattr(transformer, "config", None), "use_prompt_adaln_single", False)
    )
    found = [module for name, module in transformer.named_children() if name in TEXT_ONLY]
    if not modulated:
        for name, module in transformer.named_modules():
            if name.rsplit(".", 1)[-1] in CROSS:
                found += [layer for layer in (getattr(module, "to_k", None), getattr(module, "to_v", None)) if layer]
    return found


@contextlib.contextmanager
def text_kv_cache(transformer, enabled: bool = True) -> Iterator[dict]:
    """While the block runs, each text-only layer of `transformer` reuses its output for an input equal to one
    it has seen. Yields counts {"computed": n, "reused": n}. Off under torch.compile: the equality check is
    data-dependent (a graph break in a fullgraph block) and swapping a layer's forward makes the compiled
    graph's guards fail (a recompile per render)."""
    counts = {"computed": 0, "reused": 0}
    if not enabled:
        yield counts
        return
    wrapped = []
    for layer in text_layers(transformer):
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []
        own, original = layer.__dict__.get("forward"), layer.forward  # (an offload hook's wrapper, if any)

        def forward(x, *args, seen=seen, original=original, **kwargs):
            for kept, out in seen:
                if kept.shape == x.shape and kept.dtype == x.dtype and kept.device == x.device and torch.equal(kept, x):
                    counts["reused"] += 1
                    return out
            out = original(x, *args, **kwargs)
            counts["computed"] += 1
            seen.append((x.detach().clone(), out.detach()))
            del seen[:-2]
            return out

        layer.forward = forward
        wrapped.append((layer, own))
    try:
        yield counts
    finally:
        for layer, own in wrapped:
            if own is None:
                del layer.forward
            else:
                layer.forward = own
