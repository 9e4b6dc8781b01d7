"""The Takes tab: every stored take as a poster gallery and a table; pick one to watch, approve,
delete (with Undo), download it, reuse its settings in the Studio tab, or open it there as a card (where
extend, retake, add sound and the other edits are).

The list reloads when the page loads, when the tab is opened, on Refresh and when live-mode
previews are shown or hidden.

Owners (core/owners.py): under --auth a user lists only their own takes (an admin all); without
--auth every take is listed. Approve and Delete act only on one's own takes (an admin's on any);
takes with no owner (from before owners were recorded) only by an admin or the command line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from .lora_picker import lora_values
from .relay import Shared, visible
from .studio_tab import feed
from .studio_tab.card_actions import open_panel
from .take_text import TABLE_HEADERS, TABLE_WIDTHS, table_row, take_markdown

if TYPE_CHECKING:
    from ..studio import Studio
    from .studio_tab.parts import StudioTab

log = logging.getLogger(__name__)


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
    undo_btn: gr.Button
    download: gr.DownloadButton
    open_btn: gr.Button  # the take as a card in the Studio tab's feed, with its edits
    finish_btn: gr.Button  # ... with the Finish panel open on it


def build_takes_tab(studio: Studio, shared: Shared, page: gr.Blocks, tabs: gr.Tabs) -> TakesTab:
    """The Takes tab with its own events wired (list, select, approve, delete, open in Studio); `page`
    reloads the list, `tabs` opens the Studio tab."""
    tab = _layout()
    _wire(studio, shared, tab, page, tabs)
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

    def finish_selected(current, request: gr.Request):
        """The picked take as a card in the Studio tab, its Finish panel open (the passes of the set in use)."""
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        if not studio.model_set.passes:
            raise gr.Error(f"model set {studio.model_set.name} has no finishing passes", print_exception=False)
        take = visible(lambda: studio.take(current))
        shared.board.pin(request.session_hash, current)
        return [*open_panel(studio, "finish", take), gr.Tabs(selected="studio")]

    takes.finish_btn.click(finish_selected, [takes.selected], [*target.panel.shown, tabs], api_visibility="private")

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
                    open_btn = gr.Button("Open in Studio", size="sm", elem_id="takes-open")
                    finish_btn = gr.Button("Finish…", size="sm", elem_id="takes-finish")
                    delete_btn = gr.Button("Delete", size="sm", elem_id="takes-delete")
                    undo_btn = gr.Button("Undo delete", size="sm", visible=False, elem_id="takes-undo")
                download = gr.DownloadButton("Download mp4", visible=False)
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
        undo_btn=undo_btn,
        download=download,
        open_btn=open_btn,
        finish_btn=finish_btn,
    )


def _wire(studio: Studio, shared: Shared, tab: TakesTab, page: gr.Blocks, tabs: gr.Tabs) -> None:
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
            gr.update(visible=False),
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
        take = seen(current, browser_id, request)
        who = shared.owner(browser_id, request)
        if not studio.may_act(who, take.owner):
            raise gr.Error(
                f"take {current} belongs to someone else: only they (or an admin) may delete it", print_exception=False
            )
        shared.board.delete_later(
            current,
            who,
            lambda: studio.delete(current, owner=who),
            lambda message: log.warning("not deleted: %s", message),
        )
        said = f"Deleted {current}: **Undo** within {feed.UNDO_S:g} s brings it back."
        return (current, None, said, "", gr.update(visible=False), gr.update(visible=True))

    def undo_delete(current, browser_id, request: gr.Request):
        back = bool(current) and shared.board.undo(current, shared.owner(browser_id, request))
        return (f"{current} is back." if back else "Too late: it is deleted."), gr.update(visible=False)

    def open_in_studio(current, request: gr.Request):
        if not current:
            raise gr.Error("Pick a take first.", print_exception=False)
        shared.board.pin(request.session_hash, current)
        return gr.Tabs(selected="studio")

    list_outputs = [tab.gallery, tab.table, tab.shown_ids, tab.table_ids]
    listing = [tab.show_live, shared.browser]
    for trigger in (tab.refresh_btn.click, tab.tab.select, tab.show_live.change):
        trigger(list_takes, listing, list_outputs, api_visibility="private", concurrency_limit=None)
    page.load(list_takes, listing, list_outputs, api_visibility="private")
    shown = [tab.selected, tab.video, tab.info, tab.prompt, tab.download]
    picked = [*shown, tab.undo_btn]
    tab.gallery.select(select_in_gallery, [tab.shown_ids], picked, api_visibility="private")
    tab.table.select(select_in_table, [tab.table_ids], picked, api_visibility="private")
    tab.approve_btn.click(
        approve_selected, [tab.selected, *listing], [tab.info, *list_outputs], api_visibility="private"
    )
    tab.delete_btn.click(delete_selected, [tab.selected, *listing], picked, api_visibility="private")
    tab.undo_btn.click(undo_delete, [tab.selected, shared.browser], [tab.info, tab.undo_btn], api_visibility="private")
    tab.open_btn.click(open_in_studio, [tab.selected], [tabs], api_visibility="private")
