"""The page's header and what it keeps up to date: the model set in words (and whether it is the demo),
the queue as a small indicator (running, waiting), the memory plan in a popover; and the browser's
signed id, and a reopened page picking up where this browser left off.

The queue itself is the feed's cards (feed.py): a job is a card that says where it stands and offers
Cancel. A tick (a gr.Timer, once a second) redraws the header and the feed when they changed.

Owners (core/owners.py): a browser's id is minted here and signed with a key that stays in the
outputs folder; the browser keeps "ID.SIGNATURE" in its localStorage, and an id whose signature does
not verify is replaced on load and owns nothing.
"""

from __future__ import annotations

import hashlib
import html
from typing import TYPE_CHECKING

import gradio as gr

from ..core import owners

if TYPE_CHECKING:
    from ..studio import Studio
    from .relay import Shared

REFRESH_S = 1.0


def browser_state(studio: Studio) -> gr.BrowserState:
    """This browser's signed id, kept in its localStorage, so jobs stay theirs across reloads and
    restarts of the studio. BrowserState's `secret` goes to every client in /config: it only scrambles
    the stored value, so it is a stable public value here (a digest of the signing key, not the key)."""
    scramble = hashlib.sha256(b"browser-state:" + studio.owner_key).hexdigest()[:32]
    return gr.BrowserState(None, storage_key="ltx-studio-browser", secret=scramble)


def set_words(studio: Studio) -> str:
    """The model set in use, in words a creator reads."""
    mset = studio.model_set
    if mset.is_demo and "demo" not in mset.label.lower():
        return f"{mset.label} · demo"
    return mset.label


def header_html(studio: Studio) -> str:
    """The header: title, model set in words, the queue indicator, the memory plan behind a popover."""
    active = studio.job_list(("running", "queued"), limit=10_000)
    running = sum(job.state == "running" for job in active)
    waiting = len(active) - running
    queue = f"{running} running · {waiting} waiting" if active else "idle"
    esc = html.escape
    cache = studio.manager.policy.step_cache  # not bit-exact: said where it is seen
    step_cache = (
        f'<span class="step-cache" title="kept by this GPU\'s lever sweep">Pro: step cache {esc(cache)}</span>'
        if cache
        else ""
    )
    return (
        '<div id="studio-header">'
        '<span class="title">LTX Studio</span>'
        f'<span class="set">Model set: <b>{esc(set_words(studio))}</b></span>'
        f'<span class="set-short">{esc(studio.model_set.name)}{" (demo: noise)" if studio.model_set.is_demo else ""}</span>'
        f'<span id="queue-indicator" class="queue {"busy" if active else "idle"}">● {esc(queue)}</span>'
        f"{step_cache}"
        f'<details class="memory"><summary>Memory plan</summary><div>{esc(studio.manager.policy.describe())}</div>'
        "</details></div>"
    )


CSS = """
#studio-header {display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 16px; padding: 4px 0}
#studio-header .title {font-size: 20px; font-weight: 700}
#studio-header .set-short {display: none}
@media (max-width: 600px) {#studio-header .set {display: none} #studio-header .set-short {display: inline}
  #studio-header .title {font-size: 17px} #studio-header {gap: 2px 10px}
  #studio-header details.memory {display: none}}
#studio-header .queue.idle {color: var(--body-text-color-subdued)}
#studio-header .queue.busy {color: #1a7f37; font-weight: 600}
#studio-header details.memory {font-size: 12px; color: var(--body-text-color-subdued); max-width: 100%}
#studio-header details.memory div {position: absolute; z-index: 20; max-width: 520px; padding: 8px;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary); border-radius: 6px}
"""


def wire_browser_id(shared: Shared, page: gr.Blocks):
    """Give a browser its signed id on its first visit (kept in its localStorage from then on), and a
    fresh one in place of an id that does not verify; returns the load event, for what needs the id next."""
    key = shared.studio.owner_key

    def ensure(browser_id, request: gr.Request):
        if owners.browser_owner(key, browser_id) != owners.NOBODY:
            return browser_id
        return shared.sessions.first_id(request.session_hash, key)  # what this session's clicks already use

    return page.load(ensure, [shared.browser], [shared.browser], api_visibility="private", concurrency_limit=None)


def wire_resume(studio: Studio, shared: Shared, load_event, feed: gr.HTML, prompt: gr.Textbox) -> None:
    """A page opened again picks up where this browser left off: its cards (the running job's preview
    streaming into its card), and the prompt of its newest job in an empty prompt box."""

    def resume(browser_id, typed, request: gr.Request):
        session, who = request.session_hash, shared.owner(browser_id, request)
        if who == owners.NOBODY:
            yield gr.skip(), gr.skip()
            return
        newest = max(studio.job_list(limit=50, owner=who), key=lambda job: job.created, default=None)
        prompt_now = gr.skip()
        if newest is not None and not (typed or "").strip():
            request_ = newest.params.get("request") or {}
            prompt_now = request_.get("prompt") or gr.skip()
        followed = [shared.follow(job, session) for job in studio.resume_all(who)]  # Stop reaches them all
        yield shared.feed_html(who, session), prompt_now
        for events in followed:  # in the order they run: each one's preview reaches its card
            for _ in events:
                yield shared.feed_html(who, session), gr.skip()

    load_event.then(
        resume, [shared.browser, prompt], [feed, prompt], api_visibility="private", concurrency_limit=None,
        show_progress="hidden",
    )  # fmt: skip
