"""The LoRA picker the Studio and Compare tabs share: a few rows of a LoRA (a file of the LoRA folder,
or a path / Hub id typed in) and its weight, and what a request makes of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

if TYPE_CHECKING:
    from ..library.takes import Take
    from ..studio import Studio

LORA_ROWS = 3  # the Studio and Compare handlers take three rows' values by name
NONE = ("—", "")  # the dropdown's "no LoRA" choice


@dataclass
class LoraPicker:
    """Per row: a dropdown of the LoRA folder's files, a path / Hub id box (it wins when filled), a weight."""

    names: list[gr.Dropdown]
    paths: list[gr.Textbox]
    weights: list[gr.Slider]
    refresh_btn: gr.Button

    @property
    def inputs(self) -> list[gr.components.Component]:
        """The rows' components, row by row (name, path, weight): the order `lora_request` reads."""
        return [c for row in zip(self.names, self.paths, self.weights, strict=True) for c in row]


def folder_choices(studio: Studio) -> list[tuple[str, str]]:
    return [NONE] + [(name, name) for name in studio.lora_files()]


def build_lora_picker(studio: Studio, elem_prefix: str) -> LoraPicker:
    """The picker in a closed accordion, its Refresh button wired to re-list the LoRA folder."""
    names, paths, weights = [], [], []
    with gr.Accordion("LoRAs", open=False, elem_id=f"{elem_prefix}-loras"):
        gr.Markdown(
            f"Style or camera LoRAs (.safetensors) for this model set: a file of the LoRA folder "
            f"`{studio.lora_folder}`, or a path, or a Hub id already downloaded."
        )
        for i in range(LORA_ROWS):
            with gr.Row():
                names.append(
                    gr.Dropdown(
                        choices=folder_choices(studio),
                        value="",
                        label=f"LoRA {i + 1}",
                        elem_id=f"{elem_prefix}-lora-{i}",
                    )
                )
                paths.append(gr.Textbox(label="or path / Hub id", elem_id=f"{elem_prefix}-lora-path-{i}"))
                weights.append(
                    gr.Slider(-2, 2, value=1.0, step=0.05, label="Weight", elem_id=f"{elem_prefix}-lora-weight-{i}")
                )
        refresh_btn = gr.Button("Refresh the LoRA list", size="sm")
    picker = LoraPicker(names, paths, weights, refresh_btn)

    def refresh():
        choices = folder_choices(studio)
        return [gr.update(choices=choices)] * LORA_ROWS

    refresh_btn.click(refresh, None, names, api_visibility="private", concurrency_limit=None)
    return picker


def lora_request(values: Sequence) -> list[tuple[str, float]]:
    """(name, weight) for each row holding a LoRA, from the rows' values (name, path, weight, ...)."""
    chosen = []
    for start in range(0, len(values) - 2, 3):
        name, path, weight = values[start : start + 3]
        lora = (path or "").strip() or (name or "").strip()
        if lora:
            chosen.append((lora, 1.0 if weight is None else float(weight)))
    return chosen


def lora_values(studio: Studio, take: Take) -> list:
    """The picker's values for a take's LoRAs (Reuse settings): a folder file in the list, else in the path box."""
    files = set(studio.lora_files())
    values: list = []
    for lora in take.settings.get("loras", [])[:LORA_ROWS]:
        name = lora["name"]
        listed = next((f for f in (name, f"{name}.safetensors") if f in files), None)
        values += [listed or "", "" if listed else name, lora["weight"]]
    return values + ["", "", 1.0] * (LORA_ROWS - len(values) // 3)
