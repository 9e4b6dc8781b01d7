"""The Studio tab's components by name: `StudioTab`, and the `BatchPanel` inside it.

A module of their own, so the panels wired into the tab (batch_panel, live, soundtrack_input) and the
Takes tab's Reuse settings read the tab's components without importing studio_tab, which builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

if TYPE_CHECKING:
    from .keyframes import KeyframeStrip
    from .lora_picker import LoraPicker


@dataclass
class BatchPanel:
    seeds: gr.Slider
    prompt_list: gr.Textbox
    prompt_file: gr.File
    run_btn: gr.Button
    note: gr.Markdown
    grid: gr.Gallery
    ids: gr.State


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
        """The inputs a draft reads beside `settings` (see `studio_tab.settings_request`)."""
        return [self.reference, self.source_video, self.source_strength, self.camera, self.soundtrack,
                self.soundtrack_start]  # fmt: skip

    @property
    def settings(self) -> list[gr.components.Component]:
        """What a draft is made of: `studio_tab.draft_request`'s arguments in order (BASE_SETTINGS of
        them), then the keyframe strip's and the LoRA picker's values."""
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
        """The result panel every job writes into, in the order of `studio_tab.result_updates`."""
        return [self.preview, self.video, self.info, self.seed, self.take_id, self.variant]
