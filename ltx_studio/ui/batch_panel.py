"""Variations and batches, in the Studio tab: N seeds of the prompt (or of each prompt of a list) as one
server job, whose takes fill a grid as each lands. Picking a take in the grid shows it in the result
panel, where Approve & upscale, Re-render with Pro and Extend work on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import StudioError
from ..jobs.ops import Batch
from ..render.prompts import SEEDS_RANGE, read_prompts
from .relay import Shared, visible
from .studio_parts import BatchPanel, StudioTab

if TYPE_CHECKING:
    from ..studio import Studio


def build_batch_panel() -> BatchPanel:
    """The panel's components (laid out inside the Studio tab, under the prompt and the take)."""
    with gr.Accordion("Variations and batches: several seeds, or a list of prompts", open=True, elem_id="batches"):
        with gr.Row():
            with gr.Column(scale=4):
                seeds = gr.Slider(
                    SEEDS_RANGE[0],
                    SEEDS_RANGE[1],
                    value=4,
                    step=1,
                    label="Seeds per prompt",
                    elem_id="variations",
                )
                prompt_list = gr.Textbox(
                    label="Prompt list (optional; else the prompt above): one per line, or CSV with a "
                    "prompt,seed,seconds header",
                    lines=3,
                    elem_id="prompt-list",
                )
                prompt_file = gr.File(
                    label="…or a .txt / .csv file", file_types=[".txt", ".csv"], elem_id="prompt-file", height=90
                )
                run_btn = gr.Button("Render variations", elem_id="batch", variant="primary")
                note = gr.Markdown(elem_id="batch-note")
            with gr.Column(scale=6):
                grid = gr.Gallery(
                    label="Variations (pick one to approve, upscale or extend it)",
                    elem_id="batch-grid",
                    columns=4,
                    height="auto",
                    allow_preview=False,
                    interactive=False,
                )
                ids = gr.State([])
    return BatchPanel(seeds, prompt_list, prompt_file, run_btn, note, grid, ids)


def wire_batch_panel(studio: Studio, shared: Shared, tab: StudioTab, request_of, result_updates) -> None:
    """`request_of(data)` builds the base request from the tab's settings (as a Draft does);
    `result_updates` maps a take onto the result panel."""
    panel = tab.batch
    sessions = shared.sessions

    def run_batch(data: dict, request: gr.Request, progress=gr.Progress()):
        text = data[panel.prompt_list] or ""
        upload = data[panel.prompt_file]
        base_folder = None
        if upload:
            path = Path(upload if isinstance(upload, str) else upload.name)
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise gr.Error(f"cannot read {path.name}: {exc}", print_exception=False) from None
            base_folder = path.parent
        # No first_frame paths from the page: they would name files on the server (the CLI takes them).
        rows, problems = (
            visible(lambda: read_prompts(text, base=base_folder, files=False)) if text.strip() else (None, [])
        )
        if text.strip() and not rows:
            raise gr.Error(problems[0] if problems else "the prompt list is empty", print_exception=False)
        try:
            base = request_of(data)
            requests, refused = studio.prepare_batch(base, rows, int(data[panel.seeds] or 1))
            problems += refused
            if not requests:
                raise StudioError("no row of the batch can render: " + "; ".join(problems)[:300])
            job = studio.submit(Batch(requests), owner=shared.owner(data[shared.browser], request))
        except StudioError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        note = f"**{len(requests)} renders queued** as `{job.id}`."
        if problems:
            note += "\n\nSkipped: " + "; ".join(problems)
            gr.Warning("Some rows were skipped: " + "; ".join(problems)[:200])
        ids, items = [], []
        yield ids, [], note
        for kind, value in sessions.relay(job, request.session_hash, progress):
            if kind == "take":
                ids = [*ids, value.id]
                items = [*items, (str(value.path("poster")), f"seed {value.seed} · {value.prompt[:40]}")]
                yield ids, items, note + f" {len(ids)} of {len(requests)} done."

    panel.run_btn.click(
        run_batch,
        {
            *tab.settings,
            *tab.extras,
            shared.browser,
            *_inputs(panel),
        },  # fmt: skip
        [panel.ids, panel.grid, panel.note],
        show_progress_on=[panel.note],  # the grid stays in sight as it fills
        concurrency_limit=None,  # it follows a queued job
        api_visibility="private",
    )

    def pick(ids, evt: gr.SelectData):
        if not isinstance(evt.index, int) or not 0 <= evt.index < len(ids):
            raise gr.Error("That take is not in the grid any more.", print_exception=False)
        take = visible(lambda: studio.take(ids[evt.index]))
        return result_updates(studio, "take", take)

    panel.grid.select(pick, [panel.ids], tab.result, api_visibility="private", concurrency_limit=None)


def _inputs(panel: BatchPanel) -> list:
    return [panel.seeds, panel.prompt_list, panel.prompt_file]
