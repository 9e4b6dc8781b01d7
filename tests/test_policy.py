"""The memory policy: a card's free memory and a model set's sizes in, a plan for placing the models out.

Sizes are the real ones in bf16 (LTX_FACTS.md); a card's free memory is its size less about 1 GiB
that the driver and the CUDA context take.
"""

from __future__ import annotations

import pytest
import torch

from ltx_studio.models.levers import Levers, with_levers
from ltx_studio.models.policy import (
    ACTIVATION_HEADROOM,
    ENCODE_HEADROOM,
    FP8_FRACTION,
    GIB,
    MemoryPolicy,
    activation_bytes,
    choose_policy,
)

# (shared parts other than the text encoder, largest transformer, text encoder), bytes in bf16
LTX23 = (3e9, 44e9, 24e9)  # VAEs, vocoder, connectors; 22B transformer; Gemma 3 12B
LTXV_13B = (1e9, 26e9, 9.5e9)  # VAE; 13B transformer; T5-XXL
LTXV_2B = (1e9, 4e9, 9.5e9)


DRAFT_720P = (1280, 704, 121)  # LTX-2.3 Distilled's draft: 5 s of 720p


def plan(sizes, card_gb: int, *, torchao: bool = False, host_gb: int | None = None, size=None) -> MemoryPolicy:
    shared, transformer, text_encoder = (int(n) for n in sizes)
    free = card_gb * GIB - GIB
    host = None if host_gb is None else host_gb * GIB
    planned = {} if size is None else dict(zip(("width", "height", "frames"), size, strict=True))
    return choose_policy(
        "cuda", free, shared, transformer, text_encoder_bytes=text_encoder, torchao=torchao, host_bytes=host, **planned
    )


@pytest.mark.parametrize(
    "sizes, card_gb, weights, offload, text_encoder, always_tile",
    [
        # LTX-2.3: all of it (~66 GiB) sits on an 80 GB card; on 48 GB only FP8 weights fit, and Gemma
        # (~22 GiB) is streamed for a new prompt; below that the FP8 transformer streams layer by layer.
        (LTX23, 80, "bf16", "none", "device", False),
        (LTX23, 48, "fp8-layerwise", "none", "stream", False),
        (LTX23, 32, "fp8-layerwise", "group", "device", True),
        (LTX23, 24, "fp8-layerwise", "group", "stream", True),
        # LTX-Video 13B: bf16 with T5 from 48 GB; FP8 below, T5 visiting or streaming for a new prompt.
        (LTXV_13B, 80, "bf16", "none", "device", False),
        (LTXV_13B, 48, "bf16", "none", "device", False),
        (LTXV_13B, 32, "fp8-layerwise", "none", "visit", True),
        (LTXV_13B, 24, "fp8-layerwise", "none", "stream", True),
        # LTX-Video 2B fits everywhere.
        (LTXV_2B, 80, "bf16", "none", "device", False),
        (LTXV_2B, 48, "bf16", "none", "device", False),
        (LTXV_2B, 32, "bf16", "none", "device", True),
        (LTXV_2B, 24, "bf16", "none", "device", True),
    ],
)
def test_each_card_gets_the_fastest_plan_that_fits(sizes, card_gb, weights, offload, text_encoder, always_tile):
    policy = plan(sizes, card_gb)
    assert (policy.weights, policy.offload, policy.text_encoder) == (weights, offload, text_encoder)
    assert policy.vae_tiling == always_tile and policy.dtype == torch.bfloat16
    assert_plan_fits(policy, sizes, card_gb)


def assert_plan_fits(policy: MemoryPolicy, sizes, card_gb: int) -> None:
    """What sits on the card while denoising, and while encoding a new prompt, fits its free memory."""
    shared, transformer, text_encoder = (int(n) for n in sizes)
    free = card_gb * GIB - GIB
    fp8 = policy.weights.startswith("fp8")
    resident = 0 if policy.offload != "none" else shared + (int(transformer * FP8_FRACTION) if fp8 else transformer)
    resident_text_encoder = text_encoder if policy.text_encoder == "device" else 0
    assert resident + resident_text_encoder + ACTIVATION_HEADROOM <= free
    visiting = text_encoder if policy.text_encoder == "visit" else 0
    assert resident + resident_text_encoder + visiting + ENCODE_HEADROOM <= free
    transformer_in_memory = int(transformer * FP8_FRACTION) if fp8 else transformer
    assert policy.budget_bytes >= transformer_in_memory  # one transformer always fits its budget


def test_a_720p_distilled_ltx23_draft_has_a_plan_on_a_24gb_card():
    policy = plan(LTX23, 24)
    assert policy.weights == "fp8-layerwise" and policy.offload == "group"
    assert policy.text_encoder in ("visit", "stream")  # Gemma is off the card between prompts
    assert policy.tiling_for(1280, 704)
    assert "weights fp8-layerwise, offload group, text encoder streams through the device" in policy.describe()


def test_fp8_weights_go_through_torchao_where_it_runs_else_layerwise_casting(monkeypatch):
    monkeypatch.delenv("LTX_STUDIO_FP8", raising=False)
    assert plan(LTX23, 24, torchao=True).weights == "fp8-torchao"
    assert plan(LTX23, 48, torchao=True).weights == "fp8-torchao"
    assert plan(LTX23, 80, torchao=True).weights == "bf16"  # torchao alone is a speed lever, not memory's call

    # Saying no to torchao still leaves FP8 where memory needs it; layerwise casting is never compiled.
    monkeypatch.setenv("LTX_STUDIO_FP8", "0")
    policy = with_levers(plan(LTX23, 24, torchao=True), Levers(compile=True))
    assert (policy.weights, policy.fp8, policy.compile) == ("fp8-layerwise", False, False)
    policy = with_levers(plan(LTX23, 48, torchao=True), Levers(compile=True))
    assert (policy.weights, policy.compile) == ("fp8-layerwise", False)
    policy = with_levers(plan(LTX23, 80), Levers(compile=True))
    assert (policy.weights, policy.compile) == ("bf16", True)


def test_the_cpu_stays_float32_without_offload():
    policy = choose_policy("cpu", 24 * GIB, int(3e9), int(44e9), text_encoder_bytes=int(24e9))
    assert (policy.dtype, policy.weights, policy.offload, policy.text_encoder) == (
        torch.float32,
        "fp32",
        "none",
        "device",
    )
    assert policy.budget_bytes >= int(44e9)


def test_tiling_follows_the_output_size_and_the_card():
    big, small = plan(LTX23, 80), plan(LTX23, 24)
    assert big.tiling_for(1920, 1088) and big.tiling_for(1088, 1920)  # 1080p, either way round
    assert not big.tiling_for(1280, 704) and not big.tiling_for(384, 256)
    assert small.tiling_for(384, 256)  # a small card tiles every decode
    assert "VAE tiling from 1920x1080" in big.describe() and "VAE tiling on" in small.describe()


def test_out_of_memory_steps_down_one_lever_at_a_time():
    def ladder(policy):
        changes = []
        while (step := policy.step_down()) is not None:
            policy, change = step
            changes.append(change)
        return changes, policy

    changes, last = ladder(plan(LTX23, 80))
    assert changes == ["VAE tiling", "the text encoder on the CPU between prompts", "model CPU offload"]
    assert (last.offload, last.weights) == ("model", "bf16")
    changes, last = ladder(plan(LTX23, 48))  # FP8 resident, Gemma streamed: group offload is next
    assert changes == ["VAE tiling", "group offload"] and last.weights == "fp8-layerwise"
    assert ladder(plan(LTX23, 24))[0] == []  # nothing left below FP8 + group offload + a streamed Gemma
    assert ladder(choose_policy("cpu", 24 * GIB, GIB, GIB))[0] == ["VAE tiling"]


@pytest.mark.parametrize(
    "device, free, shared, transformer, offload, tiling",
    [
        ("cpu", 24 * GIB, 1 * GIB, 1 * GIB, "none", False),
        ("cuda", 80 * GIB, 12 * GIB, 26 * GIB, "none", False),  # H100: 13B + T5 + VAE resident
        ("cuda", 24 * GIB, 12 * GIB, 4 * GIB, "none", True),  # 2B on a 24 GB card
        ("cuda", 40 * GIB, 12 * GIB, 26 * GIB, "model", False),  # 13B on a 40 GB card: one model at a time
        ("cuda", 24 * GIB, 12 * GIB, 26 * GIB, "group", True),  # 13B on a 24 GB card: FP8, layer by layer
    ],
)
def test_a_text_encoder_counted_with_the_shared_parts_goes_where_they_go(
    device, free, shared, transformer, offload, tiling
):
    policy = choose_policy(device, free, shared, transformer)
    text_encoder = "visit" if offload == "model" else "device"  # model offload moves every model whole
    assert (policy.offload, policy.vae_tiling, policy.text_encoder) == (offload, tiling, text_encoder)
    assert str(policy.dtype) == ("torch.float32" if device == "cpu" else "torch.bfloat16")


def test_a_policy_built_by_hand_names_its_weights():
    """The bench builds policies directly: FP8 asked as a lever means torchao weights."""
    assert MemoryPolicy("cuda", torch.bfloat16, "none", False, GIB, fp8=True).weights == "fp8-torchao"
    assert MemoryPolicy("cpu", torch.float32, "none", False, GIB).weights == "fp32"
    with pytest.raises(ValueError, match="not a known placement"):
        MemoryPolicy("cpu", torch.float32, "none", False, GIB, text_encoder="cpu-ish")


# --- the 16 GB card: host RAM and the render's size ----------------------------------------------


@pytest.mark.parametrize(
    "card_gb, weights, offload, text_encoder, always_tile",
    [
        # Whole in bf16; the 720p decode goes in tiles (a whole one, ~18 GiB, does not fit beside 66 GiB).
        (80, "bf16", "none", "device", True),
        (48, "fp8-torchao", "none", "stream", False),  # FP8 weights stay on the card, Gemma streams
        # 24, 16 and 12 GB: FP8 weights stream layer by layer (CUDA streams prefetch), Gemma waits on the CPU.
        (24, "fp8-torchao", "group", "stream", True),
        (16, "fp8-torchao", "group", "stream", True),
        (12, "fp8-torchao", "group", "stream", True),
    ],
)
def test_a_720p_ltx23_draft_fits_every_card_from_80_down_to_12_gb(card_gb, weights, offload, text_encoder, always_tile):
    policy = plan(LTX23, card_gb, torchao=True, host_gb=128, size=DRAFT_720P)

    assert (policy.weights, policy.offload, policy.text_encoder) == (weights, offload, text_encoder)
    assert policy.vae_tiling == always_tile
    assert policy.fits(*DRAFT_720P) and policy.notes == ()
    assert_plan_fits(policy, LTX23, card_gb)


@pytest.mark.parametrize("card_gb", [16, 12])
def test_on_16_and_12_gb_cards_only_the_render_stays_on_the_card(card_gb):
    policy = plan(LTX23, card_gb, host_gb=128, size=DRAFT_720P)

    assert (policy.weights, policy.offload, policy.vae_tiling) == ("fp8-layerwise", "group", True)
    assert policy.text_encoder == "stream"  # Gemma (~22 GiB) cannot visit whole: its layers pass through
    assert policy.room_bytes == card_gb * GIB - GIB  # the card holds the activations and the decode only
    assert policy.budget_bytes == int(44e9 * FP8_FRACTION)  # one FP8 transformer waits in RAM
    assert "weights fp8-layerwise, offload group, text encoder streams through the device" in policy.describe()
    assert policy.step_down() is None  # nothing leaner to fall back to
    # LTX-Video 13B's T5 (~9 GiB) is small enough to visit the card whole for a new prompt.
    assert plan(LTXV_13B, card_gb, size=DRAFT_720P).text_encoder == "visit"


def test_1080p_fits_a_16_gb_card_and_only_shorter_clips_fit_12_gb():
    sixteen, twelve = plan(LTX23, 16, size=DRAFT_720P), plan(LTX23, 12, size=DRAFT_720P)
    assert sixteen.fits(1920, 1088, 121) and not sixteen.fits(1920, 1088, 481)
    assert not twelve.fits(1920, 1088, 121)
    most = twelve.max_frames(1920, 1088)
    assert 9 <= most < 121 and twelve.fits(1920, 1088, most) and not twelve.fits(1920, 1088, most + 8)
    # Guidance (Pro) denoises a batch of two: a 720p clip that fits 12 GB whole as a draft fits guided only
    # with its denoise in spatial tiles (families/tiles.py); 16 GB holds it whole.
    assert twelve.denoise_tiles_for(*DRAFT_720P) == 1 and twelve.denoise_tiles_for(*DRAFT_720P, guided=True) == 4
    assert sixteen.denoise_tiles_for(*DRAFT_720P, guided=True) == 1

    planned_1080p = plan(LTX23, 12, size=(1920, 1088, 121))  # the plan says so, in words
    assert planned_1080p.notes == (f"1920x1088x121 does not fit: up to {most} frames at that size",)
    assert planned_1080p.describe().endswith(f"; 1920x1088x121 does not fit: up to {most} frames at that size")


def test_activations_grow_with_width_height_and_frames_and_tiles_bound_the_decode():
    draft = activation_bytes(*DRAFT_720P, tiled=True)
    assert activation_bytes(768, 512, 121, tiled=False) == ACTIVATION_HEADROOM  # the headroom planned so far
    assert activation_bytes(1920, 1088, 121, tiled=True) > draft > activation_bytes(1280, 704, 57, tiled=True)
    assert activation_bytes(*DRAFT_720P, tiled=False) > 2 * draft  # a whole 720p decode
    assert activation_bytes(512, 512, 121, tiled=True) == activation_bytes(512, 512, 121, tiled=False)  # one tile


def test_planning_for_1080p_sends_gemma_off_a_32_gb_card_between_prompts():
    assert plan(LTX23, 32).text_encoder == "device"  # the 768x512 draft leaves room for it
    policy = plan(LTX23, 32, size=(1920, 1088, 121))
    assert (policy.offload, policy.text_encoder) == ("group", "visit") and policy.fits(1920, 1088, 121)


def test_a_host_short_of_ram_keeps_the_plan_and_says_so():
    roomy, enough, short = (plan(LTX23, 16, host_gb=gb, size=DRAFT_720P) for gb in (128, 64, 32))
    assert (short.weights, short.offload, short.text_encoder) == (roomy.weights, roomy.offload, roomy.text_encoder)
    assert roomy.notes == ()
    # The FP8 transformer, Gemma and the shared parts wait in RAM (~52 GiB); loading holds the bf16
    # transformer before its FP8 cast (~70 GiB).
    assert enough.notes == ("needs ~70 GiB of RAM while loading (~52 GiB after), 64 GiB available: loading may swap",)
    assert short.notes == (
        "needs ~52 GiB of RAM for this plan (~70 GiB while loading), 32 GiB available: expect heavy swapping",
    )
    assert short.describe().endswith("32 GiB available: expect heavy swapping")


def test_model_offload_needs_a_host_that_holds_every_model():
    """13B on a 40 GB card, T5 counted with the shared parts: one model at a time on the card while the
    rest wait in RAM (~42 GiB); with less RAM, FP8 weights stay on the card instead."""
    roomy = choose_policy("cuda", 40 * GIB, 12 * GIB, 26 * GIB, host_bytes=64 * GIB)
    short = choose_policy("cuda", 40 * GIB, 12 * GIB, 26 * GIB, host_bytes=32 * GIB)
    assert (roomy.offload, roomy.weights) == ("model", "bf16")
    assert (short.offload, short.weights) == ("none", "fp8-layerwise") and short.notes == ()


def test_a_policy_not_planned_here_claims_no_size_limit():
    by_hand = MemoryPolicy("cuda", torch.bfloat16, "none", False, GIB)  # as the bench builds them
    cpu = choose_policy("cpu", 24 * GIB, GIB, GIB, host_bytes=GIB, width=1920, height=1088, frames=481)
    for policy in (by_hand, cpu):
        assert policy.fits(1920, 1088, 481) and policy.max_frames(1920, 1088) is None
        assert policy.notes == ()
