"""Live mode in the Studio tab: a quick draft of the prompt (or first frame) once the typing pauses,
debounced per session, shown as the feed's live card; a newer one supersedes the last. Unlike queued
jobs, a live draft ends with its page.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import gradio as gr

from ...core.errors import StudioError
from ..relay import Shared
from . import feed

if TYPE_CHECKING:
    from ...studio import Studio
    from .parts import StudioTab

LIVE_DEBOUNCE_S = 0.8


def wire_live(studio: Studio, shared: Shared, tab: StudioTab) -> None:
    """Live mode: a draft of the prompt (or first frame) once the typing pauses, superseding the last one;
    it is drawn as the newest card of the feed (one live card per page)."""
    sessions, board = shared.sessions, shared.board

    async def live_draft(prompt_text, image_path, live_on, seed_value, browser_id, request: gr.Request):
        # Async, so a keystroke waiting out the debounce holds no worker thread.
        session = request.session_hash
        if not live_on or not (prompt_text or "").strip() and not image_path:
            yield gr.skip()
            return
        stroke = sessions.stroke(session)
        await asyncio.sleep(LIVE_DEBOUNCE_S)
        if sessions.latest(session) != stroke:
            yield gr.skip()  # a newer keystroke will draft instead
            return
        who = shared.owner(browser_id, request)
        try:
            live_seed = sessions.live_seed(session) if seed_value is None or int(seed_value) < 0 else int(seed_value)
            asked = studio.live_request(prompt_text, image_path or None, live_seed)
            job = studio.live_job(session, asked, owner=who)
        except StudioError:
            yield gr.skip()  # a live draft of a half-typed idea says nothing: Draft says why
            return
        board.set_live(session, {"prompt": prompt_text, "line": "live draft · starting", "take": None})
        events = sessions.relay(job, session, lambda *a, **k: None, raise_failure=False)
        try:
            while (item := await asyncio.to_thread(next, events, None)) is not None:
                kind, value = item
                if kind == "stopped":
                    return  # superseded by a newer live draft: it owns the card now
                with board.lock:
                    card = board.live.get(session)
                    if card is None:
                        return  # the live card was put away (a Draft, or live mode switched off)
                    if kind == "preview":
                        card["preview"], card["line"] = feed.preview_uri(value.image), "live draft"
                    elif kind == "take":
                        card["take"] = value
                    elif kind == "error":
                        card["line"] = f"live draft failed: {value}"
                yield shared.feed_html(who, session)
        finally:
            job.cancel()  # the page went away or a newer draft took over
            with contextlib.suppress(ValueError):  # still running in its thread: it ends on the cancel
                events.close()

    def live_switched(live_on, browser_id, request: gr.Request):
        if live_on:
            return gr.skip()
        studio.cancel_live(request.session_hash)
        board.set_live(request.session_hash, None)  # its take stays in the Takes tab
        return shared.feed_html(shared.owner(browser_id, request), request.session_hash)

    tab.live.change(live_switched, [tab.live, shared.browser], [tab.feed], api_visibility="private",
                    concurrency_limit=None, show_progress="hidden")  # fmt: skip
    live_inputs = [tab.prompt, tab.image, tab.live, tab.seed, shared.browser]
    for trigger in (tab.prompt.change, tab.image.change):
        trigger(
            live_draft,
            live_inputs,
            [tab.feed],
            trigger_mode="multiple",
            show_progress="hidden",
            concurrency_limit=None,
            api_visibility="private",
        )
