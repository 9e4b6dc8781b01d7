"""The keyframe strip under the prompt: images the clip passes through, each at a time and strength.

A few fixed slots (an empty image is an unused slot; clearing one removes it). "First + last" puts
the first two slots at the clip's start and end. The request gets them in time order; where each
one lands on the family's grid is in the take's info.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ..core import sizing
from ..core.errors import StudioError

if TYPE_CHECKING:
    from ..studio import Studio

SLOTS = 4


@dataclass
class KeyframeStrip:
    images: list[gr.Image]
    times: list[gr.Number]
    strengths: list[gr.Slider]
    first_last_btn: gr.Button
    order: gr.Gallery  # the keyframes as thumbnails in time order, with their times
    landing: gr.Markdown  # where each keyframe lands on the model's grid, said before rendering

    @property
    def inputs(self) -> list[gr.components.Component]:
        """Image, time and strength of each slot, slot after slot."""
        return [c for slot in zip(self.images, self.times, self.strengths, strict=True) for c in slot]


def build_keyframe_strip(prefix: str = "") -> KeyframeStrip:
    """The strip's components; `prefix` keeps element ids apart when two tabs have one."""
    images, times, strengths = [], [], []
    with gr.Accordion("Keyframes: images the clip passes through", open=False, elem_id=f"{prefix}keyframes"):
        with gr.Row():
            for i in range(SLOTS):
                with gr.Column(min_width=120):
                    images.append(
                        gr.Image(
                            type="filepath", label=f"Keyframe {i + 1}", height=110, elem_id=f"{prefix}keyframe-{i}"
                        )
                    )
                    times.append(gr.Number(value=None, label="at (s)", minimum=0, elem_id=f"{prefix}keyframe-time-{i}"))
                    strengths.append(gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="strength"))
        first_last_btn = gr.Button("First + last frame", size="sm", elem_id=f"{prefix}first-last")
        order = gr.Gallery(
            label="In time order", columns=SLOTS, height=120, allow_preview=False, elem_id=f"{prefix}keyframe-order"
        )
        landing = gr.Markdown(elem_id=f"{prefix}keyframe-landing")
    strip = KeyframeStrip(images, times, strengths, first_last_btn, order, landing)
    for component in strip.inputs:
        component.change(
            lambda *values: [
                (k["image"], f"{k['seconds']:g} s · strength {k['strength']:g}") for k in keyframes_of(list(values))
            ],
            strip.inputs,
            [order],
            api_visibility="private",
            queue=False,
        )
    return strip


def wire_first_last(strip: KeyframeStrip, seconds: gr.components.Component, studio: Studio, fps=None) -> None:
    """One click: keyframe 1 at the start, keyframe 2 at the end of the clip; and, before anything renders,
    where each keyframe will land on the model's grid (a later LTX-2 keyframe sits on a latent frame: the
    last one 7 frames before the end)."""
    strip.first_last_btn.click(
        lambda secs: (0.0, float(secs or 0)),
        [seconds],
        [strip.times[0], strip.times[1]],
        api_visibility="private",
        queue=False,
    )

    def landing(secs, rate, *values):
        rate = int(rate or studio.model_set.variants[studio.model_set.default_variant].sampling.fps)
        if not secs or float(secs) <= 0:
            return ""
        frames = sizing.frames_for_seconds(float(secs), rate)
        lines = []
        for i, keyframe in enumerate(keyframes_of(list(values)), 1):
            asked = keyframe["seconds"]
            try:
                frame, lands = studio.keyframe_landing(asked, frames, rate)
            except StudioError:
                continue  # outside the clip: the draft says so
            moved = abs(lands - asked) > 0.5 / rate
            lines.append(
                f"keyframe {i} at {asked:g} s → frame {frame} ({lands:.2f} s)"
                + (" · moved to the model's grid" if moved else "")
            )
        return ("Where they land: " + "; ".join(lines)) if lines else ""

    inputs = [seconds, *([fps] if fps is not None else []), *strip.inputs]
    handler = landing if fps is not None else (lambda secs, *values: landing(secs, None, *values))
    for component in [seconds, *strip.inputs]:
        component.change(handler, inputs, [strip.landing], api_visibility="private", show_progress="hidden")


def keyframes_of(values: list) -> list[dict]:
    """The request's keyframes from the strip's values (image, time, strength per slot), in time order.

    A slot with an image but no time sits at the start (the common first frame)."""
    found = []
    for i in range(0, len(values), 3):
        image, seconds, strength = values[i : i + 3]
        if image:
            found.append({"image": image, "seconds": float(seconds or 0.0), "strength": float(strength or 1.0)})
    return sorted(found, key=lambda k: k["seconds"])
