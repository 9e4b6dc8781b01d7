"""The Studio tab's prompt bar and its "More" drawer: what a draft is made of.

The bar holds what a creator touches most: the idea (and its enhanced rewrite beside it), Draft,
the model set, variant, aspect ratio, resolution, duration (with the frames it makes), seed, and two
small drop targets, a first frame and a soundtrack (its waveform and length). Everything else (fps,
keyframes, video to video, IC-LoRA, LoRAs, camera, negative prompt, sampling, batches) is in one
closed drawer. A refused input is one line at the control that caused it (`NOTES`), never a pill
over the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from ...core import sizing
from ...render.prompts import SEEDS_RANGE
from ..keyframes import build_keyframe_strip
from ..lora_picker import build_lora_picker
from .parts import BatchPanel

if TYPE_CHECKING:
    from ...studio import Studio
    from ..relay import Shared

ASSETS = Path(__file__).resolve().parents[3] / "assets"
ASPECTS = [("Auto", "auto"), ("16:9", "16:9"), ("9:16", "9:16"), ("1:1", "1:1"), ("4:3", "4:3"), ("21:9", "21:9")]
NOTES = ("prompt", "set", "duration", "first_frame", "soundtrack", "draft")  # where a refusal is said


def first_frame_input(**kwargs) -> gr.Image:
    """An image upload that hands its file on unread: the page checks it from its header at upload
    (`media.check_image`) and says in one line why it is refused, instead of Pillow failing in Gradio's
    own preprocessing (a broken thumbnail, an "Error" pill, a traceback in the log). The instance's
    preprocess is replaced (a subclass would make Gradio write a .pyi stub beside this module)."""
    image = gr.Image(type="filepath", **kwargs)
    read = image.preprocess

    def unread(payload):
        if payload is None or payload.url and payload.url.startswith("data:"):
            return read(payload)  # an inline image is decoded by Gradio (and checked on its way to the render)
        return str(payload.path) if payload.path else None

    image.preprocess = unread
    return image


def size_for(aspect: str | None, tier_size: tuple[int, int]) -> tuple[int, int] | None:
    """Width and height for an aspect ratio ("16:9") at a resolution tier's area; None for Auto."""
    if not aspect or aspect == "auto":
        return None
    across, down = (float(part) for part in aspect.split(":"))
    return sizing.size_for_aspect(across / down, tier_size)


def note(message: str = "") -> dict:
    """A note's update: shown with its one line, hidden when empty."""
    return gr.update(value=f"⚠ {message}" if message else "", visible=bool(message))


def set_refusal(studio: Studio, page_set: str | None) -> tuple[str, str] | None:
    """A render from a page that shows another model set than the studio uses: refused, in one line."""
    if page_set != studio.model_set.name:
        return "set", (
            f"This page showed model set {page_set}, but the studio now uses {studio.model_set.name} "
            "(switched in another page): the page shows it now; check the settings, then Draft."
        )
    return None


def build_prompt_bar(studio: Studio, shared: Shared) -> dict[str, Any]:
    """The bar's components by name (for `StudioTab`)."""
    mset, default = studio.model_set, shared.default
    sets = studio.available_sets()
    parts: dict[str, Any] = {}
    with gr.Row(elem_id="prompt-bar", equal_height=False):
        with gr.Column(scale=5, min_width=300):
            parts["prompt"] = gr.Textbox(
                label="Your idea",
                lines=2,
                max_lines=6,
                elem_id="prompt",
                placeholder="A cat walks along a sunlit wall, the camera follows slowly",
            )
            parts["prompt_note"] = _note("prompt-note")
            parts["enhanced"] = gr.Textbox(
                label="Enhanced prompt: Draft uses it (clear it to draft your own words)",
                lines=3,
                max_lines=8,
                elem_id="enhanced",
                visible=False,
            )
            with gr.Row(elem_id="bar-buttons"):
                parts["draft_btn"] = gr.Button("Draft", variant="primary", elem_id="draft", scale=3, min_width=100)
                parts["enhance_btn"] = gr.Button(
                    "Enhance", elem_id="enhance", scale=1, min_width=80, visible=mset.has_audio, size="md"
                )
                parts["stop_btn"] = gr.Button("Stop", elem_id="stop", scale=1, min_width=70, variant="secondary")
            with gr.Row(elem_id="bar-switches"):
                parts["sound"] = gr.Checkbox(
                    value=mset.has_audio, visible=mset.has_audio, label="Sound", elem_id="sound", container=False
                )
                parts["live"] = gr.Checkbox(
                    value=False, label="Live drafts as I type", elem_id="live", container=False, min_width=120
                )
            parts["draft_note"] = _note("draft-note")
            with gr.Row(elem_id="drops"):
                with gr.Column(min_width=120):
                    parts["image"] = first_frame_input(
                        label="First frame", elem_id="first-frame", height=110, sources=["upload"]
                    )
                    parts["first_frame_note"] = _note("first-frame-note")
                with gr.Column(min_width=120, visible=mset.has_audio) as soundtrack_row:
                    parts["soundtrack"] = gr.Audio(
                        label="Soundtrack", type="filepath", format=None, sources=["upload"], elem_id="soundtrack",
                        editable=False,
                    )  # fmt: skip
                    parts["soundtrack_note"] = _note("soundtrack-note")
                parts["soundtrack_row"] = soundtrack_row
        with gr.Column(scale=4, min_width=300, elem_id="bar-controls"):
            with gr.Row(elem_classes=["compact"]):
                parts["model_set"] = gr.Dropdown(
                    choices=[(f"{studio.registry[name].label}", name) for name in sets],
                    value=mset.name,
                    label="Model set",
                    elem_id="model-set",
                    interactive=len(sets) > 1,
                    min_width=110,
                )
                parts["variant"] = gr.Dropdown(
                    choices=variant_choices(studio), value=mset.default_variant, label="Variant",
                    elem_id="variant", min_width=110,
                )  # fmt: skip
                parts["aspect"] = gr.Dropdown(
                    choices=ASPECTS, value="auto", label="Aspect", elem_id="aspect", min_width=80
                )
                parts["resolution"] = gr.Dropdown(
                    choices=shared.resolutions, value="draft", label="Resolution", elem_id="resolution", min_width=110
                )
                parts["seconds"] = gr.Number(
                    value=round((default.draft_frames - 1) / default.sampling.fps, 1),
                    label="Duration (s)",
                    elem_id="duration",
                    step=0.1,
                    min_width=80,
                )
                parts["seed"] = gr.Number(value=-1, label="Seed (-1: new)", precision=0, elem_id="seed", min_width=80)
            parts["set_note"] = _note("set-note")
            parts["frames_info"] = gr.Markdown(elem_id="frames-note", elem_classes=["bar-info"])
            parts["duration_note"] = _note("duration-note")
    parts |= _more_drawer(studio, shared, parts["image"])
    return parts


def _note(elem_id: str) -> gr.Markdown:
    return gr.Markdown("", visible=False, elem_id=elem_id, elem_classes=["bar-note"])


def variant_choices(studio: Studio) -> list[tuple[str, str]]:
    """The Variant dropdown's choices: each variant's label with its state (ready, on disk, not downloaded)."""
    states = studio.variant_states()
    return [(f"{v.label} · {states[name]}", name) for name, v in studio.model_set.variants.items()]


def camera_choices(studio: Studio) -> list[tuple[str, str]]:
    """The Camera dropdown's choices: none, then the set's camera moves."""
    return [("None", "")] + [(name.replace("-", " ").capitalize(), name) for name in studio.model_set.cameras]


def _more_drawer(studio: Studio, shared: Shared, parts_image: gr.Image) -> dict[str, Any]:
    """Everything else a draft can take, in one closed drawer (and example first frames for the bar's)."""
    mset, default = studio.model_set, shared.default
    parts: dict[str, Any] = {}
    with gr.Accordion("More: fps, keyframes, video to video, LoRAs, camera, sampling, batches", open=False,
                      elem_id="more"):  # fmt: skip
        with gr.Row(elem_classes=["compact"]):
            parts["fps"] = gr.Number(value=default.sampling.fps, label="fps", precision=0, min_width=80)
            parts["camera"] = gr.Dropdown(
                choices=camera_choices(studio), value="", label="Camera move", elem_id="camera",
                visible=bool(mset.cameras), min_width=140,
            )  # fmt: skip
            parts["soundtrack_start"] = gr.Number(
                value=0.0, minimum=0, label="Soundtrack from (s)", elem_id="soundtrack-start", min_width=100
            )
            parts["auto_length"] = gr.Checkbox(
                value=False, visible=mset.auto_duration, label="Auto length (from the prompt)", elem_id="auto-length"
            )
        examples = sorted(str(p) for p in (ASSETS / "first-frames").glob("*.[pj][np]g"))
        if examples:
            gr.Examples(examples=[[p] for p in examples], inputs=[parts_image], label="Example first frames")
        parts["keyframes"] = build_keyframe_strip()
        with gr.Accordion("Video to video: restyle or re-time a clip", open=False):
            parts["source_video"] = gr.Video(
                label="Source video", sources=["upload"], elem_id="source-video", height=160
            )
            parts["source_strength"] = gr.Slider(0.05, 1.0, value=0.8, step=0.05, label="How closely to follow it")
        with gr.Accordion("IC-LoRA control: a depth, pose or edges video (with an IC-LoRA)", open=False):
            parts["reference"] = gr.Video(label="Reference video", sources=["upload"], elem_id="reference", height=160)
        parts["loras"] = build_lora_picker(studio, "studio")
        with gr.Accordion("Sampling: negative prompt, steps, guidance", open=False):
            parts["negative"] = gr.Textbox(value=mset.negative_prompt, label="Negative prompt", lines=2)
            with gr.Row():
                parts["steps"] = gr.Number(value=default.sampling.num_steps, label="Steps", precision=0, minimum=1)
                parts["guidance"] = gr.Number(value=default.sampling.guidance, label="Guidance", minimum=0)
        parts["batch"] = _batch_section()
    return parts


def _batch_section() -> BatchPanel:
    """A batch: several seeds of the prompt, or of each prompt of a list; every take lands in the feed."""
    with gr.Accordion("Batch: several seeds, or a list of prompts", open=False, elem_id="batches"):
        seeds = gr.Slider(SEEDS_RANGE[0], SEEDS_RANGE[1], value=4, step=1, label="Seeds per prompt",
                          elem_id="variations")  # fmt: skip
        prompt_list = gr.Textbox(
            label="Prompt list (optional; else the idea above): one per line, or CSV with a prompt,seed,seconds header",
            lines=3,
            elem_id="prompt-list",
        )
        prompt_file = gr.File(label="…or a .txt / .csv file", file_types=[".txt", ".csv"], elem_id="prompt-file",
                              height=90)  # fmt: skip
        run_btn = gr.Button("Render batch", elem_id="batch", variant="secondary")
        batch_note = gr.Markdown(elem_id="batch-note")
    return BatchPanel(seeds, prompt_list, prompt_file, run_btn, batch_note)


CSS = """
#bar-controls .form {display: grid !important; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0}
#bar-controls .form > * {min-width: 0 !important}
#drops {gap: 8px}
#soundtrack .audio-container, #soundtrack button.upload-container {height: 96px; min-height: 0}
#soundtrack .icon-wrap {display: none}
#first-frame .upload-container {padding-top: 14px}
#prompt-bar .bar-info p, #prompt-bar .bar-note p {margin: 0; font-size: 12px}
#prompt-bar .bar-note {color: var(--error-text-color, #c00)}
#bar-switches {gap: 12px}
@media (max-width: 600px) {
  #bar-controls .form {grid-template-columns: none; grid-auto-flow: column; grid-auto-columns: 118px;
    overflow-x: auto}
  #prompt label > span:first-child {display: none}
  #drops {flex-wrap: nowrap}
  #drops > * {min-width: 0 !important; flex: 1 1 50%}
  #first-frame, #soundtrack {max-height: 58px; overflow: hidden}
  #bar-switches {gap: 4px}
  #prompt-bar, #prompt-bar > .column {gap: 8px}
  #bar-switches > * {padding: 2px 8px !important}
  #bar-switches label span {font-size: 13px}
  #prompt textarea {min-height: 48px !important; height: 48px}
  #more {order: 3}
  #feed {order: 2}
}
"""
