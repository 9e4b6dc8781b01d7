"""The Studio tab: the prompt bar (prompt_bar.py) over the feed of this browser's cards (feed.py).

Every Draft queues a job and adds its card at once (queued, then its live preview, then the take);
a second click while one runs queues another. A refused input is one line at the control that caused
it and nothing else on the page changes. Enhance writes its rewrite beside the idea, which stays.
The page renders with the model set it shows: a draft from a page whose set was switched elsewhere
is refused there, and the page is shown the set in use (the tick).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import gradio as gr

from ...core import sizing
from ...core.errors import StudioError
from ...jobs.ops import Draft
from ...library import media
from ...library.sound import read_soundtrack
from ...render.request import RenderRequest
from ..keyframes import keyframes_of, wire_first_last
from ..lora_picker import lora_request
from ..relay import Shared, visible
from . import feed
from .batch_panel import wire_batch_panel
from .card_actions import build_action_panel, wire_card_actions
from .live import wire_live
from .parts import StudioTab
from .prompt_bar import (
    ASSETS,
    NOTES,
    build_prompt_bar,
    camera_choices,
    note,
    set_refusal,
    size_for,
    variant_choices,
)

if TYPE_CHECKING:
    from ...studio import Studio

__all__ = ["ASSETS", "build_studio_tab", "camera_choices", "draft_request", "variant_choices"]
BASE_SETTINGS = 14  # draft_request's positional settings, before the keyframe strip and the LoRA picker


def build_studio_tab(studio: Studio, shared: Shared) -> StudioTab:
    """The Studio tab with its events wired: draft, enhance, stop, the bar's checks, the feed's actions."""
    with gr.Tab("Studio", id="studio"):
        parts = build_prompt_bar(studio, shared)
        parts["panel"] = build_action_panel()
        parts["feed"] = gr.HTML(
            feed.render([]), elem_id="feed", js_on_load=feed.ON_LOAD, apply_default_css=False, padding=False
        )
        parts["page_set"] = gr.State(studio.model_set.name)
        endpoint = gr.Button(visible=False)  # /enhance, as the API has always had it
    tab = StudioTab(**parts)
    _wire_draft(studio, shared, tab)
    _wire_enhance(studio, tab, endpoint)
    _wire_inputs(studio, shared, tab)
    wire_live(studio, shared, tab)
    wire_batch_panel(studio, shared, tab, lambda data: settings_request(studio, tab, data))
    wire_card_actions(studio, shared, tab)
    wire_first_last(tab.keyframes, tab.seconds, studio, tab.fps)
    return tab


def draft_request(
    studio: Studio,
    prompt: str | None,
    negative: str | None,
    image: str | None,
    variant: str | None,
    seed: float | None,
    randomize: bool,
    resolution: str | None,
    seconds: float | None,
    fps: float | None,
    steps: float | None,
    guidance: float | None,
    sound: bool = True,
    typed: dict | None = None,
    auto_length: bool = False,
    keyframes: Sequence = (),
    lora_rows: Sequence = (),
    reference: str | None = None,
    source_video: str | None = None,
    source_strength: float = 1.0,
    camera: str | None = None,
    soundtrack: str | None = None,
    soundtrack_start: float | None = 0.0,
    aspect: str | None = None,
) -> RenderRequest:
    """The RenderRequest for the settings; steps and guidance left at the variant's own stay unset.
    `lora_rows`: the LoRA picker's values, row by row (name, weight), under the server doors' rule;
    `aspect` ("16:9"...): the size at the resolution's area in that shape."""
    mset = studio.model_set
    spec = mset.variants.get(variant or mset.default_variant, mset.variants[mset.default_variant])
    tier = sizing.RESOLUTIONS.get(resolution or "", spec.draft_size)
    shaped = size_for(aspect, tier)
    return RenderRequest(
        prompt=prompt or "",
        negative_prompt=negative if negative else None,
        image=image or None,
        variant=variant or None,
        seed=-1 if randomize or seed is None else int(seed),
        width=shaped[0] if shaped else None,
        height=shaped[1] if shaped else None,
        resolution=None if shaped or resolution in (None, "draft") else resolution,
        seconds="auto" if auto_length and mset.auto_duration else seconds,
        fps=int(fps) if fps else None,
        steps=None if not steps or int(steps) == spec.sampling.num_steps else int(steps),
        guidance=None if guidance is None or float(guidance) == spec.sampling.guidance else float(guidance),
        audio=bool(sound),
        typed_prompt=typed["typed"] if typed and typed.get("enhanced") == (prompt or "").strip() else None,
        keyframes=keyframes_of(list(keyframes)),
        loras=lora_request(studio, lora_rows),
        reference=reference or None,
        video=source_video or None,
        video_strength=float(source_strength or 1.0),
        camera=camera or None,
        soundtrack=soundtrack or None,
        soundtrack_start=float(soundtrack_start or 0.0),
    )


def settings_request(studio: Studio, tab: StudioTab, data: dict) -> RenderRequest:
    """The request the tab's settings make, from an event's {component: value} (Draft and batches).
    With an enhanced prompt beside the idea, the draft renders it and records the idea as typed."""
    idea, enhanced = (data[tab.prompt] or "").strip(), (data[tab.enhanced] or "").strip()
    return draft_request(
        studio,
        enhanced or idea,
        data[tab.negative],
        data[tab.image],
        data[tab.variant],
        data[tab.seed],
        False,
        data[tab.resolution],
        data[tab.seconds],
        data[tab.fps],
        data[tab.steps],
        data[tab.guidance],
        data[tab.sound],
        {"typed": idea, "enhanced": enhanced} if enhanced and idea else None,
        data[tab.auto_length],
        keyframes=[data[component] for component in tab.keyframes.inputs],
        lora_rows=[data[component] for component in tab.loras.inputs],  # (name, weight) per picker row
        reference=data[tab.reference],
        source_video=data[tab.source_video],
        source_strength=data[tab.source_strength],
        camera=data[tab.camera],
        soundtrack=data[tab.soundtrack],
        soundtrack_start=data[tab.soundtrack_start],
        aspect=data[tab.aspect],
    )


def notes(where: str = "", message: str = "") -> list:
    """Every note's update: `message` at the control `where` (one of prompt_bar.NOTES), the others cleared;
    the model set's line stays until the set changes again (it says what this page now renders with)."""
    return [gr.skip() if name == "set" and where != "set" else note(message if name == where else "") for name in NOTES]


def refusal_at(message: str) -> str:
    """Which control a refusal of the whole request is about, from its words (else the Draft button's note)."""
    lowered = message.lower()
    for where, words in (
        ("prompt", ("prompt is empty", "prompt")),
        ("soundtrack", ("soundtrack", "audio")),
        ("first_frame", ("image", "first frame")),
        ("duration", ("duration", "seconds", "frames", "too long", "length")),
    ):
        if any(word in lowered for word in words):
            return where
    return "draft"


def duration_refusal(shared: Shared, seconds: float | None, resolution: str | None = None) -> str:
    """The one line for a Duration this model set, or this card at the chosen size, does not render ("" when it does)."""
    if seconds is None or not 0 < float(seconds) <= shared.max_seconds + 1e-9:
        shown = seconds if seconds is not None else "(empty)"
        return f"Duration {shown} s: this model set renders 0.4 to {shared.max_seconds:g} s."
    limit = shared.card_seconds(resolution)
    if limit is not None and float(seconds) > limit + 1e-9:
        w, h = shared.size_of(resolution)
        if limit <= 0:
            return f"{w}x{h} does not fit this card's memory (the plan's estimate): pick a smaller size."
        return (
            f"Duration {seconds:g} s at {w}x{h}: this card's memory fits up to {limit:.1f} s at that size "
            "(the plan's estimate): shorten it or pick a smaller size."
        )
    return ""


def check_page(studio: Studio, shared: Shared, tab: StudioTab, data: dict) -> tuple[str, str] | None:
    """What the page itself refuses before asking the studio: (where, one line), or None."""
    if refused := set_refusal(studio, data[tab.page_set]):
        return refused
    if not (data[tab.prompt] or "").strip() and not (data[tab.enhanced] or "").strip() and not data[tab.image]:
        return "prompt", "Type an idea (or drop a first frame), then Draft."
    if not data[tab.auto_length] and (refused := duration_refusal(shared, data[tab.seconds], data[tab.resolution])):
        return "duration", refused
    return None


def _wire_draft(studio: Studio, shared: Shared, tab: StudioTab) -> None:
    """Draft: a job per click, its card in the feed at once, then its preview and take as they come."""
    sessions = shared.sessions

    def run_draft(data: dict, request: gr.Request):
        session = request.session_hash
        who = shared.owner(data[shared.browser], request)
        refused = check_page(studio, shared, tab, data)
        if refused is None:
            try:
                job = studio.submit(Draft(settings_request(studio, tab, data)), owner=who)
            except StudioError as exc:
                refused = refusal_at(str(exc)), str(exc)
        if refused is not None:
            yield [*notes(*refused), gr.skip()]  # the feed and the work on it stay as they are
            return
        studio.cancel_live(session)  # a deliberate Draft replaces the live draft (its take stays in Takes)
        shared.board.set_live(session, None)
        events = shared.follow(job, session)  # Stop reaches it from here
        yield [*notes(), shared.feed_html(who, session)]
        for _ in events:
            yield [*[gr.skip()] * len(NOTES), shared.feed_html(who, session)]

    tab.draft_btn.click(
        run_draft,
        {*tab.settings, *tab.extras, shared.browser},
        [*tab.notes, tab.feed],
        trigger_mode="multiple",  # every click queues another draft
        show_progress="hidden",  # progress is drawn on the card
        concurrency_limit=None,  # it only follows a queued job: the studio's queue orders the work
        api_visibility="private",
    )

    def stop(request: gr.Request):
        sessions.stop(request.session_hash)

    tab.stop_btn.click(stop, None, None, api_visibility="private", concurrency_limit=None)


def _wire_enhance(studio: Studio, tab: StudioTab, endpoint: gr.Button) -> None:
    """Enhance: the idea becomes a detailed LTX-2 prompt beside it, editable; the idea stays as typed."""
    suffix = " (demo models: the text is gibberish)" if studio.model_set.is_demo else ""

    def enhanced_text(prompt_text, image_path, seed_value) -> str:
        seed = 10 if seed_value is None or int(seed_value) < 0 else int(seed_value)
        return visible(lambda: studio.enhance(prompt_text or "", image=image_path or None, seed=seed))["enhanced"]

    def enhance_in_page(prompt_text, image_path, seed_value):  # the rewrite beside the idea, or one line why not
        if not (prompt_text or "").strip() and not image_path:
            return gr.skip(), note("Type an idea to enhance.")
        text = enhanced_text(prompt_text, image_path, seed_value)
        gr.Info("Prompt enhanced" + suffix + ": edit it, then Draft.")
        return gr.update(value=text, visible=True), note()

    tab.enhance_btn.click(
        enhance_in_page,
        [tab.prompt, tab.image, tab.seed],
        [tab.enhanced, tab.prompt_note],
        concurrency_id="gpu",
        api_visibility="private",
    )
    # The /enhance endpoint as it always was (the idea, a first frame, a seed -> the rewrite), on a button
    # the page never shows: the page's own click above answers in the page's language.
    endpoint.click(enhanced_text, [tab.prompt, tab.image, tab.seed], [tab.enhanced], concurrency_id="gpu",
                   api_name="enhance")  # fmt: skip
    tab.enhanced.change(  # cleared: back to drafting the idea as typed
        lambda text: gr.update(visible=bool((text or "").strip())) if not (text or "").strip() else gr.skip(),
        [tab.enhanced],
        [tab.enhanced],
        api_visibility="private",
        queue=False,
    )


def frames_note_for(shared: Shared) -> Callable[..., str]:
    """The note under Duration: how many frames that is, at the fps asked (the default fps if none);
    with a soundtrack, by the rule the render follows (core.sizing: the clip holds all of it)."""

    def frames_note(seconds: float, fps: float, soundtrack=None, start=0.0, resolution=None) -> str:
        fps = fps or shared.default.sampling.fps
        if duration_refusal(shared, seconds, resolution):
            return ""  # the line under Duration says why instead
        frames, held = sizing.frames_for_seconds(float(seconds), fps), ""
        if soundtrack:
            with contextlib.suppress(StudioError):  # a bad file is said where it was uploaded
                track = read_soundtrack(soundtrack, float(start or 0))
                most = max(v.max_frames for v in shared.variants.values())
                frames = sizing.frames_for_soundtrack(track.seconds, fps, most, float(seconds))
                cover = frames / fps >= track.seconds - 1e-6
                held = f" · holds all {track.seconds:.2f} s of the soundtrack" if cover else " · cuts the soundtrack"
        return f"{frames} frames · {sizing.seconds_for_frames(frames, fps):.2f} s at {int(fps)} fps{held}"

    return frames_note


def _wire_inputs(studio: Studio, shared: Shared, tab: StudioTab) -> None:
    """The controls that follow each other, and the uploads checked where they land: a variant's
    defaults, the frames a duration makes, a first frame and a soundtrack refused at upload in one line."""

    def variant_defaults(name):
        spec = shared.variants.get(name) or shared.default
        return spec.sampling.num_steps, spec.sampling.guidance, spec.sampling.fps

    quiet = {"api_visibility": "private", "concurrency_limit": None, "show_progress": "hidden"}
    tab.variant.change(variant_defaults, [tab.variant], [tab.steps, tab.guidance, tab.fps], **quiet)

    frames_note = frames_note_for(shared)

    def duration_changed(seconds, fps, soundtrack, start, resolution):
        return frames_note(seconds, fps, soundtrack, start, resolution), note(
            duration_refusal(shared, seconds, resolution)
        )

    note_inputs = [tab.seconds, tab.fps, tab.soundtrack, tab.soundtrack_start, tab.resolution]
    for trigger in (tab.seconds.change, tab.fps.change, tab.resolution.change):
        trigger(duration_changed, note_inputs, [tab.frames_info, tab.duration_note], **quiet)

    def first_frame_landed(path):
        if not path:
            return gr.skip(), note()
        try:
            media.check_image(path)
        except StudioError as exc:
            return None, note(str(exc))  # refused here, once: the upload is taken away
        return gr.skip(), note()

    tab.prompt.input(lambda: note(), None, [tab.prompt_note], queue=False, api_visibility="private")
    tab.image.upload(first_frame_landed, [tab.image], [tab.image, tab.first_frame_note], **quiet)

    def soundtrack_landed(path, start, fps):
        """The clip follows the soundtrack: Duration becomes the length that holds all of it."""
        if not path:
            return gr.skip(), gr.skip(), note(), gr.skip()
        try:
            track = read_soundtrack(path, float(start or 0))
        except StudioError as exc:
            return None, gr.skip(), note(str(exc)), gr.skip()
        fps = fps or shared.default.sampling.fps
        most = max(v.max_frames for v in shared.variants.values())
        frames = sizing.frames_for_soundtrack(track.seconds, fps, most)
        seconds = min(round(sizing.seconds_for_frames(frames, fps) + 0.049, 1), shared.max_seconds)
        return gr.skip(), seconds, note(), True

    # The note follows once Duration holds the soundtrack's length (`.then` reads the controls after it
    # is set); a note from the upload's own change event would read the Duration from before it, and on a
    # busy machine could be drawn last ("cuts the soundtrack" under a Duration that holds all of it).
    for trigger in (tab.soundtrack.upload, tab.soundtrack_start.submit):
        trigger(
            soundtrack_landed,
            [tab.soundtrack, tab.soundtrack_start, tab.fps],
            [tab.soundtrack, tab.seconds, tab.soundtrack_note, tab.sound],
            **quiet,
        ).then(duration_changed, note_inputs, [tab.frames_info, tab.duration_note], **quiet)

    def soundtrack_cleared(seconds, fps, soundtrack, start, resolution):
        return (gr.skip(), gr.skip()) if soundtrack else duration_changed(seconds, fps, None, start, resolution)

    tab.soundtrack.change(soundtrack_cleared, note_inputs, [tab.frames_info, tab.duration_note], **quiet)


def set_updates(studio: Studio, shared: Shared, tab: StudioTab) -> dict:
    """Every control that depends on the model set, for the set in use."""
    mset, default = studio.model_set, shared.default
    sampling = default.sampling
    return {
        tab.model_set: gr.update(value=mset.name),
        tab.page_set: mset.name,
        tab.variant: gr.update(choices=variant_choices(studio), value=mset.default_variant),
        tab.resolution: gr.update(choices=shared.resolutions, value="draft"),
        tab.seconds: round((default.draft_frames - 1) / sampling.fps, 1),
        tab.fps: sampling.fps,
        tab.steps: sampling.num_steps,
        tab.guidance: sampling.guidance,
        tab.negative: mset.negative_prompt,
        tab.sound: gr.update(value=mset.has_audio, visible=mset.has_audio),
        tab.enhance_btn: gr.update(visible=mset.has_audio),
        tab.auto_length: gr.update(value=False, visible=mset.auto_duration),
        tab.camera: gr.update(choices=camera_choices(studio), value="", visible=bool(mset.cameras)),
        tab.soundtrack_row: gr.update(visible=mset.has_audio),
    }
