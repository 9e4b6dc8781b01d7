"""Live mode's drafts: a quick draft per pause in typing, run in a thread of the page's own (not the
queue: a live draft ends with its page), superseding the session's last one; and the housekeeping
that keeps only the newest of them. `Job` is that thread, for any work a page follows directly."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator

from ..core import sizing
from ..core.errors import Cancelled, StudioError, TakeNotFound
from ..core.events import CancelToken, Event, EventSink, Failed
from ..library.media import load_image
from ..library.takes import Take, taken_by
from ..render.renderer import Renderer
from ..render.request import RenderRequest

log = logging.getLogger(__name__)
LIVE_KEEP = 24  # live-mode drafts kept (newest first); approved ones and parents are always kept
_END = object()


class Job:
    """Work running in a thread; `events()` yields its events as they happen, then ends.

    A job that fails ends with a `Failed` event (its message is meant for the user); `result`
    holds what the work returned (a Take or a list of them) once `events()` is exhausted.
    """

    def __init__(self, work: Callable[[EventSink, CancelToken], object], name: str = "job"):
        self.cancel_token = CancelToken()
        self.result = None
        self._events: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(work,), name=f"ltx-{name}", daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self.result = work(self._events.put, self.cancel_token)
        except Cancelled:
            self._events.put(Failed("Stopped", cancelled=True))
        except StudioError as exc:
            self._events.put(Failed(str(exc)))
        except Exception as exc:  # the server keeps serving; the user sees one line, the log the rest
            log.exception("render failed")
            self._events.put(Failed(f"Render failed: {type(exc).__name__}: {exc}"))
        finally:
            self._events.put(_END)

    def events(self) -> Iterator[Event]:
        while (event := self._events.get()) is not _END:
            yield event

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class LiveDrafts:
    """The live drafts of every page session over one Renderer: one running per session at most."""

    def __init__(self, renderer: Renderer):
        self.renderer = renderer
        self._running: dict[str, Job] = {}  # session -> its live draft
        self._lock = threading.Lock()

    def request(self, prompt: str, image=None, seed: int = -1) -> RenderRequest:
        """A quick preview draft: the set's live variant at its small live size and few frames."""
        mset = self.renderer.model_set
        width, height = mset.live_size
        if image is not None:
            image = image if hasattr(image, "width") else load_image(image)
            width, height = sizing.size_for_aspect(image.width / image.height, mset.live_size)
        return RenderRequest(
            prompt=prompt,
            image=image,
            seed=seed,
            variant=mset.live_variant,
            width=width,
            height=height,
            frames=mset.live_frames,
        )

    def start(self, session: str, request: RenderRequest, owner: str = "") -> Job:
        """Start a live draft for `session` (its take `owner`'s), cancelling that session's previous one."""
        with self._lock:
            previous = self._running.get(session)
            if previous is not None:
                previous.cancel()
            job = Job(lambda emit, cancel: self._draft(session, request, emit, cancel, owner), "live")
            self._running[session] = job
        return job

    def running(self, besides: str | None = None) -> int:
        """Live drafts running now (but `besides`' own, which a new one of that session supersedes)."""
        with self._lock:
            return sum(1 for session in self._running if session != besides)

    def cancel(self, session: str) -> None:
        """Stop a session's live draft (a deliberate Draft takes over its outputs)."""
        with self._lock:
            job = self._running.get(session)
        if job is not None:
            job.cancel()

    def _draft(self, session: str, request: RenderRequest, emit: EventSink, cancel: CancelToken, owner: str) -> Take:
        try:
            with taken_by(owner):
                take = self.renderer.render(request, on_event=emit, cancel=cancel, kind="live")
        finally:
            with self._lock:
                if self._running.get(session) is not None and self._running[session].cancel_token is cancel:
                    del self._running[session]
        self.prune()
        return take

    def prune(self) -> None:
        """Live mode makes a take per pause in typing: keep the newest LIVE_KEEP (and any approved or upscaled).

        Housekeeping: a failure here is logged, never reported as a failed render.
        """
        store = self.renderer.store
        try:
            takes = store.list()
            parents = {t.parent for t in takes if t.parent}
            live = [t for t in takes if t.kind == "live" and not t.approved and t.id not in parents]
            for take in live[LIVE_KEEP:]:
                with contextlib.suppress(TakeNotFound):
                    store.delete(take.id)
        except Exception:
            log.exception("pruning live drafts failed")
