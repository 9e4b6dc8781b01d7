"""The Takes tab: every stored take as a poster gallery and a table; pick one to watch, approve,
delete, download it, or reuse its settings in the Studio tab.

The list reloads when the page loads, when the tab is opened, on Refresh and when live-mode
previews are shown or hidden.

Owners (core/owners.py): under --auth a user lists only their own takes (an admin all); without
--auth every take is listed. Approve and Delete act only on one's own takes (an admin's on any);
takes with no owner (from before owners were recorded) only by an admin or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ..jobs.ops import Extend
from .edit_panel import EditPanel, build_edit_panel, panel_updates, wire_edit_panel
from .lora_picker import lora_values
from .relay import TABLE_HEADERS, TABLE_WIDTHS, Shared, table_row, take_markdown, visible

if TYPE_CHECKING:
    from ..studio import Studio
    from .studio_parts import StudioTab


@dataclass
class TakesTab:
    """The Takes tab's components; the page wires `reuse_btn` into the Studio tab (see `wire_reuse`)."""

    tab: gr.Tab
    refresh_btn: gr.Button
    show_live: gr.Checkbox
    gallery: gr.Gallery
    table: gr.Dataframe
    shown_ids: gr.State  # the ids behind the gallery's posters, in order
    table_ids: gr.State  # the ids behind the table's rows, in order
    selected: gr.State  # the id of the take shown below
    video: gr.Video
    info: gr.Markdown
    prompt: gr.Markdown
    approve_btn: gr.Button
    reuse_btn: gr.Button
    delete_btn: gr.Button
    download: gr.DownloadButton
    extend_btn: gr.Button
    edits: EditPanel  # Add sound, Retake


def build_takes_tab(studio: Studio, shared: Shared, page: gr.Blocks) -> TakesTab:
    """The Takes tab with its own events wired (list, select, approve, delete); `page` reloads the list."""
    tab = _layout()
    _wire(studio, shared, tab, page)
    return tab


def wire_reuse(studio: Studio, shared: Shared, takes: TakesTab, target: StudioTab, tabs: gr.Tabs) -> None:
    """Reuse settings: the selected take's prompt and settings go into the Studio tab, which opens."""
    variants = shared.variants

    def reuse_selected(current):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        take = visible(lambda: studio.take(current))
        first_frame = str(take.path("image")) if take.image and take.path("image").exists() else None
        return (
            take.prompt,
            take.negative_prompt,
            first_frame,
            take.variant if take.variant in variants else gr.update(),
            take.seed,
            False,
            max(0.4, round(take.seconds, 1)),
            take.fps,
            take.settings.get("steps_override") or variants[take.variant].sampling.num_steps
            if take.variant in variants
            else gr.update(),
            take.guidance,
            bool(take.audio) and studio.model_set.has_audio,
            gr.Tabs(selected="studio"),
            *lora_values(studio, take),
        )

    t = target
    takes.reuse_btn.click(
        reuse_selected,
        [takes.selected],
        [
            t.prompt,
            t.negative,
            t.image,
            t.variant,
            t.seed,
            t.randomize,
            t.seconds,
            t.fps,
            t.steps,
            t.guidance,
            t.sound,
            tabs,
            *t.loras.inputs,
        ],
        api_visibility="private",
    )


def _layout() -> TakesTab:
    with gr.Tab("Takes", id="takes") as tab:
        with gr.Row():
            refresh_btn = gr.Button("Refresh", size="sm")
            show_live = gr.Checkbox(value=False, label="Show live-mode previews")
        gallery = gr.Gallery(
            label="Takes, newest first",
            columns=6,
            height=300,
            object_fit="contain",
            elem_id="takes-gallery",
            allow_preview=False,
        )
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            interactive=False,
            wrap=True,
            max_height=320,
            elem_id="takes-table",
            column_widths=TABLE_WIDTHS,  # else narrow columns wrap their headers letter by letter
        )
        shown_ids = gr.State([])
        table_ids = gr.State([])
        selected = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                video = gr.Video(label="Take", interactive=False, elem_id="takes-video")
            with gr.Column(scale=2):
                info = gr.Markdown("Pick a take.", elem_classes=["take-info"])
                prompt = gr.Markdown()
                with gr.Row():
                    approve_btn = gr.Button("Approve", size="sm")
                    reuse_btn = gr.Button("Reuse settings", size="sm")
                    delete_btn = gr.Button("Delete", size="sm", variant="stop")
                    extend_btn = gr.Button("Extend +2 s", size="sm", elem_id="takes-extend")
                download = gr.DownloadButton("Download mp4", visible=False)
                edits = build_edit_panel()
    return TakesTab(
        tab=tab,
        refresh_btn=refresh_btn,
        show_live=show_live,
        gallery=gallery,
        table=table,
        shown_ids=shown_ids,
        table_ids=table_ids,
        selected=selected,
        video=video,
        info=info,
        prompt=prompt,
        approve_btn=approve_btn,
        reuse_btn=reuse_btn,
        delete_btn=delete_btn,
        download=download,
        extend_btn=extend_btn,
        edits=edits,
    )


def _wire(studio: Studio, shared: Shared, tab: TakesTab, page: gr.Blocks) -> None:
    """List, select, approve and delete; each change to the list returns it anew."""

    def list_takes(include_live, browser_id, request: gr.Request):
        takes = [t for t in studio.takes(owner=shared.listed(browser_id, request)) if include_live or t.kind != "live"]
        with_poster = [t for t in takes if t.path("poster").exists()]
        items = [(str(t.path("poster")), ("✓ " if t.approved else "") + f"{t.kind} · {t.variant}") for t in with_poster]
        return items, [table_row(t) for t in takes], [t.id for t in with_poster], [t.id for t in takes]

    def seen(take_id, browser_id, request):
        """The take, if the listing shows it to who asks (else as if it were not there)."""
        take = visible(lambda: studio.take(take_id))
        if shared.listed(browser_id, request) not in (None, take.owner):
            raise gr.Error(f"no take with id {take_id!r}", print_exception=False)
        return take

    def select_in_gallery(ids, evt: gr.SelectData):
        return show_take(ids, evt.index)

    def select_in_table(ids, evt: gr.SelectData):
        return show_take(ids, evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index)

    def show_take(ids, index):
        if not isinstance(index, int) or not 0 <= index < len(ids):
            raise gr.Error("That take is no longer listed: press Refresh.", print_exception=False)
        take = visible(lambda: studio.take(ids[index]))
        ok = take.status == "ok"
        return (
            take.id,
            str(take.path("video")) if ok else None,
            take_markdown(take) + f"\n\ncreated {take.created[:19].replace('T', ' ')} UTC",
            f"> {take.prompt}" if take.prompt else "_(no prompt: first frame only)_",
            gr.update(value=str(take.path("video")) if ok else None, visible=ok),
            *panel_updates(studio, take),
        )

    def approve_selected(current, include_live, browser_id, request: gr.Request):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        who = shared.owner(browser_id, request)
        take = visible(lambda: studio.approve(current, not seen(current, browser_id, request).approved, owner=who))
        return (take_markdown(take), *list_takes(include_live, browser_id, request))

    def delete_selected(current, include_live, browser_id, request: gr.Request):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        seen(current, browser_id, request)
        visible(lambda: studio.delete(current, owner=shared.owner(browser_id, request)))
        listed = list_takes(include_live, browser_id, request)
        return (None, None, f"Deleted {current}.", "", gr.update(visible=False), *listed)

    def extend_selected(current, include_live, browser_id, request: gr.Request, progress=gr.Progress()):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        progress(0.0, desc="Extending the take by 2 s")
        job = visible(lambda: studio.submit(Extend(current, 2.0), owner=shared.owner(browser_id, request)))
        take = shared.sessions.follow_to_take(job, request.session_hash, progress)  # Stop reaches it
        listed = list_takes(include_live, browser_id, request)
        return (take.id, str(take.path("video")), take_markdown(take), f"> {take.prompt}",
                gr.update(value=str(take.path("video")), visible=True), *listed)  # fmt: skip

    list_outputs = [tab.gallery, tab.table, tab.shown_ids, tab.table_ids]
    listing = [tab.show_live, shared.browser]
    for trigger in (tab.refresh_btn.click, tab.tab.select, tab.show_live.change):
        trigger(list_takes, listing, list_outputs, api_visibility="private", concurrency_limit=None)
    page.load(list_takes, listing, list_outputs, api_visibility="private")
    shown = [tab.selected, tab.video, tab.info, tab.prompt, tab.download]
    picked = [*shown, *tab.edits.for_take]
    tab.gallery.select(select_in_gallery, [tab.shown_ids], picked, api_visibility="private")
    tab.table.select(select_in_table, [tab.table_ids], picked, api_visibility="private")
    wire_edit_panel(studio, shared, tab.edits, tab.selected, shown, list_takes, list_outputs, tab.show_live)
    tab.approve_btn.click(
        approve_selected, [tab.selected, *listing], [tab.info, *list_outputs], api_visibility="private"
    )
    tab.delete_btn.click(delete_selected, [tab.selected, *listing], [*shown, *list_outputs], api_visibility="private")
    tab.extend_btn.click(
        extend_selected,
        [tab.selected, tab.show_live, shared.browser],
        [*shown, *list_outputs],
        api_visibility="private",
        concurrency_limit=None,  # it waits for a queued job
    )
