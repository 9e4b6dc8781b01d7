"""What an LTX-2 render computes, matched to Lightricks' reference where diffusers differs (the parity
suite in tests/parity/ compares with ltx-core itself); these run on the demo set, every time."""

from __future__ import annotations

import pytest
import torch

from ltx_studio.models.families import cross_timestep, ltx2_reference
from ltx_studio.models.families.base import DenoiseJob
from ltx_studio.render.request import RenderRequest

SMALL = {"width": 96, "height": 64}
# Lightricks' LTX2Scheduler().execute(30) (ltx_core components/schedulers.py, no latent), as it prints.
REFERENCE_30 = {0: 0.9999999403953552, 1: 0.9949570298194885, 15: 0.8698580265045166, 29: 0.10000002384185791}


def test_pro_sigmas_are_the_references_whatever_the_size(studio):
    pro = studio.model_set.variant("pro")
    sigmas = []
    for width, height in ((384, 256), (960, 544)):
        job = DenoiseJob(None, width, height, 121, 24, pro.sampling, None, 3.0, steps=30)
        sigmas.append(ltx2_reference.schedule(pro.sampling, job)[0])
    assert sigmas[0] == sigmas[1]  # the shift is the one for 4096 tokens at every size
    for index, value in REFERENCE_30.items():
        assert sigmas[0][index] == pytest.approx(value, abs=1e-7)


def test_every_ltx2_transformer_can_run_stg(studio):
    transformer = studio.manager.get("pro").transformer
    assert transformer.config.perturbed_attn
    inputs = _recorded_call(studio, "pro")
    plain = transformer(**inputs)[0]
    perturbed = transformer(**{**inputs, "spatio_temporal_guidance_blocks": [0]})[0]
    assert not torch.allclose(plain, perturbed)  # the STG pass is not the plain pass thrown away


def test_the_may_2026_rule_feeds_own_timesteps_to_scale_and_shift_and_the_other_sigma_to_the_gate(studio):
    transformer = studio.manager.get("fast").transformer
    inputs = _recorded_call(studio, "fast")
    batch = inputs["timestep"].shape[0]
    inputs["audio_sigma"] = inputs["sigma"] * 0.5  # the streams at different sigmas: the gate's source shows
    seen = {}

    def block_inputs(module, args, kwargs):
        seen.update({k: kwargs[k] for k in ("temb_ca_scale_shift", "temb_ca_gate", "temb_ca_audio_gate")})

    handle = transformer.transformer_blocks[0].register_forward_pre_hook(block_inputs, with_kwargs=True)
    outputs = {}
    try:
        for rule in cross_timestep.RULES:
            with cross_timestep.cross_timestep_rule(transformer, rule), torch.no_grad():
                flag = cross_timestep.call_flag(rule)
                outputs[rule] = transformer(**inputs, use_cross_timestep=flag)[0]
    finally:
        handle.remove()
    factor = transformer.config.cross_attn_timestep_scale_multiplier / transformer.config.timestep_scale_multiplier
    dtype = inputs["hidden_states"].dtype
    own = transformer.av_cross_attn_video_scale_shift(
        inputs["timestep"].flatten(), batch_size=batch, hidden_dtype=dtype
    )
    gate = transformer.av_cross_attn_video_a2v_gate(
        inputs["audio_sigma"].flatten() * factor, batch_size=batch, hidden_dtype=dtype
    )
    audio_gate = transformer.av_cross_attn_audio_v2a_gate(
        inputs["sigma"].flatten() * factor, batch_size=batch, hidden_dtype=dtype
    )
    assert torch.equal(seen["temb_ca_scale_shift"], own[0].view(batch, -1, own[0].shape[-1]))  # per token
    assert torch.equal(seen["temb_ca_gate"], gate[0].view(batch, -1, gate[0].shape[-1]))
    assert torch.equal(seen["temb_ca_audio_gate"], audio_gate[0].view(batch, -1, audio_gate[0].shape[-1]))
    may = outputs["own-scale-other-gate"]
    assert not torch.equal(may, outputs["own"]) and not torch.equal(may, outputs["other"])


def test_the_sets_say_their_cross_attention_rule(registry):
    for name in ("ltx2", "ltx2-19b", "ltx25", "demo"):
        assert registry[name].cross_timestep == "own-scale-other-gate"


def test_the_ltx2_upsampler_applies_no_adain(registry):
    for name in ("ltx2", "ltx2-19b", "ltx25", "demo", "demo-ltx25"):
        assert registry[name].upsample_adain_factor == 0.0


def test_pro_refines_on_its_own_transformer_with_the_distilled_lora(studio):
    take = studio.render(RenderRequest(prompt="a harbour", variant="pro", steps=2, frames=9, **SMALL))
    first, refine = take.settings["stages"]
    assert refine["refine"] and refine["variant"] == "distilled"  # the distilled schedule and guidance ...
    assert refine["transformer"] == "pro" and refine["lora"] == "tiny:distilled-lora"  # ... on dev, with the LoRA
    assert "transformer" not in first
    one_stage = studio.retake(take.id, 0.0, 0.3, what="video", seed=1)  # a one-stage render of Pro: no refine
    assert [stage.get("lora") for stage in one_stage.settings["stages"]] == [None]


def _recorded_call(studio, variant: str) -> dict:
    """The kwargs of one real call of `variant`'s transformer (a tiny first-frame draft), to replay."""
    import numpy as np
    from PIL import Image

    transformer = studio.manager.get(variant).transformer
    calls = []

    def keep(module, args, kwargs):
        if not calls:
            calls.append({k: v for k, v in kwargs.items() if k not in ("use_cross_timestep", "return_dict")})

    handle = transformer.register_forward_pre_hook(keep, with_kwargs=True)
    try:
        image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8))
        studio.render(RenderRequest(prompt="a kite", image=image, variant=variant, steps=1, frames=9, **SMALL))
    finally:
        handle.remove()
    return {**calls[0], "return_dict": False}
