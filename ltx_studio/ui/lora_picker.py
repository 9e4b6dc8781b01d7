"""The LoRA picker the Studio and Compare tabs share: a few rows of a LoRA of the studio's LoRA folder
and its weight, an upload that adds a checked .safetensors file to the folder, and what a request
makes of the rows.

The page names LoRAs under the server doors' rule (`models.loras.served`): a file of the LoRA folder
or a Hub id the model set names, never a path; an upload is checked before it joins the folder
(`models.lora_upload`: size, safetensors header, a fit with the model set)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ..models import lora_upload, loras
from ..models.set_loras import offered
from .relay import visible

if TYPE_CHECKING:
    from ..library.takes import Take
    from ..studio import Studio

LORA_ROWS = 3  # the Studio and Compare handlers take three rows' values by name
NONE = ("—", "")  # the dropdown's "no LoRA" choice


@dataclass
class LoraPicker:
    """Per row: a dropdown of the LoRA folder's files and a weight; one upload and one refresh for the rows."""

    names: list[gr.Dropdown]
    weights: list[gr.Slider]
    upload_btn: gr.UploadButton
    refresh_btn: gr.Button

    @property
    def inputs(self) -> list[gr.components.Component]:
        """The rows' components, row by row (name, weight): the order `lora_request` reads."""
        return [c for row in zip(self.names, self.weights, strict=True) for c in row]


def folder_choices(studio: Studio) -> list[tuple[str, str]]:
    """The dropdown's choices: none, the LoRA folder's files, then the IC-LoRAs the model set names (its
    camera moves have their own control, its refine LoRA is its Pro variant's own)."""
    return [NONE] + [(name, name) for name in [*studio.lora_files(), *studio.model_set.ic_loras]]


def build_lora_picker(studio: Studio, elem_prefix: str) -> LoraPicker:
    """The picker in a closed accordion; Refresh re-lists the LoRA folder, an upload joins it and is picked."""
    names, weights = [], []
    with gr.Accordion("LoRAs", open=False, elem_id=f"{elem_prefix}-loras"):
        gr.Markdown(
            "Style or camera LoRAs (.safetensors) for this model set: pick a file of the studio's LoRA folder, "
            "or add one with Upload (up to 32 MB, like any upload; checked first: a safetensors LoRA that fits "
            f"this model set). A larger one (up to {loras.MAX_FILE_BYTES / 1024**3:g} GiB) goes into the LoRA "
            "folder by hand; Refresh lists it."
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
                weights.append(
                    gr.Slider(-2, 2, value=1.0, step=0.05, label="Weight", elem_id=f"{elem_prefix}-lora-weight-{i}")
                )
        with gr.Row():
            upload_btn = gr.UploadButton(
                "Upload a LoRA (.safetensors)",
                file_types=[".safetensors"],
                type="filepath",
                size="sm",
                elem_id=f"{elem_prefix}-lora-upload",
            )
            refresh_btn = gr.Button("Refresh the LoRA list", size="sm")
    picker = LoraPicker(names, weights, upload_btn, refresh_btn)

    def refresh():
        return [gr.update(choices=folder_choices(studio))] * LORA_ROWS

    def upload(file, *chosen):
        added = visible(lambda: add_upload(studio, file))
        gr.Info(f"LoRA {added} added to the LoRA folder.")
        return picked_after_upload(studio, added, chosen)

    refresh_btn.click(refresh, None, names, api_visibility="private", concurrency_limit=None)
    upload_btn.upload(upload, [upload_btn, *names], names, api_visibility="private", concurrency_limit=1)
    return picker


def add_upload(studio: Studio, file) -> str:
    """An uploaded file into the LoRA folder, checked (`lora_upload.add`); its name there."""
    if not file:
        raise gr.Error("no file came with the upload", print_exception=False)
    return lora_upload.add(file, studio.lora_folder, studio.model_set)


def picked_after_upload(studio: Studio, added: str, chosen: Sequence) -> list:
    """The rows' dropdowns after an upload: the new list, the new LoRA in the first empty row."""
    choices = folder_choices(studio)
    first_empty = next((i for i, value in enumerate(chosen) if not value), None)
    return [
        gr.update(choices=choices, value=added) if i == first_empty else gr.update(choices=choices)
        for i in range(LORA_ROWS)
    ]


def lora_request(studio: Studio, values: Sequence) -> list[tuple[str, float]]:
    """(name, weight) for each row holding a LoRA, from the rows' values (name, weight, ...), under the
    server doors' rule (`loras.served`): a BadInput line for a name the studio does not offer."""
    chosen = []
    for start in range(0, len(values) - 1, 2):
        name, weight = values[start : start + 2]
        if (name or "").strip():
            chosen.append((name.strip(), 1.0 if weight is None else float(weight)))
    return loras.served(chosen, studio.lora_folder, offered(studio.model_set))


def lora_values(studio: Studio, take: Take) -> list:
    """The picker's values for a take's LoRAs (Reuse settings): each one the picker offers, with its weight
    (one named by a path on the command line is not offered here, and its row stays empty)."""
    files = {value for _, value in folder_choices(studio) if value}
    values: list = []
    for lora in take.settings.get("loras", [])[:LORA_ROWS]:
        name = lora["name"]
        listed = next((f for f in (name, f"{name}.safetensors") if f in files), None)
        values += [listed or "", lora["weight"] if listed else 1.0]
    return values + ["", 1.0] * (LORA_ROWS - len(values) // 2)
