"""What the tabs share: the relay of a Studio job's events, per-session bookkeeping, how a take reads.

A handler starts a Studio job and hands it to `Sessions.relay`, which turns the job's typed events
into (kind, value) pairs for the handler to map onto its components; `visible` turns any failure of
a plain Studio call into a one-line message in the page.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..core import owners, sizing
from ..core.errors import StudioError
from ..core.events import Failed, Preview, Progress, TakeDone
from ..library.takes import Take
from ..models.variants import Variant
from .studio_tab import feed
from .studio_tab.feed import Board

if TYPE_CHECKING:
    from ..jobs.live import Job
    from ..studio import Studio

log = logging.getLogger(__name__)


def visible(fn: Callable[[], Any]) -> Any:
    """Run a Studio call from a handler; any failure becomes a one-line message in the page (and the log)."""
    try:
        return fn()
    except StudioError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except gr.Error:
        raise
    except Exception as exc:
        log.exception("handler failed")
        raise gr.Error(f"{type(exc).__name__}: {str(exc)[:200]}", print_exception=False) from None


class Sessions:
    """Per-browser-session bookkeeping: the running jobs (for Stop) and the last keystroke (debounce)."""

    def __init__(self) -> None:
        self.jobs: dict[str, set] = {}  # session -> running jobs (a draft and a live draft may overlap)
        self.keystrokes: dict[str, int] = {}
        self.live_seeds: dict[str, int] = {}  # live drafts keep one seed, so only the prompt changes
        self.browser_ids: dict[str, str] = {}  # session -> the id a first visit is given (`first_id`)
        self.lock = threading.Lock()

    def first_id(self, session: str, key: bytes) -> str:
        """The signed browser id this session is given on its first visit, minted once: a click that comes
        before the page has stored it (the load event still on its way) owns what it makes all the same."""
        with self.lock:
            if session not in self.browser_ids:
                self.browser_ids[session] = owners.sign_browser(key)
            return self.browser_ids[session]

    def stroke(self, session: str) -> int:
        """Count a keystroke of the session; returns its number."""
        with self.lock:
            self.keystrokes[session] = self.keystrokes.get(session, 0) + 1
            return self.keystrokes[session]

    def latest(self, session: str) -> int:
        """The number of the session's newest keystroke."""
        with self.lock:
            return self.keystrokes.get(session, 0)

    def live_seed(self, session: str) -> int:
        """The seed the session's live drafts share (drawn on the first one)."""
        with self.lock:
            return self.live_seeds.setdefault(session, random.randrange(2**32))

    def stop(self, session: str) -> None:
        """Cancel every job the session is running."""
        with self.lock:
            running = list(self.jobs.get(session, ()))
        for job in running:
            job.cancel()

    def relay(
        self, job: Job, session: str, progress: Callable[..., Any], *, raise_failure: bool = True
    ) -> Iterator[tuple[str, Any]]:
        """Yield (kind, value) for each event of a job; raise gr.Error on failure (unless `raise_failure`
        is False: a card says why, nothing else on the page).

        Kinds: "preview" (a Preview), "take" (a stored Take), "stopped" (a message: the job was
        cancelled), "error" (a message, yielded once before the gr.Error). Progress goes to `progress`.

        The job is the session's from this call on, not from the first event drawn: a handler calls it
        before it first yields, so a Stop pressed while the page is still drawing the queued card reaches it.
        """
        with self.lock:
            self.jobs.setdefault(session, set()).add(job)
        return self._relayed(job, session, progress, raise_failure)

    def _relayed(self, job: Job, session: str, progress: Callable[..., Any], raise_failure: bool):
        try:
            for event in job.events():
                if isinstance(event, Progress):
                    progress(event.fraction, desc=f"{event.stage}: {event.message}" if event.message else event.stage)
                elif isinstance(event, Preview):
                    yield "preview", event
                elif isinstance(event, TakeDone):
                    yield "take", event.take
                elif isinstance(event, Failed):
                    if event.cancelled:
                        yield "stopped", event.message
                    else:
                        yield "error", event.message  # shown beside the result, then as a toast
                        if raise_failure:
                            raise gr.Error(event.message, print_exception=False)
                        return
        finally:
            if not getattr(job, "outlives_page", False):
                job.cancel()  # a live draft ends with its page; a queued job runs on without it
            with self.lock:
                running = self.jobs.get(session, set())
                running.discard(job)
                if not running:
                    self.jobs.pop(session, None)

    def follow_to_take(self, job, session: str, progress: Callable[..., Any]) -> Take:
        """Follow a job the page started to its (last) take, as `relay` does: the page's Stop reaches it."""
        take = None
        for kind, value in self.relay(job, session, progress):
            if kind == "take":
                take = value
            elif kind == "stopped":
                raise gr.Error("Stopped: no new take.", print_exception=False)
        if take is None:
            raise gr.Error("The job ended without a take.", print_exception=False)
        return take


def owner(browser_id: str | None, request: gr.Request | None, key: bytes) -> str:
    """Who asks from the page: the signed-in user (with --auth), else this browser if the id it keeps
    carries the server's signature (core/owners.py), else nobody (a forged or unsigned id owns nothing)."""
    user = getattr(request, "username", None) if request is not None else None
    return f"user:{user}" if user else owners.browser_owner(key, browser_id)


def signed_in(request: gr.Request | None) -> bool:
    """Whether the studio runs with --auth (then every request has a signed-in user)."""
    return bool(getattr(request, "username", None)) if request is not None else False


class Shared:
    """What the tabs of one page share: the sessions, and the current model set's variants and size
    choices (read live: the model set can be switched while the page is open)."""

    def __init__(self, studio: Studio, sessions: Sessions):
        self.studio = studio
        self.sessions = sessions
        self.board = Board()
        self.browser: gr.BrowserState | None = None  # this browser's id, kept in its localStorage (page.build)

    def feed_html(self, who: str, session: str, *, tick: bool = False) -> str:
        """The Studio tab's feed for who asks, from this session's page (feed.py). Drawn for a handler
        (not the tick), the tick's memory of what it sent is dropped: its next draw is sent, so a
        handler's answer that arrives late never stays on the page."""
        if not tick:
            self.board.forget_sent(session)
        return feed.render(feed.cards(self.studio, self.board, who, session))

    def follow(self, job, session: str) -> Iterator[str]:
        """Follow a job this page started to its end, keeping its previews for its card; yields the kind
        of each event worth drawing again ("preview", "take", "stopped", "error"). Stop reaches it from
        this call on (`Sessions.relay`): call it before the handler first yields."""
        ignore = lambda *args, **kwargs: None  # noqa: E731 - progress is on the job's row, drawn by its card
        return self._drawn(job, self.sessions.relay(job, session, ignore, raise_failure=False))

    def _drawn(self, job, events: Iterator[tuple[str, Any]]) -> Iterator[str]:
        for kind, value in events:
            if kind == "preview":
                self.board.preview(job.id, value.image)
            yield kind

    def owner(self, browser_id: str | None, request: gr.Request | None) -> str:
        """Who asks from the page (`owner`, with this studio's signing key). A first visit whose id is not
        stored yet asks as the id its session is being given (`Sessions.first_id`)."""
        session = getattr(request, "session_hash", None) if request is not None else None
        if not browser_id and session:
            browser_id = self.sessions.first_id(session, self.studio.owner_key)
        return owner(browser_id, request, self.studio.owner_key)

    def listed(self, browser_id: str | None, request: gr.Request | None) -> str | None:
        """Whose jobs and takes the page lists for who asks: None for everyone's (core/owners.py)."""
        return self.studio.listed_owner(self.owner(browser_id, request), signed_in(request))

    @classmethod
    def of(cls, studio: Studio) -> Shared:
        """The shared state of a page over `studio`, with no sessions yet."""
        return cls(studio, Sessions())

    @property
    def variants(self) -> dict[str, Variant]:
        return self.studio.model_set.variants

    @property
    def default(self) -> Variant:
        return self.variants[self.studio.model_set.default_variant]

    @property
    def resolutions(self) -> list[tuple[str, str]]:
        """(label, value) for the Resolution dropdowns: the draft size, then the presets some variant takes;
        a size this card holds only for shorter clips (or not at all) says so in its label."""
        variants, default = self.variants, self.default
        sizes = [("draft", default.draft_size, "Draft")] + [
            (name, size, name)
            for name, size in sizing.RESOLUTIONS.items()
            if any(sizing.fits(size, v.max_size) for v in variants.values())
        ]
        return [(f"{label} ({w}x{h}){self._card_words(name)}", name) for name, (w, h), label in sizes]

    def size_of(self, resolution: str | None) -> tuple[int, int]:
        """The size a Resolution choice renders at ("draft", or a preset)."""
        return sizing.RESOLUTIONS.get(resolution or "draft", self.default.draft_size)

    def card_seconds(self, resolution: str | None) -> float | None:
        """The longest clip this card's memory plan fits at a Resolution choice (None: the plan sets no limit)."""
        most = self.studio.manager.policy.max_frames(*self.size_of(resolution))
        if most is None or most >= max(v.max_frames for v in self.variants.values()):
            return None
        return (most - 1) / self.default.sampling.fps if most else 0.0

    def _card_words(self, resolution: str) -> str:
        limit = self.card_seconds(resolution)
        if limit is None:
            return ""
        return " · not on this card" if limit <= 0 else f" · up to {limit:.1f} s on this card"

    @property
    def max_seconds(self) -> float:
        """The longest duration any variant renders, at the default fps."""
        max_frames = max(v.max_frames for v in self.variants.values())
        return round((max_frames - 1) / self.default.sampling.fps, 1)
