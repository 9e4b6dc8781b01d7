"""The Queue panel, under every tab: the studio's jobs with their progress and position, and Cancel.

It reads the queue once a second (a gr.Timer), so a page opened later, or reopened after the
browser was closed, shows the running job where it is and a finished job with its takes.

Owners (core/owners.py): a browser's id is minted here and signed with a key that stays in the
outputs folder; the browser keeps "ID.SIGNATURE" in its localStorage, and an id whose signature does
not verify is replaced on load and owns nothing. Everyone cancels only their own jobs (an admin any).
Under --auth a user sees only their own jobs (an admin all); without --auth (one person's machine)
every job is listed, and the others' are marked as not theirs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ..core import owners
from .relay import Shared, visible

if TYPE_CHECKING:
    from ..studio import Studio

SHOWN = 12  # finished jobs listed under the active ones
REFRESH_S = 1.0


@dataclass
class QueuePanel:
    table: gr.Markdown
    choice: gr.Dropdown
    cancel_btn: gr.Button
    timer: gr.Timer


def browser_state(studio: Studio) -> gr.BrowserState:
    """This browser's signed id, kept in its localStorage, so jobs stay theirs across reloads and
    restarts of the studio. BrowserState's `secret` goes to every client in /config: it only scrambles
    the stored value, so it is a stable public value here (a digest of the signing key, not the key)."""
    scramble = hashlib.sha256(b"browser-state:" + studio.owner_key).hexdigest()[:32]
    return gr.BrowserState(None, storage_key="ltx-studio-browser", secret=scramble)


def build_queue_panel(studio: Studio, shared: Shared, page: gr.Blocks) -> QueuePanel:
    with gr.Accordion("Queue", open=True, elem_id="queue-panel"):
        table = gr.Markdown("The queue is empty.", elem_id="queue")
        with gr.Row():
            choice = gr.Dropdown(
                choices=[], value=None, label="Job", elem_id="queue-choice", scale=4, allow_custom_value=False
            )
            cancel_btn = gr.Button("Cancel job", variant="stop", elem_id="queue-cancel", scale=1)
        timer = gr.Timer(REFRESH_S)
    panel = QueuePanel(table, choice, cancel_btn, timer)
    _wire(studio, shared, panel, page)
    return panel


def listing(studio: Studio, who: str, shown: str | None = None) -> tuple[str, list[tuple[str, str]]]:
    """The panel's table (Markdown) and the jobs this person may cancel, as dropdown choices; with
    `shown`, only that owner's jobs are listed (core/owners.py)."""
    jobs = studio.job_list(limit=SHOWN + 32, owner=shown)
    active = [job for job in jobs if job.state in ("running", "queued")]
    ended = [job for job in jobs if job.state not in ("running", "queued")][:SHOWN]
    if not active and not ended:
        return "The queue is empty.", []
    rows = ["| # | job | kind | state | progress | what | takes |", "|---|---|---|---|---|---|---|"]
    position = 0
    for job in active + ended:
        if job.state == "queued":
            position += 1
        where = str(position) if job.state == "queued" else ("▶" if job.state == "running" else "")
        progress = f"{job.progress:.0%} {job.stage}".strip() if job.state == "running" else ""
        state = job.state + (f" ({_cell(job.note)})" if job.note else "")  # e.g. re-run after a restart
        if job.state == "failed":
            state += f": {job.error[:80]}"
        who_note = "" if studio.may_act(who, job.owner) else " (not yours)"
        rows.append(
            f"| {where} | `{job.id}` | {job.kind} | {state} | {progress} | {_cell(job.label)}{who_note} | "
            f"{' '.join(f'`{t}`' for t in job.take_ids)} |"
        )
    choices = [
        (f"{job.id} · {job.kind} · {job.state} · {job.label[:40]}", job.id)
        for job in active
        if studio.may_act(who, job.owner)
    ]
    return "\n".join(rows), choices


def _cell(text: str) -> str:
    return text[:60].replace("|", "/").replace("\n", " ")


def _wire(studio: Studio, shared: Shared, panel: QueuePanel, page: gr.Blocks) -> None:
    def refresh(browser_id, chosen, request: gr.Request):
        table, choices = listing(studio, shared.owner(browser_id, request), shared.listed(browser_id, request))
        ids = [value for _, value in choices]
        return table, gr.update(choices=choices, value=chosen if chosen in ids else (ids[0] if ids else None))

    def cancel_chosen(browser_id, chosen, request: gr.Request):  # not "cancel": that is the API's /cancel
        if not chosen:
            raise gr.Error("Pick a queued or running job to cancel.", print_exception=False)
        record = visible(lambda: studio.cancel(chosen, owner=shared.owner(browser_id, request)))
        gr.Info(f"{chosen}: " + ("cancelled" if record.state == "cancelled" else "stopping after this step"))
        return refresh(browser_id, None, request)

    outputs = [panel.table, panel.choice]
    common = {"api_visibility": "private", "concurrency_limit": None, "show_progress": "hidden"}
    panel.timer.tick(refresh, [shared.browser, panel.choice], outputs, **common)
    page.load(refresh, [shared.browser, panel.choice], outputs, **common)
    panel.cancel_btn.click(cancel_chosen, [shared.browser, panel.choice], outputs, **common)


def wire_browser_id(shared: Shared, page: gr.Blocks):
    """Give a browser its signed id on its first visit (kept in its localStorage from then on), and a
    fresh one in place of an id that does not verify; returns the load event, for what needs the id next."""
    key = shared.studio.owner_key

    def ensure(browser_id, request: gr.Request):
        if owners.browser_owner(key, browser_id) != owners.NOBODY:
            return browser_id
        return shared.sessions.first_id(request.session_hash, key)  # what this session's clicks already use

    return page.load(ensure, [shared.browser], [shared.browser], api_visibility="private", concurrency_limit=None)


RESUMED_KINDS = ("draft", "upscale", "extend")  # the jobs whose result the Studio tab shows


def wire_resume(studio: Studio, shared: Shared, page: gr.Blocks, load_event, result: list, updates) -> None:
    """A page opened again picks up where this browser left off: its newest Studio job streams into
    the result panel if it is still queued or running, and shows its take if it has finished.

    `updates(kind, value)` maps a relayed event onto `result` (the Studio tab's result_updates)."""

    def resume(browser_id, request: gr.Request, progress=gr.Progress()):
        who = shared.owner(browser_id, request)
        job = studio.resume(who, RESUMED_KINDS) if who != owners.NOBODY else None
        if job is None:
            yield [gr.skip()] * len(result)
            return
        for kind, value in shared.sessions.relay(job, request.session_hash, progress):
            if kind in ("take", "preview"):
                yield updates(kind, value)

    load_event.then(resume, [shared.browser], result, api_visibility="private", concurrency_limit=None)
