"""The Studio tab: a prompt and its settings on the left, the live preview and the take on the right.

Draft, Approve & upscale and Re-render with Pro each run a Studio job and relay its events into the
result panel; live mode drafts as the prompt changes, debounced per session; Stop cancels the
session's jobs. `_layout` builds the tab section by section, top to bottom; the components it returns,
by name, are a `StudioTab` (studio_parts.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..core import sizing
from ..core.errors import StudioError
from ..jobs.ops import Draft, Extend, Upscale
from ..library.sound import read_soundtrack
from ..render.request import RenderRequest
from .batch_panel import build_batch_panel, wire_batch_panel
from .keyframes import build_keyframe_strip, keyframes_of, wire_first_last
from .live import wire_live
from .lora_picker import build_lora_picker, lora_request
from .relay import Shared, take_markdown, visible
from .soundtrack_input import build_soundtrack_input, wire_soundtrack_input
from .studio_parts import StudioTab

if TYPE_CHECKING:
    from ..studio import Studio

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def build_studio_tab(studio: Studio, shared: Shared) -> StudioTab:
    """The Studio tab with its events wired: draft, approve/re-render, live mode, stop, settings."""
    tab = _layout(studio, shared)
    _wire_enhance(studio, tab)
    _wire_draft(studio, shared, tab)
    wire_live(studio, shared, tab, result_updates)
    _wire_settings(shared, tab)
    wire_batch_panel(studio, shared, tab, lambda data: settings_request(studio, tab, data), result_updates)
    wire_first_last(tab.keyframes, tab.seconds)
    return tab


def variant_choices(studio: Studio) -> list[tuple[str, str]]:
    """The Variant radio's choices: each variant's label with its state (ready, on disk, not downloaded)."""
    states = studio.variant_states()
    return [(f"{v.label} · {states[name]}", name) for name, v in studio.model_set.variants.items()]


def frames_note_for(shared: Shared) -> Callable[..., str]:
    """The note under Duration: how many frames that is, at the fps asked (the default fps if none);
    with a soundtrack, by the rule the render follows (core.sizing: the clip holds all of it)."""

    def frames_note(seconds: float, fps: float, soundtrack=None, start=0.0) -> str:
        fps = fps or shared.default.sampling.fps
        frames, held = sizing.frames_for_seconds(seconds or 0.1, fps), ""
        if soundtrack:
            with contextlib.suppress(StudioError):  # a bad file is said where it was uploaded
                track = read_soundtrack(soundtrack, float(start or 0))
                most = max(v.max_frames for v in shared.variants.values())
                frames = sizing.frames_for_soundtrack(track.seconds, fps, most, seconds)
                if frames / fps >= track.seconds - 1e-6:
                    held = f" · holds all {track.seconds:.2f} s of the soundtrack"
        return f"{frames} frames · {sizing.seconds_for_frames(frames, fps):.2f} s at {int(fps)} fps{held}"

    return frames_note


BASE_SETTINGS = 14  # the fields of StudioTab.settings before the keyframe strip and the LoRA picker


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
) -> RenderRequest:
    """The RenderRequest for the settings; steps and guidance left at the variant's own stay unset.
    `lora_rows`: the LoRA picker's values, row by row (name, weight), under the server doors' rule."""
    mset = studio.model_set
    spec = mset.variants.get(variant or mset.default_variant, mset.variants[mset.default_variant])
    return RenderRequest(
        prompt=prompt or "",
        negative_prompt=negative if negative else None,
        image=image or None,
        variant=variant or None,
        seed=-1 if randomize or seed is None else int(seed),
        resolution=None if resolution in (None, "draft") else resolution,
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


def result_updates(studio: Studio, kind: str, value: Any) -> list:
    """The result panel's updates for one relayed (kind, value); see `StudioTab.result`."""
    updates = [gr.update()] * 6  # one per component of StudioTab.result
    if kind == "preview":
        updates[0] = value.image
    elif kind == "take":
        updates[1:] = [
            str(value.path("video")),
            take_markdown(value),
            value.seed,
            value.id,
            gr.update(choices=variant_choices(studio)),
        ]
    elif kind == "stopped":
        gr.Info(value)
    elif kind == "error":
        updates[2] = f"**⚠ {value}**"
    return updates


def _layout(studio: Studio, shared: Shared) -> StudioTab:
    """The tab's components, top to bottom: the prompt and its settings on the left, the take on the right."""
    with gr.Tab("Studio", id="studio"), gr.Row():
        with gr.Column(scale=5):
            parts = _prompt_section(studio) | _source_section(studio) | _model_section(studio)
            parts |= _length_section(studio, shared) | _sampling_section(studio, shared)
            parts["loras"] = build_lora_picker(studio, "studio")
        with gr.Column(scale=6):
            parts |= _take_section() | _extend_section()
            parts["batch"] = build_batch_panel()
    return StudioTab(**parts)


def _prompt_section(studio: Studio) -> dict[str, Any]:
    """The prompt, Draft / Enhance / Stop, the Sound and Live mode switches."""
    mset = studio.model_set
    prompt = gr.Textbox(
        label="Prompt",
        lines=3,
        elem_id="prompt",
        placeholder="A cat walks along a sunlit wall, the camera follows slowly",
    )
    with gr.Row():
        draft_btn = gr.Button("Draft", variant="primary", elem_id="draft", scale=3)
        enhance_btn = gr.Button("Enhance", elem_id="enhance", scale=1, visible=mset.has_audio, variant="secondary")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
    sound = gr.Checkbox(
        value=mset.has_audio,
        visible=mset.has_audio,
        label="Sound: the take comes with its soundtrack",
        elem_id="sound",
        container=False,
    )
    typed = gr.State(None)
    live = gr.Checkbox(
        value=False,
        label="Live mode: draft as I type (Fast variant, small size, 0.8 s after the last keystroke)",
        elem_id="live",
        container=False,
    )
    return dict(
        prompt=prompt, draft_btn=draft_btn, enhance_btn=enhance_btn, stop_btn=stop_btn, sound=sound, typed=typed,
        live=live,
    )  # fmt: skip


def _source_section(studio: Studio) -> dict[str, Any]:
    """What the video starts from or follows: a first frame, a soundtrack, keyframes, a source clip, a
    control video."""
    image = _first_frame_input()
    soundtrack_row, soundtrack, soundtrack_start = build_soundtrack_input(studio.model_set.has_audio)
    strip = build_keyframe_strip()
    with gr.Accordion("Video to video: restyle or re-time a clip", open=False):
        source_video = gr.Video(label="Source video", sources=["upload"], elem_id="source-video", height=160)
        source_strength = gr.Slider(0.05, 1.0, value=0.8, step=0.05, label="How closely to follow it")
    with gr.Accordion("IC-LoRA control: a depth, pose or edges video (with an IC-LoRA)", open=False):
        reference = gr.Video(label="Reference video", sources=["upload"], elem_id="reference", height=160)
    return dict(
        image=image, soundtrack_row=soundtrack_row, soundtrack=soundtrack, soundtrack_start=soundtrack_start,
        keyframes=strip, source_video=source_video, source_strength=source_strength, reference=reference,
    )  # fmt: skip


def _first_frame_input() -> gr.Image:
    """The first-frame upload, with the shipped example photos under it."""
    image = gr.Image(label="First frame (optional)", type="filepath", elem_id="first-frame", height=200)
    examples = sorted(str(p) for p in (ASSETS / "first-frames").glob("*.[pj][np]g"))
    if examples:
        gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Example first frames")
    return image


def _model_section(studio: Studio) -> dict[str, Any]:
    """The variant that renders it, and a camera move on sets with camera LoRAs."""
    mset = studio.model_set
    variant = gr.Radio(choices=variant_choices(studio), value=mset.default_variant, label="Variant", elem_id="variant")
    camera = gr.Dropdown(
        choices=camera_choices(studio),
        value="",
        label="Camera move (a camera-control LoRA)",
        elem_id="camera",
        visible=bool(mset.cameras),
    )
    return dict(variant=variant, camera=camera)


def _length_section(studio: Studio, shared: Shared) -> dict[str, Any]:
    """Resolution and duration, Auto length on LTX-2.5 sets, and the frames the duration makes."""
    default = shared.default
    with gr.Row():
        resolution = gr.Dropdown(choices=shared.resolutions, value="draft", label="Resolution")
        seconds = gr.Slider(
            0.4,
            shared.max_seconds,
            value=round((default.draft_frames - 1) / default.sampling.fps, 1),
            step=0.1,
            label="Duration (s)",
            elem_id="duration",
        )
    auto_length = gr.Checkbox(
        value=False,
        visible=studio.model_set.auto_duration,
        label="Auto length: the model reads the duration off the prompt",
        elem_id="auto-length",
        container=False,
    )
    frames_note = frames_note_for(shared)
    frames_info = gr.Markdown(frames_note((default.draft_frames - 1) / default.sampling.fps, default.sampling.fps))
    return dict(resolution=resolution, seconds=seconds, auto_length=auto_length, frames_info=frames_info)


def _sampling_section(studio: Studio, shared: Shared) -> dict[str, Any]:
    """fps and seed, then under Advanced the negative prompt, steps and guidance."""
    default = shared.default
    with gr.Row():
        fps = gr.Number(value=default.sampling.fps, label="fps", precision=0, minimum=1, maximum=120)
        seed = gr.Number(value=-1, label="Seed", precision=0, elem_id="seed")
        randomize = gr.Checkbox(value=True, label="Randomize seed")
    with gr.Accordion("Advanced", open=False):
        negative = gr.Textbox(value=studio.model_set.negative_prompt, label="Negative prompt", lines=2)
        steps = gr.Number(value=default.sampling.num_steps, label="Steps", precision=0, minimum=1)
        guidance = gr.Number(value=default.sampling.guidance, label="Guidance", minimum=0)
    return dict(fps=fps, seed=seed, randomize=randomize, negative=negative, steps=steps, guidance=guidance)


def _take_section() -> dict[str, Any]:
    """The result panel: the live preview, the take and what it is, Approve & upscale, Re-render with Pro."""
    preview = gr.Image(
        label="Live preview (denoised estimate)", elem_id="preview", interactive=False, height=220, format="png"
    )
    video = gr.Video(label="Take", elem_id="take", interactive=False, autoplay=True, loop=True)
    info = gr.Markdown(elem_classes=["take-info"], elem_id="take-info")
    take_id = gr.State(None)
    with gr.Row():
        upscale_btn = gr.Button("Approve & upscale", elem_id="upscale")
        pro_btn = gr.Button("Re-render with Pro", elem_id="rerender-pro")
    return dict(preview=preview, video=video, info=info, take_id=take_id, upscale_btn=upscale_btn, pro_btn=pro_btn)


def _extend_section() -> dict[str, Any]:
    """Extend the take by some seconds, after its end or before its start."""
    with gr.Row():
        extend_seconds = gr.Number(value=2.0, label="Extend by (s)", minimum=0.3, maximum=60, scale=1)
        extend_back = gr.Checkbox(value=False, label="before its start", scale=1)
        extend_btn = gr.Button("Extend the take", elem_id="extend", scale=2)
    return dict(extend_seconds=extend_seconds, extend_back=extend_back, extend_btn=extend_btn)


def _wire_enhance(studio: Studio, tab: StudioTab) -> None:
    """Enhance: the idea in the prompt box becomes a detailed LTX-2 prompt, editable before drafting."""
    note = " (demo models: the text is gibberish)" if studio.model_set.is_demo else ""

    def enhance(prompt_text, image_path, seed_value):
        seed = 10 if seed_value is None or int(seed_value) < 0 else int(seed_value)
        result = visible(lambda: studio.enhance(prompt_text or "", image=image_path or None, seed=seed))
        gr.Info("Prompt enhanced" + note + ": edit it, then Draft.")
        return result["enhanced"], {"typed": result["prompt"], "enhanced": result["enhanced"]}

    tab.enhance_btn.click(
        enhance,
        [tab.prompt, tab.image, tab.seed],
        [tab.prompt, tab.typed],
        concurrency_id="gpu",
        api_name="enhance",
    )


def settings_request(studio: Studio, tab: StudioTab, data: dict) -> RenderRequest:
    """The request the tab's settings make, from an event's {component: value} (Draft and batches)."""
    return draft_request(
        studio,
        *[data[component] for component in tab.settings[:BASE_SETTINGS]],
        keyframes=[data[component] for component in tab.keyframes.inputs],
        lora_rows=[data[component] for component in tab.loras.inputs],  # (name, weight) per picker row
        reference=data[tab.reference],
        source_video=data[tab.source_video],
        source_strength=data[tab.source_strength],
        camera=data[tab.camera],
        soundtrack=data[tab.soundtrack],
        soundtrack_start=data[tab.soundtrack_start],
    )


def camera_choices(studio: Studio) -> list[tuple[str, str]]:
    """The Camera dropdown's choices: none, then the set's camera moves."""
    return [("None", "")] + [(name.replace("-", " ").capitalize(), name) for name in studio.model_set.cameras]


def _wire_draft(studio: Studio, shared: Shared, tab: StudioTab) -> None:
    """Draft, Approve & upscale and Re-render with Pro: a job each, relayed into the result panel."""
    sessions = shared.sessions

    def run_draft(data: dict, request: gr.Request, progress=gr.Progress()):
        studio.cancel_live(request.session_hash)  # a deliberate Draft owns the result panel
        try:
            request_ = settings_request(studio, tab, data)
            job = studio.submit(Draft(request_), owner=shared.owner(data[shared.browser], request))
        except StudioError as exc:
            yield result_updates(studio, "error", str(exc))  # beside the result, then as a toast
            raise gr.Error(str(exc), print_exception=False) from None
        for kind, value in sessions.relay(job, request.session_hash, progress):
            yield result_updates(studio, kind, value)

    tab.draft_btn.click(
        run_draft,
        {*tab.settings, *tab.extras, shared.browser},
        tab.result,
        show_progress_on=[tab.video],
        concurrency_limit=None,  # it only follows a queued job: the studio's queue orders the work
        api_visibility="private",
    )

    def run_final(mode):
        def handler(current, browser_id, request: gr.Request, progress=gr.Progress()):
            if not current:
                raise gr.Error("Draft something first, then approve it.", print_exception=False)
            job = visible(lambda: studio.submit(Upscale(current, mode=mode), owner=shared.owner(browser_id, request)))
            for kind, value in sessions.relay(job, request.session_hash, progress):
                yield result_updates(studio, kind, value)

        return handler

    for button, mode in ((tab.upscale_btn, "latent"), (tab.pro_btn, "pro")):
        button.click(
            run_final(mode),
            [tab.take_id, shared.browser],
            tab.result,
            show_progress_on=[tab.video],
            concurrency_limit=None,
            api_visibility="private",
        )

    def run_extend(current, seconds, backward, prompt_text, browser_id, request: gr.Request, progress=gr.Progress()):
        if not current:
            raise gr.Error("Draft something first, then extend it.", print_exception=False)
        try:
            job = studio.submit(
                Extend(current, seconds or 2.0, prompt=(prompt_text or "").strip() or None, backward=backward),
                owner=shared.owner(browser_id, request),
            )
        except StudioError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        for kind, value in sessions.relay(job, request.session_hash, progress):
            yield result_updates(studio, kind, value)

    tab.extend_btn.click(
        run_extend,
        [tab.take_id, tab.extend_seconds, tab.extend_back, tab.prompt, shared.browser],
        tab.result,
        show_progress_on=[tab.video],
        concurrency_limit=None,
        api_visibility="private",
    )


def _wire_settings(shared: Shared, tab: StudioTab) -> None:
    """Stop, and the settings that follow each other: a variant's defaults, the frames a duration makes."""

    def stop(request: gr.Request):
        shared.sessions.stop(request.session_hash)

    tab.stop_btn.click(stop, None, None, api_visibility="private", concurrency_limit=None)

    def variant_defaults(name):
        spec = shared.variants[name]
        return spec.sampling.num_steps, spec.sampling.guidance, spec.sampling.fps

    tab.variant.change(
        variant_defaults,
        [tab.variant],
        [tab.steps, tab.guidance, tab.fps],
        api_visibility="private",
        concurrency_limit=None,
    )
    frames_note = frames_note_for(shared)
    note_inputs = [tab.seconds, tab.fps, tab.soundtrack, tab.soundtrack_start]
    for trigger in (tab.seconds.change, tab.fps.change, tab.soundtrack.change):
        trigger(frames_note, note_inputs, [tab.frames_info], api_visibility="private", concurrency_limit=None)
    wire_soundtrack_input(shared, tab)
