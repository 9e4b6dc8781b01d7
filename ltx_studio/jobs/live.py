"""Live mode's drafts on the Studio: a quick draft per pause in typing, superseding the session's
last one, and the housekeeping that keeps only the newest of them (mixed into `Studio`)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from ..core import sizing
from ..core.errors import TakeNotFound
from ..core.events import CancelToken, EventSink
from ..library.takes import Take
from ..render.plan import RenderRequest

if TYPE_CHECKING:
    from ..studio import Job

log = logging.getLogger(__name__)
LIVE_KEEP = 24  # live-mode drafts kept (newest first); approved ones and parents are always kept


class LiveMixin:
    """Needs `model_set`, `store`, `render`, `_live` (session -> Job) and `_live_lock` from the Studio."""

    def live_request(self, prompt: str, image=None, seed: int = -1) -> RenderRequest:
        """A quick preview draft: the set's live variant at its small live size and few frames."""
        width, height = self.model_set.live_size
        if image is not None:
            from ..library.media import load_image

            image = image if hasattr(image, "width") else load_image(image)
            width, height = sizing.size_for_aspect(image.width / image.height, self.model_set.live_size)
        return RenderRequest(
            prompt=prompt,
            image=image,
            seed=seed,
            variant=self.model_set.live_variant,
            width=width,
            height=height,
            frames=self.model_set.live_frames,
        )

    def live_job(self, session: str, request: RenderRequest) -> Job:
        """Start a live draft for `session`, cancelling that session's previous one if still running."""
        with self._live_lock:
            previous = self._live.get(session)
            if previous is not None:
                previous.cancel()
            from ..studio import Job

            job = Job(lambda emit, cancel: self._live_draft(session, request, emit, cancel), "live")
            self._live[session] = job
        return job

    def cancel_live(self, session: str) -> None:
        """Stop a session's live draft (a deliberate Draft takes over its outputs)."""
        with self._live_lock:
            job = self._live.get(session)
        if job is not None:
            job.cancel()

    def _live_draft(self, session: str, request: RenderRequest, emit: EventSink, cancel: CancelToken) -> Take:
        try:
            take = self.render(request, on_event=emit, cancel=cancel, kind="live")
        finally:
            with self._live_lock:
                if self._live.get(session) is not None and self._live[session].cancel_token is cancel:
                    del self._live[session]
        self._prune_live()
        return take

    def _prune_live(self) -> None:
        """Live mode makes a take per pause in typing: keep the newest LIVE_KEEP (and any approved or upscaled).

        Housekeeping: a failure here is logged, never reported as a failed render.
        """
        try:
            takes = self.store.list()
            parents = {t.parent for t in takes if t.parent}
            live = [t for t in takes if t.kind == "live" and not t.approved and t.id not in parents]
            for take in live[LIVE_KEEP:]:
                with contextlib.suppress(TakeNotFound):
                    self.store.delete(take.id)
        except Exception:
            log.exception("pruning live drafts failed")

    # --- prompt enhancement ------------------------------------------------------------------
