"""Live mode in the Studio tab: a quick draft of the prompt (or first frame) once the typing pauses,
debounced per session; a newer one supersedes the last. Unlike queued jobs, a live draft ends with its page.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import StudioError
from .relay import Shared

if TYPE_CHECKING:
    from ..studio import Studio
    from .studio_parts import StudioTab

LIVE_DEBOUNCE_S = 0.8


def wire_live(studio: Studio, shared: Shared, tab: StudioTab, result_updates) -> None:
    """Live mode: a draft of the prompt (or first frame) once the typing pauses, superseding the last one."""
    sessions = shared.sessions
    result = tab.result

    async def live_draft(prompt_text, image_path, live_on, seed_value, randomize_value, browser_id,
                         request: gr.Request):  # fmt: skip
        # Async, so a keystroke waiting out the debounce holds no worker thread.
        session = request.session_hash
        if not live_on or not (prompt_text or "").strip() and not image_path:
            yield [gr.skip()] * len(result)
            return
        stroke = sessions.stroke(session)
        await asyncio.sleep(LIVE_DEBOUNCE_S)
        if sessions.latest(session) != stroke:
            yield [gr.skip()] * len(result)  # a newer keystroke will draft instead
            return
        try:
            if randomize_value or seed_value is None or int(seed_value) < 0:
                live_seed = sessions.live_seed(session)
            else:
                live_seed = int(seed_value)
            asked = studio.live_request(prompt_text, image_path or None, live_seed)
            job = studio.live_job(session, asked, owner=shared.owner(browser_id, request))
        except StudioError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        events = sessions.relay(job, session, lambda *a, **k: None)
        try:
            while (item := await asyncio.to_thread(next, events, None)) is not None:
                kind, value = item
                if kind == "stopped":
                    return  # superseded by a newer live draft: it owns the outputs now
                yield result_updates(studio, kind, value)
        finally:
            job.cancel()  # the page went away or a newer draft took over
            with contextlib.suppress(ValueError):  # still running in its thread: it ends on the cancel
                events.close()

    live_inputs = [tab.prompt, tab.image, tab.live, tab.seed, tab.randomize, shared.browser]
    for trigger in (tab.prompt.change, tab.image.change):
        trigger(
            live_draft,
            live_inputs,
            result,
            trigger_mode="multiple",
            show_progress="hidden",
            concurrency_limit=None,
            api_visibility="private",
        )
