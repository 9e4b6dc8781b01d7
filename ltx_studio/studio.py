"""Studio: the one object the page, the command line, the API and scripts call. It never imports gradio.

A thin facade that composes the services below it and holds them as attributes (no mixins):
- `renderer` (render/renderer.py): one model set, its pipelines and one render at a time on the device;
- `jobs` (jobs/service.py): the server-owned queue, its runner and workers;
- `live` (jobs/live.py): live mode's drafts, per page session;
- `store` (library/takes.py): the takes;
- `films` (render/film_render.py): films of shots, their versions (library/films.py) and renders.
Each operation has one verb here. Run here and wait (the command line, Python): `render`, `compare`,
`upscale`, `extend`, `retake`, `soundtrack`, `finish`, `enhance`, `batch`. As a server job (the page, the API):
`submit(Draft(...))` and the other operations of jobs/ops.py, then `follow`, `wait` or `cancel` it.
Films: `make_film`, `render_film` (or `submit(FilmRender(...))`), `rerender_film`, `export_film`, `film`.

Owners (core/owners.py): `cancel`, `delete` and `approve` take the owner of whoever asks (None: this
process, which may act on everything); `job_list` and `takes` take whose to list. `admins` (user
names, set by app_main from --auth) act on and see everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .core import owners, sizing
from .core.errors import BadInput
from .core.events import CancelToken, Event, EventSink
from .jobs.execute import run_batch
from .jobs.live import Job, LiveDrafts
from .jobs.ops import Operation
from .jobs.queue import JobRecord
from .jobs.service import JobService, QueuedJob
from .library.takes import Take
from .models import loras
from .models.manager import PipelineManager
from .models.variants import ModelSet
from .render.compare import compare as compare_variants
from .render.conditions import keyframe_landing
from .render.enhance import enhance as enhance_prompt
from .render.extend import extend as extend_take
from .render.film import Film, read_film
from .render.film_export import export_film, film_from_otio
from .render.film_render import FilmMaker
from .render.finish import finish as finish_clip
from .render.plan import check_number
from .render.renderer import Renderer
from .render.request import RenderRequest
from .render.retake import retake as retake_segment
from .render.soundtrack import soundtrack as add_soundtrack
from .render.upscale import upscale as upscale_take

__all__ = ["Studio"]


class Studio:
    """Drafts, comparisons, upscales, edits, live drafts, jobs and the takes library over one model set."""

    def __init__(self, renderer: Renderer | None = None, **settings):
        """Over a Renderer, or one made from `settings` (Renderer's: model_set_name, variants_file, outputs,
        budget_bytes, manager, store, checkpoints)."""
        self.renderer = renderer or Renderer(**settings)
        self.store = self.renderer.store
        self.jobs = JobService(self.renderer)
        self.live = LiveDrafts(self.renderer)
        self.films = FilmMaker(self.renderer)

    # --- what it runs on ----------------------------------------------------------------------------

    @property
    def model_set(self) -> ModelSet:
        return self.renderer.model_set

    @property
    def manager(self) -> PipelineManager:
        return self.renderer.manager

    @property
    def registry(self) -> dict[str, ModelSet]:
        return self.renderer.registry

    @property
    def lora_folder(self) -> Path:
        return self.renderer.lora_folder

    @property
    def variants_file(self) -> str | Path | None:
        return self.renderer.variants_file

    def available_sets(self) -> list[str]:
        """The model sets this machine can run now."""
        return self.renderer.available_sets()

    def use_model_set(self, name: str) -> ModelSet:
        """Switch the studio to another model set (waits for the render in progress)."""
        return self.renderer.use_model_set(name)

    def variant_states(self) -> dict[str, str]:
        """Each variant's state: ready (in memory), on disk, or not downloaded."""
        return self.renderer.variant_states()

    def warm_up(self, variants: list[str] | None = None) -> dict[str, float]:
        """Load the variants drafts start with and run each once (see Renderer.warm_up)."""
        return self.renderer.warm_up(variants)

    def keyframe_landing(self, seconds: float, frames: int, fps: int) -> tuple[int, float]:
        """(pixel frame, its seconds) where a keyframe asked at `seconds` of a clip of `frames` lands on this
        model set's grid, as a render would place it: for the page to say so before rendering. The
        family's rule alone (render/conditions.py), no model loaded; BadInput for a time outside the clip."""
        fps = check_number("fps", fps, int, 1, 120)
        frames = sizing.snap_frames(check_number("frames", frames, int, 1, 100_000))  # as the plan snaps them
        seconds = check_number("keyframe time", seconds, float, 0, 3600)
        _, frame = keyframe_landing(self.manager.family, seconds, frames, fps)
        return frame, round(frame / fps, 3)

    def lora_files(self) -> list[str]:
        """The LoRA folder's files, by the names a request may use."""
        return loras.list_files(self.lora_folder)

    # --- run here, and wait ------------------------------------------------------------------------

    def render(
        self,
        request: RenderRequest,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        preview: bool = True,
        kind: str = "draft",
        record: dict | None = None,
    ) -> Take:
        """Check a request (BadInput before anything runs), render it, store the take."""
        return self.renderer.render(
            request, on_event=on_event, cancel=cancel, preview=preview, kind=kind, record=record
        )

    def compare(self, request: RenderRequest, variants: list[str], *, on_event=None, cancel=None, preview=False):
        """The same request with each variant and one seed: a take per variant."""
        return compare_variants(self.renderer, request, variants, on_event=on_event, cancel=cancel, preview=preview)

    def upscale(self, take_id: str, *, mode="latent", width=None, height=None, on_event=None, cancel=None) -> Take:
        """Approve a draft and make its final: `latent` (x2 upsampler + refine) or `pro` (re-render with Pro)."""
        return upscale_take(
            self.renderer, take_id, mode=mode, width=width, height=height, on_event=on_event, cancel=cancel
        )

    def extend(self, take_id: str, seconds: float, *, prompt=None, backward=False, on_event=None, cancel=None) -> Take:
        """Continue a take by `seconds` (before its start with `backward`): a new take of the joined clip."""
        return extend_take(
            self.renderer, take_id, seconds, prompt=prompt, backward=backward, on_event=on_event, cancel=cancel
        )

    def retake(self, take_id: str, start, end, *, prompt=None, what="both", seed=-1, on_event=None, cancel=None):
        """Regenerate seconds [start, end) of a take (`what`: both, video or audio); the rest is the source's."""
        return retake_segment(
            self.renderer, take_id, start, end, prompt=prompt, what=what, seed=seed, on_event=on_event, cancel=cancel
        )

    def soundtrack(self, source: str, *, prompt=None, seed=-1, on_event=None, cancel=None, files=True) -> Take:
        """A soundtrack for a silent clip (a take id or, with `files`, a video file): a new take, the same picture."""
        return add_soundtrack(
            self.renderer, source, prompt=prompt, seed=seed, on_event=on_event, cancel=cancel, files=files
        )

    def finish(self, source: str, pass_name: str, *, factor=None, prompt=None, seed=-1, exr=False, files=True,
               on_event=None, cancel=None) -> Take:  # fmt: skip
        """A finishing pass of the set's (`model_set.passes`: frame rate, HDR, repair, matte) on a take id or,
        with `files`, a video file: a new take, parent = the take."""
        return finish_clip(
            self.renderer, source, pass_name, factor=factor, prompt=prompt, seed=seed, exr=exr, files=files,
            on_event=on_event, cancel=cancel,
        )  # fmt: skip

    def enhance(self, prompt: str, *, image=None, seed: int = 10, on_event=None, cancel=None) -> dict:
        """Rewrite a short idea as the detailed caption LTX-2 was trained on: {"prompt", "enhanced", ...}."""
        return enhance_prompt(self.renderer, prompt, image=image, seed=seed, on_event=on_event, cancel=cancel)

    def batch(self, requests: list[RenderRequest], *, on_event=None, cancel=None) -> tuple[list[Take], list[str]]:
        """Render a batch here, each take tagged with the batch: the takes and a line per row that failed."""
        return run_batch(self.renderer, requests, on_event or (lambda event: None), cancel or CancelToken())

    # --- films ----------------------------------------------------------------------------------------

    def make_film(self, source: Film | str | Path, *, owner: str = "") -> dict:
        """A film from a shot list (.toml or .json), an edit (.otio: its shots' takes still here are kept)
        or a Film; checked against this set, kept as version 1, nothing rendered yet. Its description."""
        takes = None
        if isinstance(source, str | Path) and Path(source).suffix.lower() == ".otio":
            source, takes = film_from_otio(self.films, source)
        elif not isinstance(source, Film):
            source = read_film(source)
        return self.films.describe(self.films.create(source, owner=owner, takes=takes))

    def render_film(self, film_id: str, *, version=None, on_event=None, cancel=None) -> dict:
        """Render here every shot of a film's version that has no take yet (shot by shot); its description."""
        film, _ = self.films.check_render(film_id, version)
        self.films.render(film.id, film.version, on_event=on_event, cancel=cancel)
        return self.film(film.id, film.version)

    def rerender_film(self, film_id: str, shots: list[int], *, stale: bool = False, owner: str | None = None) -> dict:
        """A new version of a film with these shots (1-based; with `stale`, also the stale ones) to render
        again and the rest as they are; render it with `render_film` or a FilmRender job."""
        film = self.films.store.get(film_id)
        if not self.may_act(owner, film.owner):
            raise BadInput(f"film {film.id} belongs to someone else: only its owner or an admin may change it")
        return self.films.describe(self.films.edits.rerender(film.id, shots, stale=stale))

    def retake_shot(self, film_id: str, shot: int, start, end, *, prompt=None, what="both", on_event=None, cancel=None):
        """Regenerate seconds [start, end) of one shot (its own time); the film's new version has that shot as
        the retake and every other shot as it was. Its description."""
        take = self.films.shot_take(film_id, shot)
        made = self.retake(take, start, end, prompt=prompt, what=what, on_event=on_event, cancel=cancel)
        return self.films.describe(self.films.edits.use_take(film_id, shot, made.id))

    def extend_shot(self, film_id: str, shot: int, seconds: float, *, prompt=None, on_event=None, cancel=None) -> dict:
        """Make one shot `seconds` longer (an extension of its take); the shots after it move along (with a
        soundtrack they are stale until rendered again where they now sit). Its description."""
        take = self.films.shot_take(film_id, shot)
        made = self.extend(take, seconds, prompt=prompt, on_event=on_event, cancel=cancel)
        return self.films.describe(self.films.edits.use_take(film_id, shot, made.id))

    def export_film(self, film_id: str, *, version: int | None = None, mp4=None, otio=None) -> dict:
        """A rendered film as one mp4 (the shots joined frame-exactly, one sound) and/or an .otio edit."""
        return export_film(self.films, self.films.store.get(film_id, version), mp4=mp4, otio=otio)

    def film(self, film_id: str, version: int | None = None) -> dict:
        """A film's version (its newest by default): shots, takes, starts, lengths, stale ones."""
        return self.films.describe(self.films.store.get(film_id, version))

    def film_list(self, *, owner: str | None = None) -> list[dict]:
        """Each film's newest version, newest film first (with `owner`: only theirs)."""
        return [self.films.describe(film) for film in self.films.store.list(owner)]

    # --- server jobs -------------------------------------------------------------------------------

    def submit(self, op: Operation, *, owner: str = "api") -> QueuedJob:
        """Check an operation (jobs/ops.py: Draft, Compare, Upscale, ...) and queue it; follow its handle.
        The queue's cap counts renders: the queued jobs' and the live drafts running."""
        return self.jobs.submit(op, owner=owner, also_waiting=self.live.running())

    def check(self, op: Operation) -> None:
        """Check an operation as `submit` would (BadInput with one line), queueing nothing."""
        self.jobs.check(op)

    def prepare_batch(self, base: RenderRequest, rows: list[dict] | None = None, seeds: int = 1):
        """The checked renders of a batch and a line per row that cannot render."""
        return self.jobs.prepare_batch(base, rows, seeds)

    def follow(self, job_id: str) -> Iterator[Event]:
        """A job's events from now until it ends (a late follower catches up first)."""
        return self.jobs.follow(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> list[Take]:
        """A job's takes once it ends, or its failure's one line as a StudioError (also after `timeout` s)."""
        return self.jobs.wait(job_id, timeout)

    def cancel(self, job_id: str, *, owner: str | None = None) -> JobRecord:
        """Cancel a queued job or stop a running one (with `owner`: only a job that person may cancel)."""
        return self.jobs.cancel(job_id, owner=owner, admins=self.admin_names)

    def job(self, job_id: str) -> JobRecord:
        return self.jobs.get(job_id)

    def job_list(
        self, states: tuple[str, ...] | None = None, limit: int = 50, *, owner: str | None = None
    ) -> list[JobRecord]:
        """Jobs in queue order (with `owner`: only that owner's; see `listed_owner`)."""
        if owner is None:
            return self.jobs.list(states, limit)
        return [job for job in self.jobs.list(states, 10_000) if job.owner == owner][:limit]

    @property
    def admin_names(self) -> frozenset[str]:
        """The signed-in users who see and act on everything (`admins`, set from --auth; none by default)."""
        return frozenset(getattr(self, "admins", frozenset()))

    def listed_owner(self, who: str | None, signed_in: bool) -> str | None:
        """Whose jobs and takes a listing shows `who`: None for everyone's (core/owners.py)."""
        return owners.listed_owner(who, self.admin_names, signed_in)

    def may_act(self, who: str | None, owner: str) -> bool:
        """Whether `who` may cancel, delete or approve what `owner` owns (core/owners.py)."""
        return owners.may_act(who, owner, self.admin_names)

    @property
    def owner_key(self) -> bytes:
        """The outputs folder's signing key for browser ids and API key digests (never leaves the server)."""
        return owners.server_key(self.store.root)

    def resume(self, owner: str, kinds: tuple[str, ...]) -> QueuedJob | None:
        """This person's newest job of these kinds, to follow again (None if there is none, or it failed)."""
        return self.jobs.newest(owner, kinds)

    def resume_all(self, owner: str) -> list[QueuedJob]:
        """This person's running and queued jobs, in the order they run, to follow again."""
        return self.jobs.active(owner)

    def start_jobs(self, devices: list[str] | None = None, ray: str | None = None, parallel_final: int = 0):
        """Own the queue and run it: in this process, a worker per device, or Ray actors; `parallel_final`:
        GPUs one upscale job spreads over."""
        self.jobs.parallel_final = parallel_final or self.jobs.parallel_final
        return self.jobs.start(devices, ray)

    @property
    def workers(self) -> list:
        return self.jobs.workers

    def close(self) -> None:
        """Stop running jobs (an unfinished one runs again on the next start) and give up the queue."""
        self.jobs.close()

    def private_paths(self) -> list[Path]:
        """What the web server must never serve: the index, staging, the jobs' inputs, the signing keys."""
        root = self.store.root
        return [
            self.store.db_path,
            root / ".staging",
            self.jobs.queue.folder,
            root / "browser.key",
            root / owners.KEY_FILE,
        ]

    # --- live drafts ---------------------------------------------------------------------------------

    def live_request(self, prompt: str, image=None, seed: int = -1) -> RenderRequest:
        """A quick preview draft: the set's live variant at its small live size and few frames."""
        return self.live.request(prompt, image, seed)

    def live_job(self, session: str, request: RenderRequest, *, owner: str = "") -> Job:
        """Start a live draft for a page session, superseding its previous one; counted in the queue's cap.
        Its take is `owner`'s."""
        self.jobs.make_room(1, also_waiting=self.live.running(besides=session))
        return self.live.start(session, request, owner)

    def cancel_live(self, session: str) -> None:
        self.live.cancel(session)

    # --- the takes -----------------------------------------------------------------------------------

    def takes(self, limit: int | None = None, *, owner: str | None = None) -> list[Take]:
        """Takes, newest first (with `owner`: only that owner's; see `listed_owner`)."""
        return self.store.list(limit, owner)

    def take(self, take_id: str) -> Take:
        return self.store.get(take_id)

    def approve(self, take_id: str, approved: bool = True, *, owner: str | None = None) -> Take:
        """Mark a take approved (or not); with `owner`, only a take that person may act on."""
        self._owned(take_id, owner)
        return self.store.approve(take_id, approved)

    def delete(self, take_id: str, *, owner: str | None = None) -> None:
        """Delete a take's files and row; with `owner`, only a take that person may act on."""
        self._owned(take_id, owner)
        busy = self.jobs.using(take_id)
        if busy is not None:  # an upscale, extend or retake of it would lose its parent mid-render
            raise BadInput(f"take {take_id} is in use by job {busy.id} ({busy.kind}, {busy.state}): wait or cancel it")
        self.store.delete(take_id)

    def _owned(self, take_id: str, who: str | None) -> Take:
        take = self.store.get(take_id)
        if not self.may_act(who, take.owner):
            raise BadInput(f"take {take_id} belongs to someone else: only its owner or an admin may change it")
        return take
