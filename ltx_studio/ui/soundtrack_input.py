"""The Studio tab's Soundtrack upload (audio-to-video on sets with sound): the picture follows it,
and the Duration follows its length."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ..library.sound import read_soundtrack
from .relay import Shared, visible

if TYPE_CHECKING:
    from .studio_parts import StudioTab


def build_soundtrack_input(shown: bool) -> tuple[gr.Row, gr.File, gr.Number]:
    """(its row, shown on sets with sound; the upload; the start in seconds)."""
    with gr.Row(visible=shown) as row:
        soundtrack = gr.File(
            label="Soundtrack (optional): the picture follows it",
            file_types=["audio", "video"],
            elem_id="soundtrack",
            height=90,
            scale=3,
        )
        start = gr.Number(value=0.0, minimum=0, label="Start at (s)", scale=1, min_width=90)
    return row, soundtrack, start


def wire_soundtrack_input(shared: Shared, tab: StudioTab) -> None:
    def follow_soundtrack(path, start):  # Duration follows an uploaded soundtrack (to its maximum); sound on
        if not path:
            return gr.update(), gr.update()
        track = visible(lambda: read_soundtrack(path, float(start or 0)))
        return gr.update(value=round(min(track.seconds, shared.max_seconds), 1)), True

    for trigger in (tab.soundtrack.upload, tab.soundtrack_start.submit):
        trigger(
            follow_soundtrack,
            [tab.soundtrack, tab.soundtrack_start],
            [tab.seconds, tab.sound],
            api_visibility="private",
        )
