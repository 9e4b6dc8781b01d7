"""Held latents: a retake (latent frames outside [a, b) held clean, the sound held whole or in part) and
video-to-audio (the whole picture held, the sound denoised) do what Lightricks' retake pipeline does.

Ours: render/hold.py says what is held (`latent_span`, `Hold.lock`), models/families/lock.py holds it
(held tokens fed clean at timestep 0 on every transformer call). Theirs: ltx_pipelines 1.0.0's
`retake.py`: its `TemporalRegionMask` gives every token a denoise mask (1 inside [start, end) seconds,
0 outside; `regenerate_video=False` holds the whole picture: video-to-audio), the noiser leaves masked
tokens clean and `modality_from_latent_state` gives them timestep mask x sigma while each stream keeps
the step's sigma. Compared: the masks per token, one transformer step (tests/parity/reference.py's
`our_forward` / `reference_forward`) and a guided pass through `LTX2Family.denoise` against the
reference's Euler loop (tests/parity/test_loop.py's `run_reference`).

Tolerance: 1e-5 relative to the reference's largest value (fp32 rounding), as the other parity tests.
Each comparison first checks that the held difference moves the reference by far more (a test that would
pass with the hold ignored proves nothing). Under the sets' own cross-attention rule, per-token timesteps
and a stream held whole part from ltx-core 1.0.0 by design (reference.SETS_RULE_DIFFERS): strict xfails
with the measured figures.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from . import reference as R
from .test_loop import DEMO_WIDTHS, STEPS, packed, run_ours, run_reference

TOLERANCE = 1e-5
MOVES = 1e-3
VERSIONS = pytest.mark.parametrize("version", R.VERSIONS, ids=["ltx-2.0-19b", "ltx-2.3-22b"])
FPS = 24
LATENT_FRAMES = 4  # 25 frames: a retake of latent frames [1, 3) leaves held frames on both sides
ASKED = (0.05, 0.7)  # seconds asked; our retake snaps them to latent frames [1, 3), pixel frames [1, 17)


def our_segment(frames: int, fps: int, asked: tuple[float, float]) -> tuple[tuple[int, int], tuple[float, float]]:
    """Latent frames [a, b) and the seconds our retake regenerates (render/retake.py: check_retake snaps the
    asked seconds to latent frames, plan_retake holds the sound outside the snapped seconds)."""
    from ltx_studio.render.hold import latent_span, span_frames

    a, b = latent_span(*asked, frames, fps)
    first, stop = span_frames(a, b)
    stop = min(stop, frames)
    return (a, b), (round(first / fps, 3), round(stop / fps, 3))


def our_lock(video, audio, frames: int, fps: int, video_free=None, audio_free_s=None):
    """The lock our retake / soundtrack recipes hold through (`Hold.lock`), for latents already made."""
    from ltx_studio.models.families.ltx2 import LTX2Family
    from ltx_studio.render.hold import Hold

    _, _, _, height, width = video.shape
    from diffusers.models.transformers.transformer_ltx2 import LTX2AudioVideoRotaryPosEmbed

    rope = LTX2AudioVideoRotaryPosEmbed(64, scale_factors=(4,), modality="audio")  # LTX-2's audio positions
    pipe = SimpleNamespace(
        audio_sampling_rate=16000, audio_hop_length=160, audio_vae_temporal_compression_ratio=4,
        transformer=SimpleNamespace(audio_rope=rope),
    )  # fmt: skip
    plan = SimpleNamespace(width=width * 32, height=height * 32, frames=frames, fps=fps)
    hold = Hold(video_latents=video, video_free=video_free, audio_latents=audio, audio_free_s=audio_free_s)
    return hold.lock(LTX2Family(), pipe, plan)


def reference_masks(frames: int, fps: int, seconds: tuple[float, float], channels: int = 8):
    """The retake pipeline's denoise masks (per latent frame, per audio latent step) for `seconds`."""
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, VideoLatentShape, VideoPixelShape

    shape = VideoPixelShape(batch=1, frames=frames, width=96, height=64, fps=fps)
    region = R.retake_region_mask()(start_time=seconds[0], end_time=seconds[1], fps=fps)
    video_shape = VideoLatentShape.from_pixel_shape(shape, latent_channels=channels)
    video_tools = VideoLatentTools(VideoLatentPatchifier(patch_size=1), video_shape, fps)
    video = region.apply_to(video_tools.create_initial_state("cpu", torch.float32), video_tools).denoise_mask
    audio_tools = AudioLatentTools(AudioPatchifier(patch_size=1), AudioLatentShape.from_video_pixel_shape(shape))
    audio = region.apply_to(audio_tools.create_initial_state("cpu", torch.float32), audio_tools).denoise_mask
    return video[0, :, 0].reshape(video_shape.frames, -1)[:, 0], audio[0, :, 0]


@pytest.fixture(scope="module")
def pass_models(reference_code, tmp_path_factory) -> dict:
    """version -> (ltx_core's model, our transformer), tiny files at the demo set's widths (as test_loop's)."""
    models = {}
    for version, widths in DEMO_WIDTHS.items():
        checkpoint = R.write_checkpoint(tmp_path_factory.mktemp(f"ltx-held-{version}"), version, seed=3, **widths)
        models[version] = (R.load_reference(checkpoint), R.load_ours(checkpoint))
    return models


# --- which tokens are held ---------------------------------------------------------------------------

# (frames, fps, seconds asked): a short clip, a long one, 25 fps, a segment from the start
RETAKES = [(25, 24, ASKED), (121, 24, (1.0, 2.5)), (97, 25, (2.0, 3.88)), (121, 24, (0.0, 1.3))]


def test_a_retake_holds_the_latent_frames_the_retake_pipeline_holds(report):
    """For the seconds asked, the retake pipeline's mask frees exactly our latent frames [a, b): both free every
    latent frame the seconds touch (ours snaps each edge outward, render/hold.py `latent_span`)."""
    for frames, fps, asked in RETAKES:
        (a, b), _ = our_segment(frames, fps, asked)
        latents = (frames - 1) // 8 + 1
        video = torch.zeros(1, 8, latents, 2, 3)
        lock = our_lock(video, None, frames, fps, video_free=(a, b))
        theirs, _ = reference_masks(frames, fps, asked)
        assert torch.equal(~lock.video_keep, theirs.bool()), (frames, fps, asked)
    report(
        f"parity retake video mask: {len(RETAKES)} retakes free the latent frames the retake pipeline frees "
        "for the seconds asked"
    )


def retake_audio_window_figures() -> tuple[int, int, list[str]]:
    differ = total = 0
    cases = []
    for frames, fps, asked in RETAKES:
        _, used = our_segment(frames, fps, asked)
        length = round(frames / fps * 25)
        lock = our_lock(torch.zeros(1, 8, (frames - 1) // 8 + 1, 2, 3), torch.zeros(1, 8, length, 4), frames, fps,
                        video_free=(0, 0), audio_free_s=used)  # fmt: skip
        _, theirs = reference_masks(frames, fps, used)
        ours = ~lock.audio_keep
        assert len(ours) == len(theirs)
        free = lambda m: f"[{int(m.nonzero().min())}, {int(m.nonzero().max()) + 1})"  # noqa: E731
        differ += int((ours != theirs.bool()).sum())
        total += len(ours)
        cases.append(f"{frames}f@{fps} {used[0]}-{used[1]} s: ours {free(ours)}, theirs {free(theirs.bool())}")
    return differ, total, cases


# Before: render/hold.py freed the audio steps whose span [k / r, (k + 1) / r) met the retaken seconds (r ~ 25
# steps per second), 30 ms from the retake pipeline's causal mel windows: 3 of 375 steps differed over these 4
# retakes, one at an end each. Now both read the transformer's own audio positions (LTX2Family.audio_step_seconds).


def test_a_retake_frees_the_audio_steps_the_retake_pipeline_frees(report):
    differ, total, cases = retake_audio_window_figures()
    report(f"parity retake audio mask: {differ} of {total} audio latent steps differ; " + "; ".join(cases))
    assert differ == 0


# --- one step ----------------------------------------------------------------------------------------


def retake_case(step, recipe: str):
    """Our lock and the reference's regions (retake.py's seconds) for one step's latents."""
    frames = (step.video.shape[2] - 1) * 8 + 1
    (a, b), used = our_segment(frames, FPS, ASKED)
    assert (a, b) == (1, 3)
    if recipe == "retake-video":  # the picture's segment regenerated, the sound held whole (what="video")
        lock = our_lock(step.clean_video, step.clean_audio, frames, FPS, video_free=(a, b))
        return lock, {"video_region": used, "audio_region": (0.0, 0.0)}
    if recipe == "retake-both":  # both regenerated in the segment; the sound's window as the reference draws it
        lock = our_lock(step.clean_video, step.clean_audio, frames, FPS, video_free=(a, b), audio_free_s=used)
        return lock, {"video_region": used, "audio_region": used}
    # video-to-audio: the whole picture held (the soundtrack recipe's Hold), the sound denoised
    lock = our_lock(step.clean_video, None, frames, FPS)
    assert bool(lock.video_keep.all()) and lock.audio is None
    return lock, {"video_region": (0.0, 0.0), "audio_region": (0.0, frames / FPS)}


RECIPES = pytest.mark.parametrize("recipe", ["retake-video", "retake-both", "video-to-audio"])


@VERSIONS
@RECIPES
def test_a_held_step(version, recipe, checkpoints, models, report):
    """One step with our lock vs the retake pipeline's masks, under ltx-core 1.0.0's cross-attention rule: both
    streams, every token (held tokens' predictions are thrown away by both loops, but both transformers are
    fed the same held tokens and so predict the same for them). The teeth: the reference without its masks,
    and for a stream held whole, with that stream's sigma at 0 (the May 2026 rule's)."""
    theirs, ours = models[version]
    step = R.make_step(checkpoints[version], latent_frames=LATENT_FRAMES)
    lock, regions = retake_case(step, recipe)
    expected = R.reference_forward(theirs, step, **regions)
    unheld = max(R.max_relative(o, t) for o, t in zip(R.reference_forward(theirs, step), expected, strict=True))
    assert unheld > MOVES
    moved = f"the masks ignored would be off by {unheld:.2e}"
    whole = {"retake-video": "audio", "video-to-audio": "video"}.get(recipe)
    if whole:
        zeroed = R.reference_forward(theirs, step, **regions, **{f"{whole}_sigma": 0.0})
        other = 0 if whole == "audio" else 1  # the stream the held one's sigma modulates
        off = R.max_relative(zeroed[other], expected[other])
        assert off > MOVES
        moved += f", the held {whole} stream's sigma at 0 by {off:.2e}"
    figures = {s: R.max_relative(o, t) for s, o, t in zip(("video", "audio"), R.our_forward(ours, step, lock=lock),
                                                           expected, strict=True)}  # fmt: skip
    report(
        f"parity {recipe} step (LTX-{version}): max relative difference video {figures['video']:.2e}, audio "
        f"{figures['audio']:.2e} (tolerance {TOLERANCE:.0e}); {moved}"
    )
    assert max(figures.values()) <= TOLERANCE


# Where the sets' rule parts from ltx-core 1.0.0 (per-token timesteps; a stream held whole at sigma 0): the
# measured figures, on the streams whose predictions a loop keeps (a stream held whole is thrown away).
FREE = {"retake-video": ("video",), "retake-both": ("video", "audio"), "video-to-audio": ("audio",)}
SETS_RULE_STEP = {
    "retake-video": "LTX-2.0 video 3.5e-01, LTX-2.3 video 1.4e-01",
    "retake-both": "LTX-2.0 video 6.1e-02 audio 1.1e-01, LTX-2.3 video 6.5e-02 audio 8.3e-02",
    "video-to-audio": "LTX-2.0 audio 1.9e-01, LTX-2.3 audio 3.7e-01",
}
SETS_RULE_PASS = {  # as the passing passes run them: retakes without rescale, video-to-audio with
    "retake-video": "after 4 steps LTX-2.0 video 6.1e-01, LTX-2.3 video 2.5e-01",
    "retake-both": "after 4 steps LTX-2.0 video 1.0e-01 audio 7.6e-02, LTX-2.3 video 6.2e-02 audio 1.6e-01",
    "video-to-audio": "after 4 steps LTX-2.0 audio 3.1e-01, LTX-2.3 audio 4.4e-01",
}


def under_the_sets_rule(figures: dict):
    return pytest.mark.parametrize(
        "recipe",
        [
            pytest.param(r, marks=pytest.mark.xfail(strict=True, reason=R.SETS_RULE_DIFFERS.format(figures=f)))
            for r, f in figures.items()
        ],
    )


@VERSIONS
@under_the_sets_rule(SETS_RULE_STEP)
def test_a_held_step_under_the_sets_rule(version, recipe, checkpoints, models, registry, report):
    theirs, ours = models[version]
    step = R.make_step(checkpoints[version], latent_frames=LATENT_FRAMES)
    lock, regions = retake_case(step, recipe)
    rule = R.sets_rule(registry, version)
    ours_out = R.our_forward(ours, step, lock=lock, rule=rule)
    expected = R.reference_forward(theirs, step, **regions)
    figures = {s: R.max_relative(o, t) for s, o, t in zip(("video", "audio"), ours_out, expected, strict=True)}
    shown = ", ".join(f"{s} {figures[s]:.2e}" for s in FREE[recipe])
    report(f"parity {recipe} step, rule {rule!r} (LTX-{version}): {shown}")
    assert max(figures[s] for s in FREE[recipe]) <= TOLERANCE


# --- a guided pass -----------------------------------------------------------------------------------


def held_pass(version, recipe, rule, pass_models, shared_manager, registry, rescale=True) -> tuple[float, float, float]:
    """A 4-step Pro pass (CFG, STG, modality guidance; guidance rescale unless `rescale` is False) through
    `LTX2Family.denoise` holding through our lock, and the reference's loop from the same start with the
    retake pipeline's masks: the (video, audio) relative differences of the final latents, and how far the
    reference's pass moves without its masks."""
    from ltx_core.components.schedulers import LTX2Scheduler

    from ltx_studio.models.families.base import DenoiseJob
    from ltx_studio.models.families.ltx2 import LTX2Family

    theirs, ours = pass_models[version]
    family = LTX2Family()
    pipe = family.assemble(shared_manager.shared(), ours)
    width, height, frames = 96, 64, (LATENT_FRAMES - 1) * 8 + 1
    generator = torch.Generator().manual_seed(11)
    clip = torch.randn(1, 128, LATENT_FRAMES, height // 32, width // 32, generator=generator)
    sound = torch.randn(1, 8, family.audio_length(pipe, frames, FPS), 4, generator=generator)
    lock, regions = retake_case(SimpleNamespace(video=clip, clean_video=clip, clean_audio=sound), recipe)
    sampling = replace(registry[R.SETS[version]].variants["pro"].sampling, stg_blocks=(R.STG_BLOCK,))
    if not rescale:
        sampling = replace(sampling, guidance_rescale=0.0, audio_guidance_rescale=0.0)
    prompt = family.encode_prompt(pipe, "a rocket lifts off at dawn", "worst quality, blurry", sampling.guidance)
    job = DenoiseJob(prompt=prompt, width=width, height=height, frames=frames, fps=FPS, sampling=sampling,
                     generator=torch.Generator().manual_seed(5), guidance=sampling.guidance, steps=STEPS, lock=lock,
                     cross_timestep=rule)  # fmt: skip
    latents, first = run_ours(pipe, job)
    sigmas = LTX2Scheduler().execute(steps=STEPS)
    # The reference's loop (test_loop.run_reference) starts from our first call's inputs (held tokens clean) and
    # reads each token's denoise mask off its timesteps: first, those masks are the retake pipeline's.
    video_mask, _ = reference_masks(frames, FPS, regions["video_region"])
    _, audio_mask = reference_masks(frames, FPS, regions["audio_region"])
    sigma = float(sigmas[0]) * 1000.0
    timestep, audio_timestep = first["timestep"][-1].reshape(-1), first["audio_timestep"][-1].reshape(-1)
    assert torch.allclose(timestep, video_mask.repeat_interleave((height // 32) * (width // 32)) * sigma, rtol=1e-6)
    assert torch.allclose(audio_timestep.expand(len(audio_mask)), audio_mask * sigma, rtol=1e-6)
    guided = R.guider_params(sampling)
    expected = run_reference(theirs, first, sigmas, guided, FPS)
    figures = [R.max_relative(o, t) for o, t in zip(packed(pipe, latents), expected, strict=True)]
    unmasked = dict(first, timestep=torch.full_like(first["timestep"], sigma),
                    audio_timestep=torch.full_like(first["audio_timestep"], sigma))  # fmt: skip
    loose = run_reference(theirs, unmasked, sigmas, guided, FPS)
    moved = max(R.max_relative(o, t) for o, t in zip(loose, expected, strict=True))
    return figures[0], figures[1], moved


# A partial hold with guidance rescale. Before: the lock fed the transformer the held tokens clean, but the
# loop's own copy of them stayed at its first noise and the pipeline's x0 for a held token was that copy;
# rescale's std runs over every token, so the stale copies moved every free token (after 4 steps: retake-video
# LTX-2.0 video 1.7e-02, LTX-2.3 1.8e-02; retake-both video 1.6e-02 / 1.8e-02, audio 7.8e-03 / 5.5e-03).
# Now a held token's estimate is its clean value (families/per_token.py), as in the reference's state.
RESCALED = pytest.mark.parametrize("recipe", ["retake-video", "retake-both", "video-to-audio"])


@VERSIONS
@RESCALED
def test_a_held_guided_pass_ends_where_the_retake_pipeline_ends(
    version, recipe, pass_models, shared_manager, registry, report
):
    """The set's Pro guidance (rescale 0.7), ltx-core 1.0.0's cross-attention rule."""
    video, audio, moved = held_pass(version, recipe, R.REFERENCE_RULE, pass_models, shared_manager, registry)
    report(
        f"parity {recipe} guided pass (LTX-{version}, {STEPS} steps, rescale, rule 'other'): max relative difference"
        f" video {video:.2e}, audio {audio:.2e} (tolerance {TOLERANCE:.0e}); without its masks the reference's "
        f"pass would be off by {moved:.2e}"
    )
    assert moved > MOVES
    assert max(video, audio) <= TOLERANCE


@VERSIONS
@pytest.mark.parametrize("recipe", ["retake-video", "retake-both"])
def test_a_partly_held_guided_pass_without_rescale(version, recipe, pass_models, shared_manager, registry, report):
    """CFG, STG and modality guidance without rescale: the lock, per-token x0 and the Euler steps over a partial
    hold agree with the retake pipeline's loop (what differs above is rescale alone)."""
    video, audio, moved = held_pass(version, recipe, R.REFERENCE_RULE, pass_models, shared_manager, registry, False)
    report(
        f"parity {recipe} guided pass (LTX-{version}, {STEPS} steps, no rescale, rule 'other'): max relative "
        f"difference video {video:.2e}, audio {audio:.2e} (tolerance {TOLERANCE:.0e}); without its masks the "
        f"reference's pass would be off by {moved:.2e}"
    )
    assert moved > MOVES
    assert max(video, audio) <= TOLERANCE


@VERSIONS
@under_the_sets_rule(SETS_RULE_PASS)
def test_a_held_guided_pass_under_the_sets_rule(version, recipe, pass_models, shared_manager, registry, report):
    """As the passing passes above (retakes without rescale, video-to-audio with), under the set's rule."""
    rule = R.sets_rule(registry, version)
    rescale = recipe == "video-to-audio"
    video, audio, _ = held_pass(version, recipe, rule, pass_models, shared_manager, registry, rescale)
    figures = {"video": video, "audio": audio}
    shown = ", ".join(f"{s} {figures[s]:.2e}" for s in FREE[recipe])
    report(f"parity {recipe} guided pass, rule {rule!r} (LTX-{version}): {shown}")
    assert max(figures[s] for s in FREE[recipe]) <= TOLERANCE
