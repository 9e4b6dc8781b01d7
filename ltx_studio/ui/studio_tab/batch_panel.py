"""Batches, in the Studio tab's drawer: N seeds of the prompt (or of each prompt of a list) as one server
job; each take lands in the feed as its own card, with the card's actions (approve, upscale, extend...).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from ...core.errors import StudioError
from ...jobs.ops import Batch
from ...render.prompts import read_prompts
from .prompt_bar import note, set_refusal

if TYPE_CHECKING:
    from ...studio import Studio
    from ..relay import Shared
    from .parts import StudioTab


def wire_batch_panel(studio: Studio, shared: Shared, tab: StudioTab, request_of) -> None:
    """`request_of(data)` builds the base request from the tab's settings (as a Draft does)."""
    panel = tab.batch

    def run_batch(data: dict, request: gr.Request):
        session, who = request.session_hash, shared.owner(data[shared.browser], request)
        text = data[panel.prompt_list] or ""
        upload = data[panel.prompt_file]
        base_folder = None
        try:
            if refused := set_refusal(studio, data[tab.page_set]):
                raise StudioError(refused[1])  # said at the batch's button, like any refusal of it
            if upload:
                path = Path(upload if isinstance(upload, str) else upload.name)
                try:
                    text = path.read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError) as exc:
                    raise StudioError(f"cannot read {path.name}: {exc}") from None
                base_folder = path.parent
            # No first_frame paths from the page: they would name files on the server (the CLI takes them).
            rows, problems = read_prompts(text, base=base_folder, files=False) if text.strip() else (None, [])
            if text.strip() and not rows:
                raise StudioError(problems[0] if problems else "the prompt list is empty")
            base = request_of(data)
            requests, refused = studio.prepare_batch(base, rows, int(data[panel.seeds] or 1))
            problems += refused
            if not requests:
                raise StudioError("no row of the batch can render: " + "; ".join(problems)[:300])
            job = studio.submit(Batch(requests), owner=who)
        except StudioError as exc:
            yield note(str(exc)), gr.skip()
            return
        said = f"{len(requests)} renders queued: each lands in the feed."
        if problems:
            said += " Skipped: " + "; ".join(problems)[:300]
        events = shared.follow(job, session)  # Stop reaches it from here
        yield gr.update(value=said, visible=True), shared.feed_html(who, session)
        for _ in events:
            yield gr.skip(), shared.feed_html(who, session)

    panel.run_btn.click(
        run_batch,
        {*tab.settings, *tab.extras, shared.browser, panel.seeds, panel.prompt_list, panel.prompt_file},
        [panel.note, tab.feed],
        trigger_mode="multiple",
        show_progress="hidden",
        concurrency_limit=None,  # it follows a queued job
        api_visibility="private",
    )
