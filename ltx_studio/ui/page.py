"""The studio's page: Gradio Blocks layout and wiring, and serving it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import gradio as gr

from . import header, timeline_view
from .compare_tab import SYNC_JS, CompareTab, build_compare_tab
from .relay import Shared, visible
from .server import api, doors, spaces
from .server.doors import Users
from .studio_tab import feed, prompt_bar
from .studio_tab.parts import StudioTab
from .studio_tab.prompt_bar import ASSETS, note
from .studio_tab.tab import build_studio_tab, set_updates
from .takes_tab import build_takes_tab, wire_reuse
from .timeline_tab import build_timeline_tab

if TYPE_CHECKING:
    from ..studio import Studio

QUEUE_SIZE = 16
MAX_THREADS = 160  # Gradio's default is 40
UPLOADS_KEPT = (
    3600,
    24 * 3600,
)  # every hour, uploads (and other cache copies) older than a day go: a job keeps its own
MAX_UPLOAD = "32mb"  # first frames; their pixels are capped again when read (media.MAX_IMAGE_PIXELS)
CSS = (
    """
#banner {border-left: 4px solid #e0a800; padding: 2px 10px; background: rgba(224,168,0,.08); font-size: 13px}
#banner p {margin: 2px 0}
.take-info p {margin: 2px 0}
@media (max-width: 600px) {#banner {display: none}}
"""
    + header.CSS
    + prompt_bar.CSS
    + feed.CSS
    + timeline_view.CSS
)


DEMO_BANNER = (
    "**Demo mode: the output is noise.** Tiny random models built on this machine, so every feature works "
    "without a GPU or downloads. <details><summary>Real video</summary>On an NVIDIA GPU: install a CUDA build "
    "of torch, run `python -m ltx_studio models download fast --model-set ltx2`, then "
    "`python app.py --model-set ltx2`.</details>"
)


def build(studio: Studio) -> gr.Blocks:
    """The studio's page: a header, the Studio, Compare, Takes and Timeline tabs, plus the typed API endpoints."""
    shared = Shared.of(studio)
    with gr.Blocks(title="LTX Studio", delete_cache=UPLOADS_KEPT) as page:
        top = gr.HTML(header.header_html(studio), elem_id="header", apply_default_css=False)
        banner = gr.Markdown(DEMO_BANNER, elem_id="banner", visible=studio.model_set.is_demo)
        shared.browser = header.browser_state(studio)
        with gr.Tabs() as tabs:
            studio_tab = build_studio_tab(studio, shared)
            compare_tab = build_compare_tab(studio, shared)
            takes_tab = build_takes_tab(studio, shared, page, tabs)
            build_timeline_tab(studio, shared)
        known = header.wire_browser_id(shared, page)
        header.wire_resume(studio, shared, known, studio_tab.feed, studio_tab.prompt)
        wire_reuse(studio, shared, takes_tab, studio_tab, tabs)
        _wire_model_set(studio, shared, studio_tab, compare_tab, [top, banner], page)
        api.add_endpoints(studio)
        spaces.add_space_endpoints(studio)
    return page


def _wire_model_set(studio, shared, tab: StudioTab, compare_tab: CompareTab, top: list, page) -> None:
    """Switching the model set in this page, and the tick that keeps every page honest about it: a page
    whose set was switched elsewhere is shown the set in use, with a line at its Model set control,
    before it can render with it (a Draft from it meanwhile is refused: studio_tab.check_page)."""
    c = compare_tab
    header_out, banner = top

    def updates(said: str = "") -> list:
        mset = studio.model_set
        by_component = set_updates(studio, shared, tab)
        return [
            *by_component.values(),
            header.header_html(studio),
            gr.update(visible=mset.is_demo),
            note(said),
            gr.update(choices=[(v.label, n) for n, v in shared.variants.items()], value=list(shared.variants)[:3]),
            gr.update(choices=shared.resolutions, value="draft"),
        ]

    outputs = [*set_updates(studio, shared, tab), header_out, banner, tab.set_note, c.variants, c.resolution]

    def switch(name: str) -> list:
        if name and name != studio.model_set.name:
            visible(lambda: studio.use_model_set(name))
            gr.Info(f"Model set {name}: its models load with the next render.")
        return updates()

    tab.model_set.input(switch, [tab.model_set], outputs, api_visibility="private")

    def opened(page_set: str):
        """A page opened after a switch shows the set in use (the page was built with the first one); any
        other page is left as the person may already be filling it in."""
        return [gr.skip()] * len(outputs) if page_set == studio.model_set.name else updates()

    page.load(opened, [tab.page_set], outputs, api_visibility="private", show_progress="hidden")

    def tick(page_set, browser_id, request: gr.Request):
        """Once a second: the page's set if it changed elsewhere, else the header and the feed if they changed."""
        session, who = request.session_hash, shared.owner(browser_id, request)
        if page_set != studio.model_set.name:
            said = f"Another page switched the studio to {studio.model_set.name}: this page shows it now."
            return [*updates(said), shared.feed_html(who, session)]
        board, skip = shared.board, [gr.skip()] * len(outputs)
        top_now, feed_now = header.header_html(studio), shared.feed_html(who, session, tick=True)
        if board.changed(session, "header", top_now):
            skip[outputs.index(header_out)] = top_now
        return [*skip, feed_now if board.changed(session, "feed", feed_now) else gr.skip()]

    timer = gr.Timer(header.REFRESH_S)
    timer.tick(
        tick, [tab.page_set, shared.browser], [*outputs, tab.feed], api_visibility="private",
        concurrency_limit=None, show_progress="hidden",
    )  # fmt: skip


def launch(
    studio: Studio,
    *,
    host: str,
    port: int,
    auth: Users | tuple[str, str] | None = None,
    share: bool = False,
    block: bool = True,
    mcp: bool = False,
    allow_hosts: Sequence[str] = (),
) -> gr.Blocks:
    """Serve the studio (blocking unless `block=False`, then call `.close()` on the page returned).

    Only the outputs folder and the shipped assets are served as files (plus Gradio's own cache).
    Every request passes the doors (ui/server/doors.py): this studio's own Host names only (`allow_hosts`
    adds some), and under `auth` (Users, or one (user, password)) a limit on wrong passwords and
    credentials for MCP and cancel too.
    """
    users = Users({auth[0]: auth[1]}, frozenset({auth[0]})) if isinstance(auth, tuple) else auth
    studio.admins = users.admins if users else frozenset()
    keeper = doors.Keeper(doors.HostRule(host, allow_hosts), users)
    studio.start_jobs()  # own the queue: what was queued (or interrupted) before a restart runs now
    page = build(studio)
    page.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    # Takes are served from their own folders, never copied into Gradio's cache: a deleted take is gone.
    gr.set_static_paths([str(studio.store.takes_dir), str(studio.films.exports), str(studio.films.files)])
    page.launch(
        server_name=host,
        server_port=port,
        auth=users.check if users else None,
        app_kwargs=doors.app_kwargs(keeper),
        share=share,
        # Only the take folders, films (exported, and their songs and references) and the example photos; not
        # takes.db, not the rest of the disk.
        allowed_paths=[str(studio.store.takes_dir), str(studio.films.exports), str(studio.films.files), str(ASSETS)],
        blocked_paths=[str(path) for path in studio.private_paths()],
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=True,  # blocks below, once the doors know the share link
        css=CSS,
        js=SYNC_JS,
        quiet=not block,
        footer_links=["api"],
        mcp_server=mcp,
        # Every API call, MCP call and followed job waits for its job in a thread of its own, up to the
        # queue's 64 waiting jobs: room for them all beside the page's own handlers.
        max_threads=MAX_THREADS,  # the public API endpoints as MCP tools, their docstrings as descriptions
    )
    if page.share_url:
        keeper.hosts.allow(urlsplit(page.share_url).hostname or "")
    if mcp:
        doors.sign_in_mcp_client(page, keeper)
    if block:
        page.block_thread()
    return page
