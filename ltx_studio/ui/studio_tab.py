"""The Studio tab: a prompt and its settings on the left, the live preview and the take on the right.

Draft, Approve & upscale and Re-render with Pro each run a Studio job and relay its events into the
result panel; live mode drafts as the prompt changes, debounced per session; Stop cancels the
session's jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..core import sizing
from ..core.errors import StudioError
from ..core.events import Failed
from ..render.plan import RenderRequest
from .batch_panel import BatchPanel, build_batch_panel, wire_batch_panel
from .keyframes import KeyframeStrip, build_keyframe_strip, keyframes_of, wire_first_last
from .live import wire_live
from .lora_picker import LoraPicker, build_lora_picker, lora_request
from .relay import Shared, owner, take_markdown, visible
from .soundtrack_input import build_soundtrack_input, wire_soundtrack_input

if TYPE_CHECKING:
    from ..studio import Studio

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@dataclass
class StudioTab:
    """The Studio tab's components; the Takes tab's Reuse settings writes a take's settings into them."""

    prompt: gr.Textbox
    draft_btn: gr.Button
    stop_btn: gr.Button
    live: gr.Checkbox
    image: gr.Image
    variant: gr.Radio
    resolution: gr.Dropdown
    seconds: gr.Slider
    frames_info: gr.Markdown
    fps: gr.Number
    seed: gr.Number
    randomize: gr.Checkbox
    negative: gr.Textbox
    steps: gr.Number
    guidance: gr.Number
    preview: gr.Image
    video: gr.Video
    info: gr.Markdown
    take_id: gr.State
    upscale_btn: gr.Button
    pro_btn: gr.Button
    sound: gr.Checkbox
    enhance_btn: gr.Button
    typed: gr.State  # {"typed": idea, "enhanced": text} of the last Enhance, so the take records both
    auto_length: gr.Checkbox  # LTX-2.5: the duration head picks the length
    keyframes: KeyframeStrip
    extend_btn: gr.Button
    extend_seconds: gr.Number
    extend_back: gr.Checkbox
    loras: LoraPicker
    reference: gr.Video  # LTX-2 IC-LoRA control video
    source_video: gr.Video  # video-to-video: the clip to restyle
    source_strength: gr.Slider
    batch: BatchPanel  # variations and batches, filling a grid
    camera: gr.Dropdown  # a camera move ("" for none), on sets with camera LoRAs
    soundtrack: gr.File  # audio-to-video (LTX-2): the picture follows this sound
    soundtrack_start: gr.Number
    soundtrack_row: gr.Row  # shown on sets with sound

    @property
    def extras(self) -> list[gr.components.Component]:
        """The inputs a draft reads beside `settings` (see `settings_request`)."""
        return [self.reference, self.source_video, self.source_strength, self.camera, self.soundtrack,
                self.soundtrack_start]  # fmt: skip

    @property
    def settings(self) -> list[gr.components.Component]:
        """What a draft is made of: `draft_request`'s arguments in order (BASE_SETTINGS of them),
        then the keyframe strip's and the LoRA picker's values."""
        return [
            self.prompt,
            self.negative,
            self.image,
            self.variant,
            self.seed,
            self.randomize,
            self.resolution,
            self.seconds,
            self.fps,
            self.steps,
            self.guidance,
            self.sound,
            self.typed,
            self.auto_length,
            *self.keyframes.inputs,
            *self.loras.inputs,
        ]

    @property
    def result(self) -> list[gr.components.Component]:
        """The result panel every job writes into, in the order of `result_updates`."""
        return [self.preview, self.video, self.info, self.seed, self.take_id, self.variant]


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


def frames_note_for(shared: Shared) -> Callable[[float, float], str]:
    """The note under Duration: how many frames that is, at the fps asked (the default fps if none)."""

    def frames_note(seconds: float, fps: float) -> str:
        frames = sizing.frames_for_seconds(seconds or 0.1, fps or shared.default.sampling.fps)
        return f"{frames} frames · {sizing.seconds_for_frames(frames, fps or 24):.2f} s at {int(fps or 24)} fps"

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
    `lora_rows`: the LoRA picker's values, row by row (name, path, weight)."""
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
        loras=lora_request(lora_rows),
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
    mset, default = studio.model_set, shared.default
    with gr.Tab("Studio", id="studio"), gr.Row():
        with gr.Column(scale=5):
            prompt = gr.Textbox(
                label="Prompt",
                lines=3,
                elem_id="prompt",
                placeholder="A cat walks along a sunlit wall, the camera follows slowly",
            )
            with gr.Row():
                draft_btn = gr.Button("Draft", variant="primary", elem_id="draft", scale=3)
                enhance_btn = gr.Button(
                    "Enhance", elem_id="enhance", scale=1, visible=mset.has_audio, variant="secondary"
                )
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
            image = _first_frame_input()
            soundtrack_row, soundtrack, soundtrack_start = build_soundtrack_input(mset.has_audio)
            strip = build_keyframe_strip()
            with gr.Accordion("Video to video: restyle or re-time a clip", open=False):
                source_video = gr.Video(label="Source video", sources=["upload"], elem_id="source-video", height=160)
                source_strength = gr.Slider(0.05, 1.0, value=0.8, step=0.05, label="How closely to follow it")
            with gr.Accordion("IC-LoRA control: a depth, pose or edges video (with an IC-LoRA)", open=False):
                reference = gr.Video(label="Reference video", sources=["upload"], elem_id="reference", height=160)
            variant = gr.Radio(
                choices=variant_choices(studio), value=mset.default_variant, label="Variant", elem_id="variant"
            )
            camera = gr.Dropdown(
                choices=camera_choices(studio),
                value="",
                label="Camera move (a camera-control LoRA)",
                elem_id="camera",
                visible=bool(mset.cameras),
            )
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
                visible=mset.auto_duration,
                label="Auto length: the model reads the duration off the prompt",
                elem_id="auto-length",
                container=False,
            )
            frames_note = frames_note_for(shared)
            frames_info = gr.Markdown(
                frames_note((default.draft_frames - 1) / default.sampling.fps, default.sampling.fps)
            )
            with gr.Row():
                fps = gr.Number(value=default.sampling.fps, label="fps", precision=0, minimum=1, maximum=120)
                seed = gr.Number(value=-1, label="Seed", precision=0, elem_id="seed")
                randomize = gr.Checkbox(value=True, label="Randomize seed")
            with gr.Accordion("Advanced", open=False):
                negative = gr.Textbox(value=mset.negative_prompt, label="Negative prompt", lines=2)
                steps = gr.Number(value=default.sampling.num_steps, label="Steps", precision=0, minimum=1)
                guidance = gr.Number(value=default.sampling.guidance, label="Guidance", minimum=0)
            loras = build_lora_picker(studio, "studio")
        with gr.Column(scale=6):
            preview = gr.Image(
                label="Live preview (denoised estimate)", elem_id="preview", interactive=False, height=220, format="png"
            )
            video = gr.Video(label="Take", elem_id="take", interactive=False, autoplay=True, loop=True)
            info = gr.Markdown(elem_classes=["take-info"], elem_id="take-info")
            take_id = gr.State(None)
            with gr.Row():
                upscale_btn = gr.Button("Approve & upscale", elem_id="upscale")
                pro_btn = gr.Button("Re-render with Pro", elem_id="rerender-pro")
            with gr.Row():
                extend_seconds = gr.Number(value=2.0, label="Extend by (s)", minimum=0.3, maximum=60, scale=1)
                extend_back = gr.Checkbox(value=False, label="before its start", scale=1)
                extend_btn = gr.Button("Extend the take", elem_id="extend", scale=2)
            batch = build_batch_panel()
    return StudioTab(
        prompt=prompt,
        draft_btn=draft_btn,
        stop_btn=stop_btn,
        live=live,
        image=image,
        variant=variant,
        resolution=resolution,
        seconds=seconds,
        frames_info=frames_info,
        fps=fps,
        seed=seed,
        randomize=randomize,
        negative=negative,
        steps=steps,
        guidance=guidance,
        preview=preview,
        video=video,
        info=info,
        take_id=take_id,
        upscale_btn=upscale_btn,
        pro_btn=pro_btn,
        sound=sound,
        enhance_btn=enhance_btn,
        typed=typed,
        auto_length=auto_length,
        keyframes=strip,
        extend_btn=extend_btn,
        extend_seconds=extend_seconds,
        extend_back=extend_back,
        loras=loras,
        reference=reference,
        source_video=source_video,
        source_strength=source_strength,
        batch=batch,
        camera=camera,
        soundtrack=soundtrack,
        soundtrack_start=soundtrack_start,
        soundtrack_row=soundtrack_row,
    )


def _wire_enhance(studio: Studio, tab: StudioTab) -> None:
    """Enhance: the idea in the prompt box becomes a detailed LTX-2 prompt, editable before drafting."""
    note = " (demo models: the text is gibberish)" if studio.model_set.is_demo else ""

    def enhance(prompt_text, image_path, seed_value):
        seed = 10 if seed_value is None or int(seed_value) < 0 else int(seed_value)
        job = studio.enhance_job(prompt_text or "", image=image_path or None, seed=seed)
        failed = [event for event in job.events() if isinstance(event, Failed)]
        if failed or job.result is None:
            raise gr.Error(failed[0].message if failed else "enhancing failed", print_exception=False)
        gr.Info("Prompt enhanced" + note + ": edit it, then Draft.")
        return job.result["enhanced"], {"typed": job.result["prompt"], "enhanced": job.result["enhanced"]}

    tab.enhance_btn.click(
        enhance,
        [tab.prompt, tab.image, tab.seed],
        [tab.prompt, tab.typed],
        concurrency_id="gpu",
        api_name="enhance",
    )


def _first_frame_input() -> gr.Image:
    """The first-frame upload, with the shipped example photos under it."""
    image = gr.Image(label="First frame (optional)", type="filepath", elem_id="first-frame", height=200)
    examples = sorted(str(p) for p in (ASSETS / "first-frames").glob("*.[pj][np]g"))
    if examples:
        gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Example first frames")
    return image


def settings_request(studio: Studio, tab: StudioTab, data: dict) -> RenderRequest:
    """The request the tab's settings make, from an event's {component: value} (Draft and batches)."""
    return draft_request(
        studio,
        *[data[component] for component in tab.settings[:BASE_SETTINGS]],
        keyframes=[data[component] for component in tab.keyframes.inputs],
        lora_rows=[data[component] for component in tab.loras.inputs],  # (name, path, weight) per picker row
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
            job = studio.draft_job(request_, owner=owner(data[shared.browser], request))
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
            job = visible(lambda: studio.upscale_job(current, mode=mode, owner=owner(browser_id, request)))
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
            job = studio.extend_job(
                current,
                seconds or 2.0,
                prompt=(prompt_text or "").strip() or None,
                backward=backward,
                owner=owner(browser_id, request),
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
    for trigger in (tab.seconds.change, tab.fps.change):
        trigger(
            frames_note, [tab.seconds, tab.fps], [tab.frames_info], api_visibility="private", concurrency_limit=None
        )
    wire_soundtrack_input(shared, tab)
