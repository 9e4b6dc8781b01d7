"""Exact text K/V caching (models/families/text_kv.py): the same latents as without it, the projections made
once per render."""

from __future__ import annotations

from dataclasses import replace

import torch
from recording import recording

from ltx_studio.models.families.text_kv import text_kv_cache, text_layers
from ltx_studio.render.request import RenderRequest
from ltx_studio.render.story import load_latents


def test_the_text_kv_cache_gives_identical_latents_and_computes_each_projection_once(studio, monkeypatch):
    request = RenderRequest(prompt="a lantern in the fog", frames=17, width=192, height=128, seed=11, guidance=3.0,
                            variant="pro")  # fmt: skip
    transformer = studio.manager.get("pro").transformer
    layers = text_layers(transformer)
    assert len(layers) == 2 + 4 * len(transformer.transformer_blocks)  # captions; video and audio to_k, to_v a block
    cached = studio.render(request, preview=False)
    monkeypatch.setattr(studio.manager, "policy", replace(studio.manager.policy, text_kv_cache=False))
    plain = studio.render(request, preview=False)
    mine, theirs = load_latents(cached), load_latents(plain)
    assert torch.equal(mine.video, theirs.video) and torch.equal(mine.audio, theirs.audio)  # bit-identical
    with text_kv_cache(transformer) as counts, recording(studio, "pro") as calls:
        studio.render(replace(request, seed=12), preview=False)
    assert counts["computed"] + counts["reused"] == len(layers) * len(calls)
    # once per distinct text: Pro's guided stage (prompt and negative in one batch), then its refine (the prompt)
    assert counts["computed"] == 2 * len(layers) and len(calls) > 4
