"""The studio's page: Gradio Blocks layout and wiring, and serving it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import gradio as gr

from . import api, doors, queue_panel, spaces
from .compare_tab import CompareTab, build_compare_tab
from .doors import Users
from .relay import Shared, visible
from .studio_tab import ASSETS, StudioTab, build_studio_tab, camera_choices, result_updates, variant_choices
from .takes_tab import build_takes_tab, wire_reuse

if TYPE_CHECKING:
    from ..studio import Studio

QUEUE_SIZE = 16
MAX_THREADS = 160  # Gradio's default is 40
UPLOADS_KEPT = (
    3600,
    24 * 3600,
)  # every hour, uploads (and other cache copies) older than a day go: a job keeps its own
MAX_UPLOAD = "32mb"  # first frames; their pixels are capped again when read (media.MAX_IMAGE_PIXELS)
CSS = """
#banner {border-left: 4px solid #e0a800; padding: 6px 12px; background: rgba(224,168,0,.08)}
#preview img {image-rendering: auto; width: 100%; object-fit: contain}
.take-info p {margin: 2px 0}
"""


DEMO_BANNER = (
    "**Demo mode: the output is noise** (its sound too, and an enhanced prompt is gibberish). These are "
    "tiny random models built on this machine so every feature works without a GPU or downloads. For "
    "real video with sound on an NVIDIA GPU: install a CUDA build of torch, run "
    "`python -m ltx_studio models download fast --model-set ltx2`, then `python app.py --model-set ltx2`."
)


def build(studio: Studio) -> gr.Blocks:
    """The studio's page: a header, the Studio, Compare and Takes tabs, plus the typed API endpoints."""
    shared = Shared.of(studio)
    sets = studio.available_sets()
    with gr.Blocks(title="LTX Studio", delete_cache=UPLOADS_KEPT) as page:
        with gr.Row():
            header = gr.Markdown(_header(studio))
            chooser = gr.Dropdown(
                choices=[(f"{name}: {studio.registry[name].label}", name) for name in sets],
                value=studio.model_set.name,
                label="Model set",
                elem_id="model-set",
                visible=len(sets) > 1,
                scale=0,
                min_width=320,
            )
        banner = gr.Markdown(DEMO_BANNER, elem_id="banner", visible=studio.model_set.is_demo)
        shared.browser = queue_panel.browser_state(studio)
        with gr.Tabs() as tabs:
            studio_tab = build_studio_tab(studio, shared)
            compare_tab = build_compare_tab(studio, shared)
            takes_tab = build_takes_tab(studio, shared, page)
        queue_panel.build_queue_panel(studio, shared, page)
        known = queue_panel.wire_browser_id(shared, page)
        queue_panel.wire_resume(
            studio, shared, page, known, studio_tab.result, lambda kind, value: result_updates(studio, kind, value)
        )
        wire_reuse(studio, shared, takes_tab, studio_tab, tabs)
        _wire_model_set(studio, shared, chooser, [header, banner], studio_tab, compare_tab, page)
        api.add_endpoints(studio)
        spaces.add_space_endpoints(studio)
    return page


def _header(studio: Studio) -> str:
    mset = studio.model_set
    return f"# LTX Studio\nModel set **{mset.name}**: {mset.label} · {studio.manager.policy.describe()}"


def _wire_model_set(studio, shared, chooser, top, studio_tab: StudioTab, compare_tab: CompareTab, page) -> None:
    """Switching the model set (waits for a render in progress), and every control that depends on it;
    a page opened later shows the set in use."""
    t, c = studio_tab, compare_tab
    outputs = [
        chooser, *top, t.variant, t.resolution, t.seconds, t.fps, t.steps, t.guidance, t.negative, t.sound,
        t.enhance_btn, t.auto_length, c.variants, c.resolution, c.seconds, t.camera, t.soundtrack_row,
    ]  # fmt: skip

    def updates() -> list:
        mset, default = studio.model_set, shared.default
        sampling = default.sampling
        return [
            gr.update(value=mset.name),
            _header(studio),
            gr.update(visible=mset.is_demo),
            gr.update(choices=variant_choices(studio), value=mset.default_variant),
            gr.update(choices=shared.resolutions, value="draft"),
            gr.update(maximum=shared.max_seconds, value=round((default.draft_frames - 1) / sampling.fps, 1)),
            sampling.fps,
            sampling.num_steps,
            sampling.guidance,
            mset.negative_prompt,
            gr.update(value=mset.has_audio, visible=mset.has_audio),
            gr.update(visible=mset.has_audio),
            gr.update(value=False, visible=mset.auto_duration),
            gr.update(choices=[(v.label, n) for n, v in shared.variants.items()], value=list(shared.variants)[:3]),
            gr.update(choices=shared.resolutions, value="draft"),
            gr.update(maximum=shared.max_seconds),
            gr.update(choices=camera_choices(studio), value="", visible=bool(mset.cameras)),
            gr.update(visible=mset.has_audio),
        ]

    def switch(name: str) -> list:
        if name and name != studio.model_set.name:
            visible(lambda: studio.use_model_set(name))
            gr.Info(f"Model set {name}: its models load with the next render.")
        return updates()

    chooser.input(switch, [chooser], outputs, api_visibility="private")
    page.load(updates, None, outputs, api_visibility="private")


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
    Every request passes the doors (ui/doors.py): this studio's own Host names only (`allow_hosts`
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
    gr.set_static_paths([str(studio.store.takes_dir)])
    page.launch(
        server_name=host,
        server_port=port,
        auth=users.check if users else None,
        app_kwargs=doors.app_kwargs(keeper),
        share=share,
        # Only the take folders and the example photos; not takes.db, not the rest of the disk.
        allowed_paths=[str(studio.store.takes_dir), str(ASSETS)],
        blocked_paths=[str(path) for path in studio.private_paths()],
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=True,  # blocks below, once the doors know the share link
        css=CSS,
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
