"""Conditioning seen where it acts: what the transformer was fed, not only what the take recorded.

Each story renders on the tiny demo set (96x64, 9 to 33 frames) with the transformer's calls recorded
(tests/recording.py: a forward hook sees the inputs after every pre-hook, the engine's hold included).
Held tokens must reach the transformer clean at timestep 0; a keyframe must sit at its own latent
index; a source video must be the tokens it conditions; a LoRA must be live in every pass that runs.
Each conditioning test has a twin with the feature switched off that must see its assertions fail,
so the file proves that its assertions can fail.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import small
from PIL import Image
from recording import Call, close, encoded, fails_when, fed_audio, fed_video, recording
from test_jobs import wait_for
from test_sound_edits import beat
from test_spaces import SPACE_NEGATIVE, new_takes, space_call

from ltx_studio.core.errors import BadInput
from ltx_studio.library import media, sound
from ltx_studio.models.families import lock
from ltx_studio.render.plan import RenderPlan
from ltx_studio.render.request import RenderRequest
from ltx_studio.render.story import load_latents

SMALL = {"width": 96, "height": 64}
FPS = 24


# --- switches: each turns one feature off, so a twin test can show its assertions fail ------------


def switch_off_the_hold(monkeypatch) -> None:
    """The engine's hold (lock.held, the pre-hook that feeds held tokens clean at timestep 0) does nothing.
    The family still puts the clean latents back into its output, so the take alone cannot tell."""
    monkeypatch.setattr(lock, "held", lambda *args, **kwargs: contextlib.nullcontext())


def switch_off_the_video_condition(monkeypatch) -> None:
    """A plan's source video (video-to-video, the frames an extension continues from) is not passed on."""
    conditions = RenderPlan.conditions

    def without_video(plan):
        return [c for c in conditions(plan) if not isinstance(c.frames, list)]

    monkeypatch.setattr(RenderPlan, "conditions", without_video)


def steps(studio) -> int:
    """Denoising steps of the set's Fast variant: one transformer call each (guidance 1)."""
    return studio.model_set.variant("fast").sampling.num_steps


def free_audio_steps(call: Call, start: float, end: float, seconds: float) -> torch.Tensor:
    """Audio latent steps whose time span overlaps [start, end) (bool [L]). A step's span is its causal mel
    window, as the transformer places it and Lightricks' retake mask reads it: step k covers
    [0.04k - 0.03, 0.04k + 0.01) s, the first from 0 (LTX-2's 16 kHz, hop 160, 4 mel frames a step).
    `seconds` (the clip's) is kept for the callers' sake: the spans do not depend on it."""
    steps = torch.arange(call.audio.shape[1], dtype=torch.float64)
    first, last = (0.04 * steps - 0.03).clamp(min=0), 0.04 * steps + 0.01
    return (first < end) & (last > start)


# --- held tokens reach the transformer clean, at timestep 0 ---------------------------------------


@pytest.mark.parametrize("switched_off", [False, True], ids=["held", "hold-switched-off"])
def test_a_retake_feeds_the_sources_clean_latents_at_timestep_0_outside_the_segment(studio, switched_off, monkeypatch):
    source = studio.render(small(frames=25, seed=11), preview=False)  # 4 latent frames, with sound
    if switched_off:
        switch_off_the_hold(monkeypatch)
    with recording(studio, "fast") as calls:
        retake = studio.retake(source.id, 0.4, 0.7, what="both", seed=5)

    record = retake.settings["retake"]
    assert (record["start"], record["end"]) == (round(9 / FPS, 3), round(17 / FPS, 3))  # latent frame 2: frames 9-16
    pipe = studio.manager.get("fast")
    clean = load_latents(source)
    video, audio = fed_video(pipe, clean.video), fed_audio(pipe, clean.audio)
    assert len(calls) == steps(studio) and all(c.batch == 1 and c.hidden.shape[1] == video.shape[1] for c in calls)
    held, free = calls[0].frame_tokens([0, 1, 3]), calls[0].frame_tokens([2])
    free_sound = free_audio_steps(calls[0], record["start"], record["end"], 25 / FPS)
    assert 0 < int(free_sound.sum()) < len(free_sound)

    with fails_when(switched_off, match="held frames are not the source's latents"):
        for call in calls:  # every step
            assert close(call.hidden[:, held], video[:, held]), "held frames are not the source's latents"
            assert (call.timestep[:, held] == 0).all(), "held frames are not at timestep 0"
            assert (call.timestep[:, free] > 0).all()
            assert close(call.audio[:, ~free_sound], audio[:, ~free_sound]), "held sound is not the source's"
            assert (call.audio_timestep[:, ~free_sound] == 0).all()
            assert (call.audio_timestep[:, free_sound] > 0).all()
        assert not close(calls[0].hidden[:, free], video[:, free])  # the segment starts from noise


@pytest.mark.parametrize("switched_off", [False, True], ids=["held", "hold-switched-off"])
def test_audio_to_video_feeds_the_soundtrack_clean_at_timestep_0_on_every_step(
    studio, switched_off, tmp_path, monkeypatch
):
    track = beat(tmp_path / "beat.wav", seconds=0.7)
    if switched_off:
        switch_off_the_hold(monkeypatch)
    with recording(studio, "fast") as calls:
        take = studio.render(RenderRequest(prompt="a drummer", soundtrack=str(track), seed=3, **SMALL), preview=False)

    assert take.frames == 17 and take.settings["soundtrack"]["file"] == "beat.wav"
    pipe = studio.manager.get("fast")
    given = sound.read_soundtrack(track)
    sound_tokens = fed_audio(pipe, studio.manager.family.encode_audio(pipe, given.waveform, given.rate, 17, FPS))
    assert len(calls) == steps(studio)

    with fails_when(switched_off, match="the soundtrack is not what the transformer heard"):
        for call in calls:
            assert close(call.audio, sound_tokens), "the soundtrack is not what the transformer heard"
            assert (call.audio_timestep == 0).all()
            assert (call.timestep > 0).all()  # the picture denoises


@pytest.mark.parametrize("switched_off", [False, True], ids=["held", "hold-switched-off"])
def test_video_to_audio_feeds_the_clips_own_latents_at_timestep_0_on_every_step(studio, switched_off, monkeypatch):
    silent = studio.render(small(frames=17, seed=2, audio=False), preview=False)
    if switched_off:
        switch_off_the_hold(monkeypatch)
    with recording(studio, "fast") as calls:
        take = studio.soundtrack(silent.id, seed=4)

    assert take.parent == silent.id and take.audio
    picture = fed_video(studio.manager.get("fast"), load_latents(silent).video)
    assert len(calls) == steps(studio)

    with fails_when(switched_off, match="the clip's picture is not what the transformer saw"):
        for call in calls:
            assert close(call.hidden, picture), "the clip's picture is not what the transformer saw"
            assert (call.timestep == 0).all()
            assert (call.audio_timestep > 0).all()  # the sound denoises


@pytest.fixture(scope="module")
def ltxv(tmp_path_factory):
    """A studio over the LTX-Video demo set (silent; it prepends condition tokens, LTX-2 appends them)."""
    from ltx_studio.studio import Studio

    studio = Studio(model_set_name="demo-ltxv", outputs=tmp_path_factory.mktemp("ltxv"))
    yield studio
    studio.close()


@pytest.mark.parametrize("switched_off", [False, True], ids=["held", "hold-switched-off"])
def test_an_ltx_video_retake_feeds_the_sources_clean_latents_at_timestep_0(ltxv, switched_off, monkeypatch):
    source = ltxv.render(small(frames=25, seed=11), preview=False)
    if switched_off:
        switch_off_the_hold(monkeypatch)
    with recording(ltxv, "fast") as calls:
        retake = ltxv.retake(source.id, 0.4, 0.7, seed=5)

    assert retake.settings["retake"]["what"] == "video"
    pipe = ltxv.manager.get("fast")  # LTX-Video keeps its latents normalised: packed, they are what it is fed
    clean = pipe._pack_latents(
        load_latents(source).video, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
    )
    per_frame = clean.shape[1] // 4  # 25 frames are 4 latent frames
    held = torch.arange(clean.shape[1]) // per_frame != 2  # latent frame 2 (frames 9-16) is retaken
    assert len(calls) == steps(ltxv) and all(c.hidden.shape[1] == clean.shape[1] for c in calls)

    with fails_when(switched_off, match="held frames are not the source's latents"):
        for call in calls:
            assert close(call.hidden[:, held], clean[:, held]), "held frames are not the source's latents"
            assert (call.timestep[:, held] == 0).all() and (call.timestep[:, ~held] > 0).all()


# --- a keyframe lands at its own latent index --------------------------------------------------------


def keyframe_image() -> Image.Image:
    """A 96x64 picture (the clip's own size: fitting it changes nothing)."""
    y, x = np.mgrid[0:64, 0:96]
    return Image.fromarray(np.stack([x * 2, y * 3, 255 - x - y], axis=-1).clip(0, 255).astype(np.uint8))


@pytest.mark.parametrize("switched_off", [False, True], ids=["at-its-index", "passed-at-index-0"])
def test_a_keyframe_at_1_s_is_fed_as_clean_tokens_at_its_own_latent_index(studio, switched_off, monkeypatch):
    from diffusers.pipelines.ltx2 import LTX2VideoCondition

    if switched_off:  # the family places every keyframe at index 0 (the first frame)
        family = type(studio.manager.family)
        monkeypatch.setattr(family, "keyframe_index", staticmethod(lambda frame, frames: (0, 0)))
    image = keyframe_image()
    with recording(studio, "fast") as calls:
        take = studio.render(small(frames=33, keyframes=[{"image": image, "seconds": 1.0}]), preview=False)

    # 33 frames are 5 latent frames; 1.0 s is frame 24, on the grid latent index 4 = pixel frame 25
    index, frame = 4, 25
    pipe = studio.manager.get("fast")
    crf = studio.model_set.variant("fast").sampling.image_crf
    pixels = pipe.preprocess_conditions(
        [LTX2VideoCondition(frames=image, index=index, strength=1.0, crf=crf)], 64, 96, 33, pipe._execution_device
    )[0][0]
    with torch.no_grad():
        image_tokens = fed_video(pipe, pipe.vae.encode(pixels).latent_dist.mode())
    first = calls[0]
    main = first.main_tokens
    at_index = first.frame_tokens([index])
    assert len(calls) == steps(studio) and first.frames == 5

    with fails_when(switched_off, match="no keyframe tokens after the clip's"):
        for call in calls:
            assert call.hidden.shape[1] == main + image_tokens.shape[1], "no keyframe tokens after the clip's"
            assert close(call.hidden[:, main:], image_tokens), "the keyframe's tokens are not its image"
            assert (call.timestep[:, main:] == 0).all() and (call.timestep[:, :main] > 0).all()
            starts = call.coords[..., 0]  # [B, 3, N]: each token's (t, y, x) start
            assert torch.allclose(starts[:, :, main:], starts[:, :, :main][:, :, at_index])  # where index 4 is
            assert torch.allclose(starts[:, 0, main:], torch.tensor(frame / FPS))  # 25 / 24 s, not 0
        assert take.settings["keyframes"][0]["frame"] == frame


# --- video-to-video and extend condition on their source ------------------------------------------


def moving_frames(count: int, seed: int = 0) -> np.ndarray:
    """uint8 frames [count, 64, 96, 3]: a bright square crossing a noisy background."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 90, (count, 64, 96, 3), dtype=np.uint8)
    for i in range(count):
        frames[i, 20:44, 4 + 8 * i : 28 + 8 * i] = (230, 200, 40)
    return frames


@pytest.mark.parametrize("switched_off", [False, True], ids=["conditioned", "video-dropped"])
def test_video_to_video_feeds_the_encoded_source_frames_at_timestep_0(studio, switched_off, monkeypatch):
    source = moving_frames(9)  # 2 latent frames of the 3 a 17-frame clip has
    if switched_off:
        switch_off_the_video_condition(monkeypatch)
    with recording(studio, "fast") as calls:
        take = studio.render(
            RenderRequest(prompt="a square slides", video=list(source), frames=17, seed=8, **SMALL), preview=False
        )

    assert take.settings["video"]["frames"] == 9
    tokens = fed_video(studio.manager.get("fast"), encoded(studio.manager.get("fast"), source))
    given = slice(0, tokens.shape[1])
    assert len(calls) == steps(studio) and tokens.shape[1] == 2 * calls[0].tokens_per_frame

    with fails_when(switched_off, match="the source frames are not what the transformer saw"):
        for call in calls:
            assert close(call.hidden[:, given], tokens), "the source frames are not what the transformer saw"
            assert (call.timestep[:, given] == 0).all()
            assert (call.timestep[:, given.stop :] > 0).all()  # the rest of the clip denoises


@pytest.mark.parametrize("switch", [None, "hold", "video"], ids=["conditioned", "hold-switched-off", "video-dropped"])
def test_extend_continues_from_the_sources_last_frames_and_holds_their_sound(studio, switch, monkeypatch):
    source = studio.render(small(frames=25, seed=9), preview=False)
    frames, _ = media.read_mp4(source.path("video"))
    waveform, rate = media.read_audio(source.path("video"))
    if switch == "hold":
        switch_off_the_hold(monkeypatch)
    elif switch == "video":
        switch_off_the_video_condition(monkeypatch)
    with recording(studio, "fast") as calls:
        extended = studio.extend(source.id, 0.33)  # one latent frame (8 frames) after a 17-frame overlap

    overlap = extended.settings["extend"]["overlap"]
    assert overlap == 17 and extended.frames == 25 + 8
    pipe, family = studio.manager.get("fast"), studio.manager.family
    picture = fed_video(pipe, encoded(pipe, frames[-overlap:]))  # 3 latent frames of the 4 rendered
    given = slice(0, picture.shape[1])
    tail = waveform[:, -round(overlap / FPS * rate) :]
    heard = fed_audio(pipe, family.encode_audio(pipe, tail, rate, 25, FPS))
    held_sound = ~free_audio_steps(calls[0], overlap / FPS, 25 / FPS, 25 / FPS)
    assert len(calls) == steps(studio) and 0 < int(held_sound.sum()) < len(held_sound)

    with fails_when(switch == "video", match="the overlap's frames are not what the transformer saw"):
        for call in calls:
            assert close(call.hidden[:, given], picture), "the overlap's frames are not what the transformer saw"
            assert (call.timestep[:, given] == 0).all() and (call.timestep[:, given.stop :] > 0).all()
    with fails_when(switch == "hold", match="the overlap's sound is not held"):
        for call in calls:
            assert close(call.audio[:, held_sound], heard[:, held_sound]), "the overlap's sound is not held"
            assert (call.audio_timestep[:, held_sound] == 0).all()
            assert (call.audio_timestep[:, ~held_sound] > 0).all()


# --- a LoRA is live in every pass: the refine stage, every compared variant -----------------------


def camera_adapter(take) -> str:
    """The peft adapter name of the take's camera LoRA."""
    return "lora_" + take.settings["loras"][0]["sha256"][:16]


@pytest.mark.parametrize("switched_off", [False, True], ids=["every-pass", "off-in-the-refine-pass"])
def test_a_camera_lora_is_live_in_pros_refine_pass_not_only_loaded(studio, switched_off, monkeypatch):
    if switched_off:  # the LoRA is loaded and applied, then switched off for the refine pass
        family = type(studio.manager.family)
        denoise = family.denoise

        def refine_without_loras(self, pipe, job):
            if job.refine:
                studio.manager.apply_loras([pipe], ())
            return denoise(self, pipe, job)

        monkeypatch.setattr(family, "denoise", refine_without_loras)
    with recording(studio, "fast", "distilled", "pro") as calls:
        take = studio.render(small(width=128, variant="pro", camera="dolly-in"), preview=False)

    adapter = camera_adapter(take)
    stages = take.settings["stages"]
    assert len(stages) == 2 and stages[1]["refine"] and stages[1]["size"] == [128, 64]
    full = max(c.main_tokens for c in calls)
    first = [c for c in calls if c.main_tokens < full]
    refine = [c for c in calls if c.main_tokens == full]  # the refine pass runs at the full size, x2 the first
    assert first and refine and full == 4 * first[0].main_tokens
    assert all(c.loras.get(adapter) == 2.0 for c in first)  # weight 1 x alpha 8 / rank 4
    distilled = distilled_adapter(studio)  # Pro refines on its own transformer plus the set's distilled LoRA
    assert all(distilled not in c.loras for c in first)
    with fails_when(switched_off, match="refine pass"):
        assert all(c.loras.get(adapter) == 2.0 for c in refine), "the camera LoRA is off in the refine pass"
        assert all(c.loras.get(distilled) == pytest.approx(1.6) for c in refine), "no distilled LoRA in the refine"


def distilled_adapter(studio) -> str:
    """The adapter name of the demo set's distilled refine LoRA (weight 0.8 x alpha 8 / rank 4 = 1.6 live)."""
    from ltx_studio.models.set_loras import set_lora

    path = set_lora(studio.model_set, "tiny:distilled-lora", "", tiny_name="distilled-lora", seed=77)
    return "lora_" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@pytest.mark.parametrize("switched_off", [False, True], ids=["every-variant", "first-variant-only"])
def test_compare_runs_every_variant_with_the_camera_lora_live(studio, switched_off, monkeypatch):
    from ltx_studio.render import compare

    if switched_off:  # the variants after the first lose their LoRAs
        plan_render = compare.plan_render

        def first_only(request, *args, **kwargs):
            plan = plan_render(request, *args, **kwargs)
            return plan if request.variant == "fast" else replace(plan, loras=(), camera=None)

        monkeypatch.setattr(compare, "plan_render", first_only)
    with recording(studio, "fast", "distilled", "pro") as calls:
        takes = studio.compare(small(width=128, camera="dolly-in"), ["fast", "distilled", "pro"])

    adapter = camera_adapter(takes[0])
    assert [t.variant for t in takes] == ["fast", "distilled", "pro"]
    assert {c.variant for c in calls} == {"fast", "distilled", "pro"}
    with fails_when(switched_off, match="off in"):
        for variant in ("fast", "distilled", "pro"):
            assert all(c.loras.get(adapter) == 2.0 for c in calls if c.variant == variant), f"off in {variant}"


# --- the doors: the Spaces' endpoints, the page's and the API's camera, the queue, live mode ---------


def space_draft(client, **changes):
    """A /text_to_video call as a Space client writes it, tiny (96x64, 9 frames) and in one stage."""
    changes = {"width_ui": 96, "height_ui": 64, "improve_texture_flag": False, **changes}
    return space_call(client, "/text_to_video", **changes)


def test_a_space_call_renders_with_the_seed_given_unless_it_asks_for_a_random_one(served, client):
    studio, _ = served
    with recording(studio, "fast") as given:
        (_, seed), [take] = new_takes(studio, lambda: space_draft(client, seed_ui=1234, randomize_seed=False))
    with recording(studio, "fast") as drawn:
        (_, other), [random_take] = new_takes(studio, lambda: space_draft(client, seed_ui=1234, randomize_seed=True))
    with recording(studio, "fast") as here:  # the same request rendered here with seed 1234
        request = RenderRequest(
            prompt="a red fox runs through fresh snow", negative_prompt=SPACE_NEGATIVE, seed=1234, seconds=0.3, **SMALL
        )
        studio.render(request, preview=False)

    assert seed == take.seed == 1234 and other == random_take.seed != 1234
    assert torch.equal(given[0].hidden, here[0].hidden)  # the noise the seed draws reached the transformer
    assert not torch.equal(drawn[0].hidden, here[0].hidden)


@pytest.mark.parametrize(
    "switch", [None, "guidance", "negative"], ids=["honoured", "guidance-ignored", "negative-ignored"]
)
def test_a_space_calls_guidance_and_negative_prompt_reach_the_transformer(served, client, switch, monkeypatch):
    from ltx_studio.ui.server import spaces

    studio, _ = served
    if switch is not None:  # the endpoint drops one of its fields
        dropped = {"guidance": "guidance", "negative": "negative_prompt"}[switch]
        monkeypatch.setattr(spaces, "RenderRequest", lambda **fields: RenderRequest(**{**fields, dropped: None}))
    runs = {}
    for name, changes in {
        "plain": {"ui_guidance_scale": 1.0},
        "guided": {"ui_guidance_scale": 3.0},
        "avoiding": {"ui_guidance_scale": 3.0, "negative_prompt": "cartoon, text, watermark"},
    }.items():
        with recording(studio, "fast") as calls:
            _, [take] = new_takes(studio, lambda changes=changes: space_draft(client, **changes))
        runs[name] = (take, calls)
    (plain, plain_calls), (guided, guided_calls), (avoiding, avoiding_calls) = runs.values()

    assert plain_calls and all(c.batch == 1 for c in plain_calls)  # guidance 1: one pass, no CFG
    with fails_when(switch == "guidance", match="CFG"):
        assert guided_calls and all(c.batch == 2 for c in guided_calls), "no CFG pair: the guidance was not used"
        assert guided.guidance == 3.0
    with fails_when(switch is not None, match="negative prompt"):
        negative, positive = avoiding_calls[0].text, guided_calls[0].text  # the first row: the negative prompt's
        assert negative.shape[0] == positive.shape[0] == 2, "no negative prompt was encoded"
        assert not torch.equal(negative[0], positive[0]), "the negative prompt did not reach the encoder"
        assert torch.equal(negative[1], positive[1])  # the prompt itself is the same
        assert avoiding.negative_prompt == "cartoon, text, watermark"


@pytest.mark.parametrize("switched_off", [False, True], ids=["reaches-the-render", "field-dropped"])
def test_the_pages_and_the_apis_camera_field_make_the_camera_lora_live(served, client, switched_off, monkeypatch):
    from ltx_studio.jobs.ops import Draft
    from ltx_studio.models.camera import camera_lora
    from ltx_studio.ui.server import api
    from ltx_studio.ui.studio_tab import tab as studio_tab

    studio, _ = served
    if switched_off:  # both doors forget the field
        for door in (api, studio_tab):
            monkeypatch.setattr(door, "RenderRequest", lambda **fields: RenderRequest(**{**fields, "camera": None}))
    adapter = "lora_" + hashlib.sha256(Path(camera_lora(studio.model_set, "dolly-in")).read_bytes()).hexdigest()[:16]
    settings = ["a cat on a wall", None, None, "fast", 7, False, "draft", 0.3, 24, None, None, True, None, False]
    page_request = studio_tab.draft_request(studio, *settings, camera="dolly-in")  # the Draft button's request
    with recording(studio, "fast") as page:
        job = studio.submit(Draft(replace(page_request, **SMALL), preview=False), owner="browser-a")
        studio.wait(job.id)
    with recording(studio, "fast") as through_api:
        client.predict(prompt="a cat on a wall", camera="dolly-in", frames=9, api_name="/draft", **SMALL)

    with fails_when(switched_off, match="camera LoRA"):
        for door, calls in (("page", page), ("api", through_api)):
            assert calls and all(c.loras.get(adapter) == 2.0 for c in calls), f"no camera LoRA from the {door}"


def test_a_65th_waiting_job_is_refused_in_one_line(studio):
    from ltx_studio.jobs.ops import Batch, Draft
    from ltx_studio.jobs.queue import FINISHED
    from ltx_studio.jobs.service import MAX_WAITING

    with studio.renderer.device_lock:  # the device is busy: the first job runs (waiting for it), the rest wait
        running = studio.submit(Draft(small(seed=1), preview=False))
        wait_for(lambda: studio.jobs.get(running.id).state == "running", what="the first job to start")
        waiting = [studio.submit(Draft(small(seed=100 + i), preview=False)) for i in range(MAX_WAITING)]
        with pytest.raises(BadInput) as refused:
            studio.submit(Draft(small(seed=999), preview=False))
        assert "\n" not in str(refused.value) and str(refused.value).startswith("the queue is full (64 renders")
        assert len(studio.jobs.list(("queued",), limit=100)) == MAX_WAITING == 64
        with pytest.raises(BadInput, match="^the queue is full"):  # a live draft counts as a render waiting
            studio.live_job("session-z", small(seed=5))
        studio.cancel(waiting.pop().id)  # room for one render, not for a batch of two
        with pytest.raises(BadInput, match="this adds 2"):
            studio.submit(Batch([small(seed=7), small(seed=8)]))
        waiting.append(studio.submit(Draft(small(seed=9), preview=False)))
        for job in [*waiting, running]:  # the waiting ones first: none of them may start
            studio.cancel(job.id)
    wait_for(lambda: studio.jobs.get(running.id).state in FINISHED, what="the running job to stop")
    assert {studio.jobs.get(job.id).state for job in [running, *waiting]} == {"cancelled"}
    assert studio.takes() == []


def test_live_mode_keeps_the_newest_drafts_and_every_approved_one_or_parent(studio, monkeypatch):
    from ltx_studio.jobs import live

    monkeypatch.setattr(live, "LIVE_KEEP", 2)

    def live_draft(seed: int):
        job = studio.live_job("session-a", small(seed=seed))
        assert job.wait(120) and job.result is not None
        return job.result

    approved, parent = live_draft(1), live_draft(2)
    studio.approve(approved.id)
    child = studio.soundtrack(parent.id, seed=3)
    old, newer, newest = live_draft(4), live_draft(5), live_draft(6)

    kept = {t.id for t in studio.takes() if t.kind == "live"}
    assert kept == {approved.id, parent.id, newer.id, newest.id}  # the newest LIVE_KEEP, approved, parents
    assert old.id not in {t.id for t in studio.takes()} and not old.path("video").exists()
    assert studio.take(child.id).parent == parent.id
