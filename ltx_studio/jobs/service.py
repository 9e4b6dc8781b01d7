"""The studio's work as server-owned jobs: submit, follow, wait, cancel (the ComfyUI pattern).

`JobService.submit(op)` checks an operation (BadInput before anything is queued: a bad request never
waits in the queue), draws its seed (a re-run after a restart makes the same take), copies its files
into the job's folder and queues it; `follow` yields a job's events (from any page, as often as
asked); `wait` returns its takes; `cancel` is the one way to stop a job, whoever asks and wherever it
runs: the request goes into the job's row, and the runner turns the row into the job's one token.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from ..core.errors import BadInput, StudioError
from ..core.events import CancelToken, Event, EventSink, Failed, Progress, TakeDone
from ..library.takes import Take
from ..render.compare import check_variants
from ..render.extend import check_extend
from ..render.film_render import FilmMaker
from ..render.finish import check_finish
from ..render.plan import choose_seed
from ..render.prompts import MAX_RENDERS as MAX_BATCH
from ..render.prompts import batch_requests, check_batch_size
from ..render.renderer import Renderer
from ..render.request import RenderRequest
from ..render.retake import check_retake
from ..render.soundtrack import check_soundtrack
from ..render.upscale import check_upscale
from .execute import execute, half_first
from .ops import (
    AddSound,
    Batch,
    Compare,
    Draft,
    Extend,
    FilmRender,
    FilmShot,
    Finish,
    Operation,
    Retake,
    Upscale,
    renders,
)
from .params import from_params, to_params
from .queue import FINISHED, JobQueue, JobRecord, new_job_id
from .runner import Runner

MAX_WAITING = 64  # renders waiting (queued jobs' and live drafts'); more is a flood, refused with one line


class QueuedJob:
    """A page's (or a script's) handle on a server job: following it, or stopping it.

    Unlike a live draft, a queued job outlives whoever follows it: closing the page stops only the following."""

    outlives_page = True

    def __init__(self, service: JobService, record: JobRecord):
        self.service = service
        self.id = record.id
        self.record = record
        self.result: list[Take] = []

    def events(self) -> Iterator[Event]:
        for event in self.service.follow(self.id):
            if isinstance(event, TakeDone):
                self.result.append(event.take)
            yield event

    def cancel(self) -> None:
        with contextlib.suppress(BadInput):  # it ended meanwhile: nothing to stop
            self.service.cancel(self.id)  # whoever holds the handle submitted the job (or resumed their own)


class JobService:
    """The queue of one outputs folder, run by this process's Runner over a Renderer."""

    def __init__(self, renderer: Renderer):
        self.renderer = renderer
        self.queue = JobQueue(renderer.store)
        self.parallel_final = 0  # GPUs one upscale job spreads over (app --parallel-final)
        self._runner: Runner | None = None
        self._lock = threading.Lock()

    # --- running the queue ---------------------------------------------------------------------------

    def start(self, devices: list[str] | None = None, ray: str | None = None) -> Runner:
        """Own the queue and start running it (the app does this at start; a submit does it too).
        Jobs a killed process left running are queued again now.

        `devices`: one worker process per device (workers.py); `ray`: a Ray cluster's address ("auto",
        "local"), one actor per GPU there (or per device named); neither: this process renders."""
        from .workers import LocalWorker, ProcessWorker, variant_of

        with self._lock:
            if self._runner is None:
                renderer = self.renderer
                common = {
                    "model_set": renderer.model_set.name,
                    "variants_file": renderer.variants_file,
                    "outputs": renderer.store.root,
                    "store": renderer.store,
                }

                def workers() -> list:  # made once the queue is this process's
                    if ray:
                        from .ray_workers import RayWorker, actor_devices, connect

                        return [RayWorker(i, d, **common) for i, d in enumerate(actor_devices(connect(ray), devices))]
                    if devices:
                        return [ProcessWorker(i, device, **common) for i, device in enumerate(devices)]
                    return [LocalWorker(renderer, self.run)]

                default = renderer.model_set.default_variant
                self._runner = Runner(self.queue, workers, lambda record: variant_of(record, default))
            return self._runner

    @property
    def workers(self) -> list:
        """The workers running the queue (after start): name, busy, and the variants each holds."""
        return list(self._runner.workers) if self._runner is not None else []

    def close(self) -> None:
        """Stop running jobs (an unfinished one runs again on the next start) and give up the queue."""
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    def run(self, record: JobRecord, emit: EventSink, cancel: CancelToken) -> list[Take]:
        """Run a job in this process, from its row (its inputs are the job's own copies)."""
        op = from_params(record.kind, record.params)
        return execute(
            self.renderer,
            op,
            emit,
            cancel,
            job_id=record.id,
            done=record.take_ids,
            parallel_final=self.parallel_final,
            owner=record.owner,
        )

    # --- submitting --------------------------------------------------------------------------------

    def submit(self, op: Operation, *, owner: str = "api", also_waiting: int = 0) -> QueuedJob:
        """Check an operation and queue it; returns its handle (follow it with `.events()`).
        `also_waiting`: renders waiting outside the queue (live drafts), counted in its cap."""
        stored = self.check(op)
        runner = self.start()
        self.make_room(renders(stored.kind, vars(stored)), also_waiting)
        job_id = new_job_id()
        folder = self.queue.inputs(job_id)
        try:
            params = to_params(stored, folder)  # files first: a worker may take the job the moment it is queued
            runner.open_channel(job_id)
            record = self.queue.add(stored.kind, params, owner=owner, label=stored.label(), job_id=job_id)
        except BaseException:  # not queued: its copies go
            shutil.rmtree(folder, ignore_errors=True)
            raise
        runner.wake()
        return QueuedJob(self, record)

    def make_room(self, wanted: int, also_waiting: int = 0) -> None:
        """BadInput when `wanted` more renders would take the waiting ones (queued jobs' renders, plus
        `also_waiting`) over MAX_WAITING: a flood is refused in one line, not queued."""
        queued = self.queue.list(("queued",), limit=MAX_WAITING + 1)
        waiting = sum(renders(job.kind, job.params) for job in queued) + also_waiting
        if waiting + wanted > MAX_WAITING:
            raise BadInput(
                f"the queue is full ({waiting} renders waiting, at most {MAX_WAITING}; this adds {wanted}): "
                "try again when some have run"
            )

    def check(self, op: Operation) -> Operation:
        """What the queue keeps of an operation, or BadInput with one line. Seeds are drawn now; video and
        sound inputs are probed, not decoded (the job decodes what it uses)."""
        renderer = self.renderer
        if isinstance(op, Draft):
            op = half_first(renderer, op)
            return replace(op, request=self._checked(op.request))
        if isinstance(op, Compare):
            check_variants(op.variants)
            for name in op.variants[1:]:
                self._checked(replace(op.request, variant=name))
            return replace(op, request=self._checked(replace(op.request, variant=op.variants[0])))
        if isinstance(op, Upscale):
            check_upscale(renderer, op.take_id, op.mode, op.width, op.height)
            return op
        if isinstance(op, Extend):
            check_extend(renderer, op.take_id, op.seconds)  # from the take's record: nothing decoded
            return op
        if isinstance(op, Retake):
            check_retake(renderer, op.take_id, op.start, op.end, op.what)  # from the take's record: nothing decoded
            return replace(op, seed=choose_seed(op.seed))
        if isinstance(op, AddSound):
            check_soundtrack(renderer, op.source, files=op.files)  # probed: the job decodes what it uses
            return replace(op, seed=choose_seed(op.seed))
        if isinstance(op, Finish):  # from the take's record or the file's probe: nothing decoded
            job = check_finish(renderer, op.source, op.pass_name, op.factor, op.prompt, files=op.files)
            return replace(op, factor=job.factor if job.factor > 1 else None, seed=choose_seed(op.seed))
        if isinstance(op, Batch):
            return self._checked_batch(op)
        if isinstance(op, FilmShot):  # from the shot's take's record: nothing decoded
            take = FilmMaker(renderer).shot_take(op.film_id, op.shot)
            self._one_at_a_time(op.film_id)
            if op.action == "extend":
                check_extend(renderer, take, op.seconds)
                return op
            if op.action != "retake":
                raise BadInput(f"a shot is retaken or extended, not {op.action!r}")
            check_retake(renderer, take, op.start, op.end, "both")
            return replace(op, seed=choose_seed(op.seed))
        if isinstance(op, FilmRender):
            film, shots = FilmMaker(renderer).check_render(op.film_id, op.version)
            self._one_at_a_time(film.id)
            return replace(op, version=film.version, shots=shots, title=film.record.get("title", ""))
        raise BadInput(f"unknown operation {type(op).__name__}")

    def _checked(self, request: RenderRequest) -> RenderRequest:
        """The request with its seed drawn (BadInput if it cannot render)."""
        return replace(request, seed=self.renderer.plan(request).seed)

    def _checked_batch(self, op: Batch) -> Batch:
        """Every render of a batch checked; one that cannot render names its row (1-based)."""
        if not op.requests:
            raise BadInput("a batch needs at least one prompt")
        if len(op.requests) > MAX_BATCH:
            raise BadInput(f"a batch holds at most {MAX_BATCH} renders; this one has {len(op.requests)}")
        kept = []
        for row, request in enumerate(op.requests, 1):
            try:
                kept.append(self._checked(request))
            except StudioError as exc:
                raise BadInput(f"row {row}: {exc}") from None
        return replace(op, requests=kept)

    def prepare_batch(
        self, base: RenderRequest, rows: list[dict] | None = None, seeds: int = 1
    ) -> tuple[list[RenderRequest], list[str]]:
        """The renders of a batch (each row, or the base request, with `seeds` seeds), each checked:
        returns those that can render and a line per row that cannot (`row N: why`), so the rest can run."""
        check_batch_size(rows, seeds)
        requests, problems = [], []
        for number, row in enumerate(rows or [{}], 1):
            try:
                made = batch_requests(base, [row], seeds)
                requests.extend(self._checked(request) for request in made)
            except StudioError as exc:
                problems.append(f"row {row.get('row', number)}: {exc}")
        return requests, problems

    # --- following, waiting, cancelling -----------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        return self.queue.get(job_id)

    def list(self, states: tuple[str, ...] | None = None, limit: int = 50) -> list[JobRecord]:
        return self.queue.list(states, limit=limit)

    def using(self, take_id: str) -> JobRecord | None:
        """A queued or running job that works on `take_id` (upscale, extend, retake, a sound for it), if any."""
        for job in self.queue.list(("queued", "running"), limit=MAX_WAITING + 64):
            if take_id in (job.params.get("take_id"), job.params.get("source")):
                return job
        return None

    def _one_at_a_time(self, film_id: str) -> None:
        busy = self.film_job(film_id)
        if busy is not None:
            raise BadInput(f"film {film_id} is already rendering (job {busy.id}, {busy.state}): wait or cancel it")

    def film_job(self, film_id: str) -> JobRecord | None:
        """A queued or running job rendering or editing a version of this film, if any (one at a time: an edit
        makes a new version, which a render of the one before would not fill)."""
        for job in self.queue.list(("queued", "running"), limit=MAX_WAITING + 64):
            if job.kind in ("film", "film_shot") and job.params.get("film_id") == film_id:
                return job
        return None

    def follow(self, job_id: str) -> Iterator[Event]:
        """The job's events from now until it ends: a late follower first catches up (progress, the
        latest preview, the takes so far); a finished job yields its takes (or its failure) at once."""
        record = self.queue.get(job_id)
        runner = self._runner
        channel = runner.channel(job_id) if runner is not None else None
        events = channel.follow() if channel is not None else None
        seen = set()
        if events is not None:
            if record.state == "queued" and (position := self.queue.position(job_id)):
                yield Progress("queue", 0.0, f"In the queue (#{position})")
            for event in events:
                if isinstance(event, TakeDone):
                    seen.add(event.take.id)
                yield event
                if isinstance(event, Failed):
                    return
        for event in self._finished_events(job_id):  # what the channel did not carry (or all of it)
            if not (isinstance(event, TakeDone) and event.take.id in seen):
                yield event

    def _finished_events(self, job_id: str) -> Iterator[Event]:
        """A job's outcome read from its row (waiting while another process still runs it)."""
        while (record := self.queue.get(job_id)).state not in FINISHED:
            yield Progress("queue" if record.state == "queued" else "running", record.progress, record.stage)
            time.sleep(0.5)
        for take_id in record.take_ids:
            try:
                yield TakeDone(self.renderer.store.get(take_id))
            except StudioError:
                continue  # deleted since
        if record.state == "cancelled":
            yield Failed("Stopped", cancelled=True)
        elif record.state == "failed":
            yield Failed(record.error)

    def wait(self, job_id: str, timeout: float | None = None) -> list[Take]:
        """Follow a job to its end: its takes, or the failure's one line as a StudioError; a job that has
        not ended within `timeout` seconds is a StudioError too (it runs on: cancel it to stop it)."""
        if timeout is None:
            return self._takes_of(job_id)
        outcome: dict = {}

        def follow() -> None:
            try:
                outcome["takes"] = self._takes_of(job_id)
            except BaseException as exc:  # raised again in the caller's thread
                outcome["error"] = exc

        follower = threading.Thread(target=follow, name=f"ltx-wait-{job_id}", daemon=True)
        follower.start()
        follower.join(timeout)
        if follower.is_alive():
            raise StudioError(f"job {job_id} did not end within {timeout:g} s (it goes on: jobs cancel {job_id})")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["takes"]

    def _takes_of(self, job_id: str) -> list[Take]:
        takes = []
        for event in self.follow(job_id):
            if isinstance(event, TakeDone):
                takes.append(event.take)
            elif isinstance(event, Failed):
                raise StudioError(f"job {job_id} was cancelled" if event.cancelled else event.message)
        return takes

    def cancel(self, job_id: str, *, owner: str | None = None, admins: frozenset[str] = frozenset()) -> JobRecord:
        """Cancel a queued job (it never runs) or stop a running one between steps, wherever it runs.
        With `owner`, only a job that person may cancel (core/owners.py): their own, or any for an admin."""
        if owner is not None and not self.queue.get(job_id).cancellable_by(owner, admins):
            raise BadInput(f"job {job_id} belongs to someone else: only its owner or an admin may cancel it")
        record = self.queue.request_cancel(job_id)
        if self._runner is not None:
            self._runner.hear_cancel(job_id)  # at once here; another process's runner hears it from the row
        return record

    def newest(self, owner: str, kinds: tuple[str, ...]) -> QueuedJob | None:
        """This person's newest job of these kinds, unless it failed or was cancelled (a reopened page resumes it)."""
        newest = max(
            (job for job in self.queue.list(limit=200) if job.owner == owner and job.kind in kinds),
            key=lambda job: job.created,
            default=None,
        )
        if newest is None or newest.state in ("failed", "cancelled"):
            return None
        return QueuedJob(self, newest)

    def active(self, owner: str) -> list[QueuedJob]:
        """This person's running and queued jobs, in the order they run (a reopened page follows each)."""
        return [
            QueuedJob(self, job) for job in self.queue.list(("running", "queued"), limit=10_000) if job.owner == owner
        ]
