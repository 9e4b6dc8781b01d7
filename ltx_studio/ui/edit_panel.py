"""The Takes tab's edits on the picked take: Add sound (a silent take gets a soundtrack) and Retake
(one segment of its timeline regenerated, the rest kept). Each is a job in the studio's queue; the
new take (parent: the picked one) is shown when it lands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ..jobs.ops import AddSound, Retake
from .relay import Shared, take_markdown, visible

if TYPE_CHECKING:
    from ..library.takes import Take
    from ..studio import Studio

HELP = (
    "**Add sound** gives a silent take (an LTX-Video take, a take rendered without sound) a soundtrack made "
    "for its picture; the picture stays as it is. **Retake** regenerates the seconds between *from* and *to* "
    "(edges snap to whole latent frames of 8 frames) from a new prompt, conditioned on what surrounds them; "
    "outside the segment the picture and sound are the take's own."
)


@dataclass
class EditPanel:
    sound_prompt: gr.Textbox
    sound_btn: gr.Button
    start: gr.Slider
    end: gr.Slider
    what: gr.Radio
    retake_prompt: gr.Textbox
    retake_btn: gr.Button
    note: gr.Markdown

    @property
    def for_take(self) -> list:
        """What `panel_updates` sets when a take is picked."""
        return [self.sound_btn, self.start, self.end, self.what, self.retake_btn, self.note]


def build_edit_panel() -> EditPanel:
    with gr.Accordion("Add sound · Retake a segment", open=False, elem_id="edit-panel"):
        gr.Markdown(HELP)
        with gr.Row():
            sound_prompt = gr.Textbox(label="What it should sound like (empty: the take's prompt)", scale=3)
            sound_btn = gr.Button("Add sound", elem_id="takes-add-sound", scale=1, interactive=False)
        with gr.Row():
            start = gr.Slider(0, 5, value=0, step=0.05, label="Retake from (s)", elem_id="retake-start")
            end = gr.Slider(0, 5, value=1, step=0.05, label="to (s)", elem_id="retake-end")
        with gr.Row():
            what = gr.Radio(
                [("Picture and sound", "both"), ("Picture only", "video"), ("Sound only", "audio")],
                value="both",
                label="Retake",
                scale=2,
            )
            retake_prompt = gr.Textbox(label="What happens in the segment (empty: the take's prompt)", scale=3)
        retake_btn = gr.Button("Retake", elem_id="takes-retake", interactive=False)
        note = gr.Markdown(elem_id="edit-note")
    return EditPanel(sound_prompt, sound_btn, start, end, what, retake_prompt, retake_btn, note)


def panel_updates(studio: Studio, take: Take | None) -> list:
    """The panel for a picked take: Add sound on silent takes, the range over its timeline, what can be retaken."""
    if take is None or take.status != "ok":
        return [gr.update(interactive=False), gr.update(), gr.update(), gr.update(), gr.update(interactive=False), ""]
    sound = studio.model_set.has_audio
    choices = [("Picture and sound", "both"), ("Picture only", "video")] + (
        [("Sound only", "audio")] if take.audio else []
    )
    if not sound:
        choices = [("Picture only", "video")]
    seconds = round(take.frames / take.fps, 2)
    note = "" if sound else f"Model set {studio.model_set.name} has no sound: Add sound needs an LTX-2 set."
    return [
        gr.update(interactive=sound and not take.audio, value="Add sound" if not take.audio else "Has sound"),
        gr.update(maximum=seconds, value=round(seconds / 3, 2), step=0.01),
        gr.update(maximum=seconds, value=round(2 * seconds / 3, 2), step=0.01),
        gr.update(choices=choices, value=choices[0][1]),
        gr.update(interactive=True),
        note,
    ]


def wire_edit_panel(
    studio: Studio, shared: Shared, panel: EditPanel, selected: gr.State, shown: list, listed, list_outputs, show_live
):
    """Add sound and Retake on the picked take; `shown` are the take view's outputs (id, video, info,
    prompt, download), `listed(include_live, browser_id, request)` the list's new values."""

    def result(take: Take, include_live: bool, note: str, browser_id, request) -> tuple:  # the new take, picked
        return (take.id, str(take.path("video")), take_markdown(take), f"> {take.prompt}",
                gr.update(value=str(take.path("video")), visible=True), *panel_updates(studio, take)[:-1], note,
                *listed(include_live, browser_id, request))  # fmt: skip

    def add_sound_to_picked(current, prompt, include_live, browser_id, request: gr.Request, progress=gr.Progress()):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        progress(0.0, desc="Making a soundtrack for the take")
        job = visible(
            lambda: studio.submit(
                AddSound(current, prompt=prompt or None, files=False), owner=shared.owner(browser_id, request)
            )
        )
        take = shared.sessions.follow_to_take(job, request.session_hash, progress)  # Stop reaches it
        return result(take, include_live, f"Sound added: take {take.id} (parent {current}).", browser_id, request)

    def retake_picked(
        current, start, end, what, prompt, include_live, browser_id, request: gr.Request, progress=gr.Progress()
    ):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        progress(0.0, desc=f"Retaking {start:g}-{end:g} s")
        job = visible(
            lambda: studio.submit(
                Retake(current, start, end, prompt=prompt or None, what=what), owner=shared.owner(browser_id, request)
            )
        )
        take = shared.sessions.follow_to_take(job, request.session_hash, progress)  # Stop reaches it
        used = take.settings["retake"]
        snapped = "" if [used["start"], used["end"]] == used["asked"] else " (snapped to the latent grid)"
        note = f"Retook {used['start']:g}-{used['end']:g} s{snapped}: take {take.id}."
        return result(take, include_live, note, browser_id, request)

    outputs = [*shown, *panel.for_take, *list_outputs]
    common = {"api_visibility": "private", "concurrency_limit": None}  # each follows a queued job
    inputs = [show_live, shared.browser]
    panel.sound_btn.click(add_sound_to_picked, [selected, panel.sound_prompt, *inputs], outputs, **common)
    panel.retake_btn.click(
        retake_picked, [selected, panel.start, panel.end, panel.what, panel.retake_prompt, *inputs], outputs, **common
    )
