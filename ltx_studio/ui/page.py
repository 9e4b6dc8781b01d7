"""The studio's page: Gradio Blocks layout and wiring, and serving it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from . import api
from .compare_tab import build_compare_tab
from .relay import Shared
from .studio_tab import ASSETS, build_studio_tab
from .takes_tab import build_takes_tab, wire_reuse

if TYPE_CHECKING:
    from ..studio import Studio

QUEUE_SIZE = 16
MAX_UPLOAD = "32mb"  # first frames; their pixels are capped again when read (media.MAX_IMAGE_PIXELS)
CSS = """
#banner {border-left: 4px solid #e0a800; padding: 6px 12px; background: rgba(224,168,0,.08)}
#preview img {image-rendering: auto; width: 100%; object-fit: contain}
.take-info p {margin: 2px 0}
"""


def build(studio: Studio) -> gr.Blocks:
    """The studio's page: a header, the Studio, Compare and Takes tabs, plus the typed API endpoints."""
    mset = studio.model_set
    shared = Shared.of(studio)
    with gr.Blocks(title="LTX Studio") as page:
        gr.Markdown(f"# LTX Studio\nModel set **{mset.name}**: {mset.label} · {studio.manager.policy.describe()}")
        if mset.is_demo:
            gr.Markdown(
                "**Demo mode: the output is noise** (its sound too, and an enhanced prompt is gibberish). These are "
                "tiny random models built on this machine so every feature works without a GPU or downloads. For "
                "real video with sound on an NVIDIA GPU: install a CUDA build of torch, run "
                "`python -m ltx_studio models download fast --model-set ltx2`, then `python app.py --model-set ltx2`.",
                elem_id="banner",
            )
        with gr.Tabs() as tabs:
            studio_tab = build_studio_tab(studio, shared)
            build_compare_tab(studio, shared)
            takes_tab = build_takes_tab(studio, page)
        wire_reuse(studio, shared, takes_tab, studio_tab, tabs)
        api.add_endpoints(studio)
    return page


def launch(
    studio: Studio,
    *,
    host: str,
    port: int,
    auth: tuple[str, str] | None = None,
    share: bool = False,
    block: bool = True,
) -> gr.Blocks:
    """Serve the studio (blocking unless `block=False`, then call `.close()` on the page returned).

    Only the outputs folder and the shipped assets are served as files (plus Gradio's own cache).
    """
    page = build(studio)
    page.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    page.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        share=share,
        # Only the take folders and the example photos; not takes.db, not the rest of the disk.
        allowed_paths=[str(studio.store.takes_dir), str(ASSETS)],
        blocked_paths=[str(studio.store.db_path), str(studio.store.root / ".staging")],
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block,
        css=CSS,
        quiet=not block,
        footer_links=["api"],
    )
    return page
