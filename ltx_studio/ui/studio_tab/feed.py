"""The Studio tab's feed: this browser's work as cards, newest first, each with its own actions.

A card is a job that has not made its take yet (queued, running with its live preview, failed or
cancelled: the one line why), or a take (with its lineage, state and the actions that apply to it).
The feed is drawn on the server from the queue and the take store, so a reopened page, a second tab
and a page that never saw the job all show the same cards; what only a page knows (previews as they
stream, a refused action's one line, takes opened from the Takes tab, the live-mode draft, deletes
that can still be undone) is kept in a `Board`.

The cards are one gr.HTML: its DOM is patched in place, node by node, when the feed changes, so the
cards are laid out oldest first (a new card is appended: the others' players keep playing) and CSS
`order` shows them newest first. A button on a card sends its action and the take or job it acts on
(`trigger('click', {...})`); `card_actions.py` runs it.
"""

from __future__ import annotations

import base64
import html
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
from PIL import Image

from ...core import owners
from ...core.errors import StudioError
from ...jobs.ops import renders
from ..take_text import take_lines

if TYPE_CHECKING:
    from ...jobs.queue import JobRecord
    from ...library.takes import Take
    from ...studio import Studio

SHOWN = 24  # cards in the feed; older takes are in the Takes tab
UNDO_S = 10.0  # how long a deleted take can be brought back
DRAFT_KINDS = ("draft", "live")  # takes that can be approved and upscaled, or re-rendered with Pro
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}
FINALS = (("upscale", "upscale", "Approve & upscale"), ("pro", "pro", "Re-render with Pro"))  # action, take kind
FINAL_KINDS = {"latent": "upscale", "pro": "pro"}  # an Upscale job's mode -> the kind of take it makes

# Sends a card button's action to the server; the buttons are drawn anew, the listener is the root's.
ON_LOAD = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-act]');
  if (!button || button.disabled) return;
  event.preventDefault();
  trigger('click', {act: button.dataset.act, take: button.dataset.take || '', job: button.dataset.job || ''});
});
"""


@dataclass
class Card:
    """One card of the feed: a take, or a job that has not made one (yet)."""

    key: str  # the take id, or the job id
    state: str  # queued | running | done | failed | cancelled | deleted | live
    prompt: str
    line: str  # the state in words: "2nd in line", "running 40 % · denoise", "failed: ..."
    take: Take | None = None
    job: JobRecord | None = None
    preview: str | None = None  # a data: URI of the newest denoised estimate
    lineage: str = ""
    note: str = ""  # a refused action's one line
    actions: list[tuple[str, str]] = field(default_factory=list)  # (action, label)


class Board:
    """What the feed knows beyond the queue and the store: previews as they stream, notes on cards,
    takes pinned from the Takes tab, each session's live draft, and deletes that can still be undone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.previews: dict[str, str] = {}  # job id -> data: URI
        self.notes: dict[tuple[str, str], str] = {}  # (session, card key) -> one line
        self.pinned: dict[str, list[str]] = {}  # session -> take ids opened from the Takes tab
        self.live: dict[str, dict] = {}  # session -> {"take": Take | None, "preview": uri, "line": str}
        self.deleting: dict[str, tuple[threading.Timer, str]] = {}  # take id -> (its delete, who), unless undone
        self.dismissed: dict[str, set[str]] = {}  # session -> ended jobs' cards put away
        self.sent: dict[tuple[str, str], str] = {}  # (session, "feed" | "header") -> what the tick last sent

    def preview(self, job_id: str, image: np.ndarray) -> None:
        uri = preview_uri(image)
        with self.lock:
            self.previews[job_id] = uri
            while len(self.previews) > 64:  # finished jobs' previews are no longer drawn
                self.previews.pop(next(iter(self.previews)))

    def note(self, session: str, key: str, message: str) -> None:
        with self.lock:
            self.notes.pop((session, key), None)
            if message:
                self.notes[(session, key)] = message
            while len(self.notes) > 1024:  # pages long closed
                self.notes.pop(next(iter(self.notes)))

    def changed(self, session: str, what: str, text: str) -> bool:
        """Whether `text` differs from what this session's page was last sent as `what` (then it is sent)."""
        with self.lock:
            if self.sent.get((session, what)) == text:
                return False
            self.sent[(session, what)] = text
            while len(self.sent) > 512:  # pages long closed
                self.sent.pop(next(iter(self.sent)))
            return True

    def forget_sent(self, session: str) -> None:
        with self.lock:
            self.sent.pop((session, "feed"), None)

    def dismiss(self, session: str, job_id: str) -> None:
        with self.lock:
            self.dismissed.setdefault(session, set()).add(job_id)
            _bounded(self.dismissed)

    def pin(self, session: str, take_id: str) -> None:
        with self.lock:
            pinned = [t for t in self.pinned.pop(session, []) if t != take_id]
            self.pinned[session] = [*pinned, take_id][-8:]
            _bounded(self.pinned)

    def set_live(self, session: str, card: dict | None) -> None:
        """This session's live card (None: no live card)."""
        with self.lock:
            self.live.pop(session, None)
            if card is not None:
                self.live[session] = card
                _bounded(self.live)

    def delete_later(self, take_id: str, who: str, delete: Callable[[], None], on_error: Callable[[str], None]) -> None:
        """Delete a take after UNDO_S seconds unless `who` undoes it first (a restart meanwhile keeps it)."""

        def run():
            with self.lock:
                if self.deleting.pop(take_id, None) is None:
                    return  # undone
            try:
                delete()
            except StudioError as exc:
                on_error(str(exc))

        timer = threading.Timer(UNDO_S, run)
        timer.daemon = True
        with self.lock:
            self.deleting[take_id] = (timer, who)
        timer.start()

    def undo(self, take_id: str, who: str) -> bool:
        """Bring back a take `who` deleted (only the one who deleted it: nobody undoes another's delete)."""
        with self.lock:
            pending = self.deleting.get(take_id)
            if pending is None or pending[1] != who:
                return False
            del self.deleting[take_id]
        pending[0].cancel()
        return True


def _bounded(per_session: dict, sessions: int = 256) -> None:
    """Forget the oldest sessions' entries past `sessions` (pages long closed)."""
    while len(per_session) > sessions:
        per_session.pop(next(iter(per_session)))


def preview_uri(image: np.ndarray, longest: int = 480) -> str:
    """A preview frame as a small JPEG data: URI, drawn inside its card."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    picture.thumbnail((longest, longest))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_url(path) -> str:
    """The URL the page plays or downloads a take's file from (the take folders are static paths)."""
    return "gradio_api/file=" + quote(str(path))


def cards(studio: Studio, board: Board, who: str, session: str) -> list[Card]:
    """This browser's cards, oldest first (the page shows them newest first): its jobs and their takes,
    then the takes it opened from the Takes tab, then its live draft."""
    if who == owners.NOBODY:
        return []
    jobs = sorted(studio.job_list(limit=SHOWN, owner=who), key=lambda job: job.created)
    active = studio.job_list(("queued", "running"), limit=10_000)
    queued = [job.id for job in active if job.state == "queued"]
    coming: dict[str, set[str]] = {}  # draft id -> the kinds of its finals queued or running
    for job in active:
        if job.kind == "upscale":
            coming.setdefault(job.params.get("take_id", ""), set()).add(FINAL_KINDS.get(job.params.get("mode"), ""))
    found: list[Card] = []
    seen: set[str] = set()
    with board.lock:
        pinned = list(board.pinned.get(session, []))
        live = dict(board.live.get(session, {}))
        dismissed = set(board.dismissed.get(session, ()))

    def add(take: Take | None, job: JobRecord | None = None) -> None:
        if take is not None and take.id not in seen:
            found.append(take_card(studio, board, take, session, job, who=who, coming=coming.get(take.id, set())))
            seen.add(take.id)

    for job in jobs:
        for take_id in job.take_ids:
            add(_take(studio, take_id), job)
        incomplete = len(job.take_ids) < renders(job.kind, job.params)
        if incomplete and (job.state in ("queued", "running") or job.id not in dismissed):
            found.append(job_card(board, job, queued, session))  # waiting, running, or why it made nothing
    for take_id in pinned:  # opened from the Takes tab: shown first
        add(_take(studio, take_id))
    if live:
        card = live_card(studio, board, live, session, who)
        if card is not None:
            found.append(card)
    return found[-SHOWN:]


def _take(studio: Studio, take_id: str) -> Take | None:
    try:
        return studio.take(take_id)
    except StudioError:
        return None  # deleted since


def job_card(board: Board, job: JobRecord, queued: list[str], session: str) -> Card:
    """A job without its take (yet): where it stands, in words."""
    if job.state == "queued":
        place = queued.index(job.id) + 1 if job.id in queued else 0
        line = f"queued · {ORDINALS.get(place, f'{place}th')} in line" if place else "queued"
    elif job.state == "running":
        line = "running" + (f" · {job.stage}" if job.stage else "")
    elif job.state == "failed":
        line = f"failed: {job.error.splitlines()[0][:200] if job.error else 'no reason given'}"
    elif job.state == "cancelled":
        line = "cancelled"
    else:
        line = f"{job.state}: no take"
    if job.take_ids and job.state in ("queued", "running"):
        line += f" · {len(job.take_ids)} of {renders(job.kind, job.params)} done"
    if job.note:  # e.g. its worker stopped: run again
        line += f" ({job.note[:120]})"
    with board.lock:
        preview = board.previews.get(job.id) if job.state == "running" else None
        note = board.notes.get((session, job.id), "")
    actions = [("cancel", "Cancel")] if job.state in ("queued", "running") else [("dismiss", "Dismiss")]
    return Card(job.id, job.state, job.label, line, job=job, preview=preview, note=note, actions=actions,
                lineage=_kind_words(job.kind))  # fmt: skip


def _kind_words(kind: str) -> str:
    return {"upscale": "a final", "extend": "an extension", "retake": "a retake", "soundtrack": "a soundtrack",
            "compare": "a comparison", "batch": "variations"}.get(kind, "")  # fmt: skip


def take_card(
    studio: Studio,
    board: Board,
    take: Take,
    session: str,
    job: JobRecord | None = None,
    *,
    who: str | None = None,
    coming: set[str] = frozenset(),
) -> Card:
    """A take with its lineage, its state, and the actions that apply to it for `who` (None: anyone);
    `coming`: the kinds of its finals already queued or running (not offered again)."""
    with board.lock:
        deleting = take.id in board.deleting
        note = board.notes.get((session, take.id), "")
    if deleting:
        return Card(take.id, "deleted", take.prompt, "deleted", take=take, actions=[("undo", "Undo")])
    finals = [t for t in studio.store.children(take.id) if t.kind in ("upscale", "pro")]
    badges = [take.kind.title()] + (["✓ approved"] if take.approved else [])
    badges += [f"final {t.id}" for t in finals] + [f"{kind} on its way" for kind in sorted(coming - {""})]
    if take.status != "ok":
        badges.append("files missing")
    return Card(
        take.id,
        "done",
        take.prompt,
        " · ".join(badges),
        take=take,
        lineage=lineage(take),
        note=note,
        actions=take_actions(studio, take, {t.kind for t in finals} | coming, who)
        if take.status == "ok"
        else [("delete", "Delete")],
    )


def lineage(take: Take) -> str:
    """Where a take came from, in words."""
    words = {"upscale": "final of draft", "pro": "Pro re-render of draft", "extend": "extension of",
             "retake": "retake of", "sound": "sound added to"}  # fmt: skip
    done = take.settings.get("finish") or {}
    if done:  # a finishing pass: which, on what
        times = f" x{done['factor']}" if done.get("factor", 1) > 1 else ""
        return f"{done['pass']}{times} of {take.parent or done.get('source', '')}"
    film = take.settings.get("film") or {}
    if film:  # a film's shot: where it sits (a continue also goes on from its parent)
        after = f", continues {take.parent}" if take.parent else ""
        return f"shot {film.get('shot')} of {film.get('id')}{after}"
    if take.parent:
        return f"{words.get(take.kind, 'from')} {take.parent}"
    return "live draft" if take.kind == "live" else ""


# A pass's files beyond the take's mp4 (render/finish.py), offered for download on its card.
FILE_LABELS = {"hdr": "HDR master (HLG)", "exr_zip": "EXR frames", "alpha": "Alpha (ProRes 4444)"}


def take_actions(
    studio: Studio, take: Take, finals: set[str] = frozenset(), who: str | None = None
) -> list[tuple[str, str]]:
    """The actions a take offers `who` (None: anyone): only those that apply to it. A draft's final of a
    kind it has (or has on its way) is not offered again: its card names it. Approving, upscaling (which
    approves) and deleting are the owner's (or an admin's); anyone may make new takes from it."""
    mset = studio.model_set
    ours = take.model_set == mset.name
    owns = who is None or studio.may_act(who, take.owner)
    actions = [("approve", "Unapprove" if take.approved else "Approve")] if owns else []
    if ours and owns and take.kind in DRAFT_KINDS:
        actions += [(mode, label) for mode, kind, label in FINALS if kind not in finals]
    if ours:
        actions += [("extend", "Extend…"), ("retake", "Retake…")]
        if mset.has_audio and not take.audio:
            actions.append(("sound", "Add sound…"))
        if take.prompt or take.image:
            actions.append(("variations", "Variations"))
    if mset.passes:  # a pass works on any clip's frames, whichever set made it
        actions.append(("finish", "Finish…"))
    files = [(f"file:{what}", label) for what, label in FILE_LABELS.items() if what in take.settings.get("files", {})]
    return [*actions, ("download", "Download"), *files, *([("delete", "Delete")] if owns else [])]


def live_card(studio: Studio, board: Board, live: dict, session: str, who: str | None = None) -> Card | None:
    """The session's live draft: its preview while it renders, then its take (read again: live takes are
    pruned, and a pruned one has no card)."""
    if live.get("take") is not None:
        take = _take(studio, live["take"].id)
        if take is None:
            return None
        card = take_card(studio, board, take, session, who=who)
        card.lineage = "live draft (as you type)"
        return card
    return Card("live", "live", live.get("prompt", ""), live.get("line", "live draft"), preview=live.get("preview"))


def render(found: list[Card]) -> str:
    """The feed's HTML: the cards oldest first in the DOM, shown newest first."""
    if not found:
        return (
            '<div class="feed-empty">Your takes appear here: type an idea and press <b>Draft</b>. '
            "Every click queues another.</div>"
        )
    count = len(found)
    newest = max((i for i, card in enumerate(found) if card.take is not None), default=-1)
    parts = [f'<div class="cards" data-count="{count}">']
    for i, card in enumerate(found):
        parts.append(_card_html(card, order=count - i, autoplay=i == newest))
    parts.append("</div>")
    return "".join(parts)


def _card_html(card: Card, *, order: int, autoplay: bool) -> str:
    esc = html.escape
    take = card.take
    key = esc(card.key)
    head = f'<div class="card state-{card.state}" style="order:{order}" data-key="{key}" data-state="{card.state}">'
    if take is not None and card.state == "done":
        media = (
            f'<video src="{esc(file_url(take.path("video")))}" poster="{esc(file_url(take.path("poster")))}" '
            f'controls loop playsinline preload="metadata"{" autoplay muted" if autoplay else ""}></video>'
        )
    elif card.preview:
        media = f'<img class="preview" alt="live preview" src="{card.preview}">'
    else:
        media = f'<div class="placeholder">{esc(card.state)}</div>'
    facts = _facts(take) if take is not None else ""
    details = ""
    if take is not None and card.state == "done":
        details = (
            "<details><summary>Details</summary>"
            + "".join(f"<div>{esc(line)}</div>" for line in take_lines(take))
            + "</details>"
        )
    buttons = "".join(_button(card, act, label) for act, label in card.actions)
    return "".join(
        [
            head,
            f'<div class="media">{media}</div>',
            '<div class="meta">',
            f'<div class="line">{esc(card.line)}</div>' if card.line else "",
            f'<div class="prompt" title="{esc(card.prompt)}">{esc(card.prompt) or "<i>(first frame only)</i>"}</div>',
            f'<div class="facts">{esc(facts)}</div>' if facts else "",
            f'<div class="lineage">{esc(card.lineage)}</div>' if card.lineage else "",
            f'<div class="note" role="alert">{esc(card.note)}</div>' if card.note else "",
            details,
            f'<div class="actions">{buttons}</div>',
            "</div></div>",
        ]
    )


def _facts(take: Take) -> str:
    sound = "sound" if take.audio else "silent"
    return f"{take.variant} · {take.width}x{take.height} · {take.frames} f ({take.seconds:.2f} s) · seed {take.seed} · {sound}"


def _button(card: Card, act: str, label: str) -> str:
    esc = html.escape
    if act == "download" and card.take is not None:
        url = esc(file_url(card.take.path("video")))
        return f'<a class="act" href="{url}" download="take-{esc(card.key)}.mp4">{esc(label)}</a>'
    if act.startswith("file:") and card.take is not None:  # a pass's master: HDR, EXR frames, alpha
        name = card.take.settings["files"][act.removeprefix("file:")]
        url = esc(file_url(card.take.path("video").parent / name))
        return f'<a class="act" href="{url}" download="take-{esc(card.key)}-{esc(name)}">{esc(label)}</a>'
    target = f'data-take="{esc(card.key)}"' if card.take is not None else f'data-job="{esc(card.key)}"'
    return f'<button class="act act-{act}" data-act="{act}" {target}>{esc(label)}</button>'


CSS = """
#feed .cards {display: flex; flex-wrap: wrap; gap: 12px}
#feed .card {flex: 1 1 300px; max-width: 460px; border: 1px solid var(--border-color-primary);
  border-radius: 8px; overflow: hidden; background: var(--background-fill-secondary)}
#feed .media video, #feed .media img {width: 100%; display: block; background: #000; max-height: 300px}
#feed .placeholder {height: 120px; display: flex; align-items: center; justify-content: center;
  color: var(--body-text-color-subdued); background: var(--background-fill-primary)}
#feed .meta {padding: 6px 10px 8px; font-size: 13px; line-height: 1.35}
#feed .line {font-weight: 600}
#feed .state-failed .line {color: var(--error-text-color, #c00)}
#feed .prompt {overflow: hidden; text-overflow: ellipsis; white-space: nowrap}
#feed .facts, #feed .lineage, #feed details {color: var(--body-text-color-subdued); font-size: 12px}
#feed .note {color: var(--error-text-color, #c00)}
#feed .actions {display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px}
#feed .act {font-size: 12px; padding: 2px 8px; border-radius: 4px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); cursor: pointer; text-decoration: none; color: inherit}
#feed .act-upscale {background: var(--button-primary-background-fill); color: var(--button-primary-text-color)}
#feed .state-deleted .media, #feed .state-deleted .prompt {opacity: .35}
#feed .feed-empty {padding: 16px; color: var(--body-text-color-subdued)}
@media (max-width: 600px) {#feed .card {flex-basis: 100%; max-width: none}
  #feed .media video, #feed .media img {max-height: 176px}
  #feed .meta {padding: 4px 8px 6px} #feed .act {padding: 1px 6px; font-size: 12px}
  #feed .facts {white-space: nowrap; overflow: hidden; text-overflow: ellipsis}
  #feed .actions {margin-top: 4px}}
"""
