"""The Studio tab's components by name: `StudioTab`, and the `BatchPanel` and `ActionPanel` inside it.

A module of their own, so the panels wired into the tab (batch_panel, live, card_actions) and the
Takes tab's Reuse settings read the tab's components without importing studio_tab, which builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

if TYPE_CHECKING:
    from ..keyframes import KeyframeStrip
    from ..lora_picker import LoraPicker


@dataclass
class BatchPanel:
    seeds: gr.Slider
    prompt_list: gr.Textbox
    prompt_file: gr.File
    run_btn: gr.Button
    note: gr.Markdown


@dataclass
class ActionPanel:
    """The panel a card's Extend…, Retake… or Add sound… opens: the take it acts on and its parameters."""

    group: gr.Group
    take_id: gr.State
    title: gr.Markdown
    extend_row: gr.Row
    extend_seconds: gr.Number
    extend_back: gr.Checkbox
    retake_row: gr.Column
    start: gr.Slider
    end: gr.Slider
    what: gr.Radio
    sound_row: gr.Row
    prompt: gr.Textbox
    run_btn: gr.Button
    close_btn: gr.Button
    action: gr.State  # "extend" | "retake" | "sound" | "finish"
    finish_row: gr.Column
    finish_pass: gr.Dropdown  # the set's passes
    finish_about: gr.Markdown  # what the chosen pass is for
    finish_factor: gr.Radio  # frame rate, slow motion: x2 or x4
    finish_exr: gr.Checkbox  # hdr: EXR frames too

    @property
    def shown(self) -> list:
        """What opening the panel for an action sets (`card_actions.open_panel`)."""
        return [self.group, self.take_id, self.action, self.title, self.extend_row, self.retake_row, self.sound_row,
                self.start, self.end, self.what, self.prompt, self.run_btn, self.finish_row, self.finish_pass,
                self.finish_about, self.finish_factor, self.finish_exr]  # fmt: skip


@dataclass
class StudioTab:
    """The Studio tab's components; the Takes tab's Reuse settings writes a take's settings into them."""

    prompt: gr.Textbox
    enhanced: gr.Textbox  # the enhanced rewrite of the idea, beside it; Draft uses it when it is there
    draft_btn: gr.Button
    stop_btn: gr.Button
    enhance_btn: gr.Button
    live: gr.Checkbox
    sound: gr.Checkbox
    model_set: gr.Dropdown
    variant: gr.Dropdown
    aspect: gr.Dropdown
    resolution: gr.Dropdown
    seconds: gr.Number
    seed: gr.Number
    frames_info: gr.Markdown
    image: gr.Image
    soundtrack: gr.Audio  # audio-to-video (LTX-2): the picture follows this sound
    soundtrack_row: gr.Column  # shown on sets with sound
    prompt_note: gr.Markdown
    set_note: gr.Markdown
    duration_note: gr.Markdown
    first_frame_note: gr.Markdown
    soundtrack_note: gr.Markdown
    draft_note: gr.Markdown
    fps: gr.Number
    camera: gr.Dropdown  # a camera move ("" for none), on sets with camera LoRAs
    soundtrack_start: gr.Number
    auto_length: gr.Checkbox  # LTX-2.5: the duration head picks the length
    keyframes: KeyframeStrip
    source_video: gr.Video  # video-to-video: the clip to restyle
    source_strength: gr.Slider
    reference: gr.Video  # LTX-2 IC-LoRA control video
    loras: LoraPicker
    negative: gr.Textbox
    steps: gr.Number
    guidance: gr.Number
    batch: BatchPanel
    feed: gr.HTML  # this browser's work as cards (feed.py)
    panel: ActionPanel
    page_set: gr.State  # the model set this page shows (a draft from a page showing another is refused)

    @property
    def notes(self) -> list[gr.Markdown]:
        """The one-line notes at the controls, in the order of `prompt_bar.NOTES`."""
        return [self.prompt_note, self.set_note, self.duration_note, self.first_frame_note, self.soundtrack_note,
                self.draft_note]  # fmt: skip

    @property
    def extras(self) -> list[gr.components.Component]:
        """The inputs a draft reads beside `settings` (see `studio_tab.settings_request`)."""
        return [self.reference, self.source_video, self.source_strength, self.camera, self.soundtrack,
                self.soundtrack_start, self.aspect, self.enhanced, self.page_set]  # fmt: skip

    @property
    def settings(self) -> list[gr.components.Component]:
        """What a draft is made of (`studio_tab.settings_request` reads them by component), then the
        keyframe strip's and the LoRA picker's values."""
        return [
            self.prompt, self.negative, self.image, self.variant, self.seed, self.resolution, self.seconds, self.fps,
            self.steps, self.guidance, self.sound, self.auto_length, *self.keyframes.inputs, *self.loras.inputs,
        ]  # fmt: skip
