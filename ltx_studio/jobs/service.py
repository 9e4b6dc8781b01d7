"""The studio as a service: its work as server-owned jobs (see jobs.py), and batches of variations.

`Studio` mixes this in. `submit_*` checks a request (BadInput before anything is queued), copies
its files into the job's folder and queues it; `follow` yields the job's events (from any page,
as often as asked); `wait` returns its takes. The blocking `render`/`upscale`/... calls stay: the
runner calls them, and so does the command line, which renders in its own process.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path

from ..core.errors import BadInput, StudioError
from ..core.events import CancelToken, Event, EventSink, Failed, Progress, TakeDone
from ..library.sound import Soundtrack, write_wav
from ..library.takes import Take
from ..render.plan import RenderRequest, plan_render
from ..render.prompts import batch_requests
from .queue import FINISHED, JobQueue, JobRecord, keep_file, new_job_id, read_kept
from .runner import Runner

MAX_BATCH = 64  # renders in one batch job
MAX_WAITING = 64  # queued jobs; more is a flood, refused with one line


class QueuedJob:
    """A page's (or a script's) handle on a server job: following it, or stopping it.

    Unlike a live draft, a queued job outlives whoever follows it: closing the page stops only the following."""

    outlives_page = True

    def __init__(self, studio, record: JobRecord):
        self.studio = studio
        self.id = record.id
        self.record = record
        self.result: list[Take] = []

    def events(self) -> Iterator[Event]:
        for event in self.studio.follow(self.id):
            if isinstance(event, TakeDone):
                self.result.append(event.take)
            yield event

    def cancel(self) -> None:
        with contextlib.suppress(BadInput):  # it ended meanwhile: nothing to stop
            self.studio.cancel_job(self.id)


class JobsMixin:
    """Jobs for `Studio` (which provides store, model_set, lora_folder and the blocking calls)."""

    _runner: Runner | None = None
    _runner_lock = threading.Lock()

    # --- the queue -------------------------------------------------------------------------------

    @property
    def jobs(self) -> JobQueue:
        if getattr(self, "_jobs", None) is None:
            self._jobs = JobQueue(self.store)
        return self._jobs

    def start_jobs(self, devices: list[str] | None = None, ray: str | None = None) -> Runner:
        """Own the queue and start running it (the app does this at start; a submit does it too).
        Jobs a killed process left running are queued again now.

        `devices`: one worker process per device (workers.py); `ray`: a Ray cluster's address ("auto",
        "local"), one actor per GPU there (or per device named); neither: this process renders, as ever."""
        from .workers import LocalWorker, ProcessWorker, variant_of

        with self._runner_lock:
            if self._runner is None:
                common = {
                    "model_set": self.model_set.name,
                    "variants_file": self.variants_file,
                    "outputs": self.store.root,
                    "store": self.store,
                }

                def workers() -> list:  # made once the queue is this process's
                    if ray:
                        from .ray_workers import RayWorker, actor_devices, connect

                        return [RayWorker(i, d, **common) for i, d in enumerate(actor_devices(connect(ray), devices))]
                    if devices:
                        return [ProcessWorker(i, device, **common) for i, device in enumerate(devices)]
                    return [LocalWorker(self)]

                default = self.model_set.default_variant
                self._runner = Runner(self.jobs, workers, lambda record: variant_of(record, default))
            return self._runner

    @property
    def workers(self) -> list:
        """The workers running the queue (after start_jobs): name, busy, and the variants each holds."""
        return list(self._runner.workers) if self._runner is not None else []

    def close(self) -> None:
        """Stop running jobs (an unfinished one runs again on the next start) and give up the queue."""
        with self._runner_lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    def _enqueue(self, kind: str, params: dict, owner: str, label: str) -> QueuedJob:
        runner = self.start_jobs()
        if len(self.jobs.list(("queued",), limit=MAX_WAITING + 1)) >= MAX_WAITING:
            raise BadInput(f"the queue is full ({MAX_WAITING} jobs waiting): try again when some have run")
        job_id = new_job_id()
        folder = self.jobs.inputs(job_id)
        try:
            params = _freeze(params, folder)  # files first: a worker may take the job the moment it is queued
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        runner.open_channel(job_id)
        record = self.jobs.add(kind, params, owner=owner, label=label, job_id=job_id)
        runner.wake()
        return QueuedJob(self, record)

    def _checked(self, request: RenderRequest) -> RenderRequest:
        """The request with its seed drawn (a re-run after a restart makes the same take), or BadInput."""
        plan = plan_render(request, self.model_set, self.lora_folder)
        return replace(request, seed=plan.seed)

    def submit_draft(
        self, request: RenderRequest, *, owner: str = "api", preview: bool = True, upscale: bool = False
    ) -> QueuedJob:
        """Queue a draft; with `upscale`, its latent x2 final follows in the same job (the two-stage recipe)."""
        request = self._checked(request)
        params = {"request": request, "preview": preview, "upscale": upscale, "count": 2 if upscale else 1}
        return self._enqueue("draft", params, owner, request.prompt or "(first frame)")

    def submit_compare(
        self, request: RenderRequest, variants: list[str], *, owner: str = "api", preview: bool = False
    ) -> QueuedJob:
        if not variants:
            raise BadInput("compare needs at least one variant")
        if len(set(variants)) != len(variants):
            raise BadInput("compare: each variant once, please")
        for name in variants:
            self._checked(replace(request, variant=name))
        request = self._checked(replace(request, variant=variants[0]))
        params = {"request": request, "variants": list(variants), "preview": preview, "count": len(variants)}
        return self._enqueue("compare", params, owner, f"{'/'.join(variants)}: {request.prompt}")

    def submit_upscale(
        self, take_id: str, *, mode: str = "latent", width=None, height=None, owner: str = "api"
    ) -> QueuedJob:
        take = self.store.get(take_id)
        if mode not in ("latent", "pro"):
            raise BadInput(f"unknown upscale mode {mode!r} (choose from: latent, pro)")
        params = {"take_id": take.id, "mode": mode, "width": width, "height": height}
        return self._enqueue("upscale", params, owner, f"{mode} final of {take.id}")

    def submit_extend(
        self, take_id: str, seconds: float, *, prompt=None, backward: bool = False, owner: str = "api"
    ) -> QueuedJob:
        take = self.store.get(take_id)
        params = {"take_id": take.id, "seconds": seconds, "prompt": prompt, "backward": backward}
        return self._enqueue("extend", params, owner, f"extend {take.id} by {seconds:g} s")

    def submit_retake(
        self, take_id: str, start, end, *, prompt=None, what: str = "both", seed: int = -1, owner: str = "api"
    ) -> QueuedJob:
        """Queue a retake of seconds [start, end) of a take (checked now: a bad range never waits in the queue)."""
        from ..render.edits import plan_retake

        plan = plan_retake(self, take_id, start, end, prompt=prompt, what=what, seed=seed)[0]
        params = {"take_id": take_id, "start": start, "end": end, "prompt": prompt, "what": what, "seed": plan.seed}
        return self._enqueue("retake", params, owner, f"retake {start:g}-{end:g} s of {take_id}")

    def submit_soundtrack(
        self, source: str, *, prompt=None, seed: int = -1, owner: str = "api", files: bool = True
    ) -> QueuedJob:
        """Queue a soundtrack for a silent clip: a take id or (with `files`) a video file, kept with the job."""
        from ..render.edits import plan_soundtrack

        plan = plan_soundtrack(self, source, prompt=prompt, seed=seed, files=files)[0]
        params = {"source": source, "prompt": prompt, "seed": plan.seed, "files": files}
        name = Path(str(source)).name
        return self._enqueue("soundtrack", params, owner, f"sound for {name}")

    def submit_batch(self, requests: list[RenderRequest], *, owner: str = "api", label: str = "") -> QueuedJob:
        """Queue several renders as one job: each becomes an ordinary take tagged with the batch.
        Every request is checked first; one that cannot render names its row (1-based)."""
        if not requests:
            raise BadInput("a batch needs at least one prompt")
        if len(requests) > MAX_BATCH:
            raise BadInput(f"a batch holds at most {MAX_BATCH} renders; this one has {len(requests)}")
        checked = []
        for row, request in enumerate(requests, 1):
            try:
                checked.append(self._checked(request))
            except StudioError as exc:
                raise BadInput(f"row {row}: {exc}") from None
        params = {"requests": checked, "count": len(checked)}
        return self._enqueue("batch", params, owner, label or f"{len(checked)} × {checked[0].prompt}")

    def prepare_batch(
        self, base: RenderRequest, rows: list[dict] | None = None, seeds: int = 1
    ) -> tuple[list[RenderRequest], list[str]]:
        """The renders of a batch (each row, or the base request, with `seeds` seeds), each checked:
        returns those that can render and a line per row that cannot (`row N: why`), so the rest can run."""
        requests, problems = [], []
        for number, row in enumerate(rows or [{}], 1):
            try:
                made = batch_requests(base, [row], seeds)
                requests.extend(self._checked(request) for request in made)
            except StudioError as exc:
                problems.append(f"row {row.get('row', number)}: {exc}")
        return requests, problems

    def follow(self, job_id: str) -> Iterator[Event]:
        """The job's events from now until it ends: a late follower first catches up (progress, the
        latest preview, the takes so far); a finished job yields its takes (or its failure) at once."""
        record = self.jobs.get(job_id)
        runner = self._runner
        channel = runner.channel(job_id) if runner is not None else None
        events = channel.follow() if channel is not None else None
        seen = set()
        if events is not None:
            if record.state == "queued" and (position := self.jobs.position(job_id)):
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
        while (record := self.jobs.get(job_id)).state not in FINISHED:
            yield Progress("queue" if record.state == "queued" else "running", record.progress, record.stage)
            time.sleep(0.5)
        for take_id in record.take_ids:
            try:
                yield TakeDone(self.store.get(take_id))
            except StudioError:
                continue  # deleted since
        if record.state == "cancelled":
            yield Failed("Stopped", cancelled=True)
        elif record.state == "failed":
            yield Failed(record.error)

    def wait(self, job_id: str) -> list[Take]:
        """Follow a job to its end: its takes, or the failure's one line as a StudioError."""
        takes = []
        for event in self.follow(job_id):
            if isinstance(event, TakeDone):
                takes.append(event.take)
            elif isinstance(event, Failed):
                raise StudioError(f"job {job_id} was cancelled" if event.cancelled else event.message)
        return takes

    def cancel_job(self, job_id: str) -> JobRecord:
        """Cancel a queued job (it never runs) or stop a running one between steps."""
        record = self.jobs.request_cancel(job_id)
        if self._runner is not None:
            if record.state == "running":
                self._runner.cancel(job_id)
            else:
                self._runner.drop(job_id, Failed("Stopped", cancelled=True))
        return record

    # --- running a job ----------------------------------------------------------------------------

    def _execute(self, record: JobRecord, emit: EventSink, cancel: CancelToken) -> list[Take]:
        params, done = record.params, record.take_ids  # takes made before an interruption are kept
        if record.kind == "draft":
            request = _thaw(params["request"])
            if done:
                draft = self.store.get(done[0])
            else:
                draft = self.render(request, on_event=emit, cancel=cancel, preview=params.get("preview", True))
            if params.get("upscale"):
                return [draft, self.upscale(draft.id, mode="latent", on_event=emit, cancel=cancel)]
            return [draft]
        if record.kind == "compare":
            variants = params["variants"][len(done) :]
            request = _thaw(params["request"])
            return self.compare(request, variants, on_event=emit, cancel=cancel, preview=params.get("preview", False))
        if record.kind == "upscale" and getattr(self, "parallel_final", 0) >= 2:
            from .parallel import run_final  # one final across N GPUs (unverified; see parallel.py)

            return [
                run_final(
                    self, params["take_id"], params["mode"], self.parallel_final, emit, cancel,
                    params.get("width"), params.get("height"),
                )
            ]  # fmt: skip
        if record.kind == "upscale":
            return [
                self.upscale(
                    params["take_id"],
                    mode=params["mode"],
                    width=params.get("width"),
                    height=params.get("height"),
                    on_event=emit,
                    cancel=cancel,
                )
            ]
        if record.kind == "extend":
            return [
                self.extend(
                    params["take_id"],
                    params["seconds"],
                    prompt=params.get("prompt"),
                    backward=params.get("backward", False),
                    on_event=emit,
                    cancel=cancel,
                )
            ]
        if record.kind == "retake":
            return [
                self.retake(
                    params["take_id"], params["start"], params["end"], prompt=params.get("prompt"),
                    what=params.get("what", "both"), seed=params["seed"], on_event=emit, cancel=cancel,
                )
            ]  # fmt: skip
        if record.kind == "soundtrack":
            return [
                self.soundtrack(
                    params["source"],
                    prompt=params.get("prompt"),
                    seed=params["seed"],
                    on_event=emit,
                    cancel=cancel,
                    files=params.get("files", True),
                )  # fmt: skip
            ]
        if record.kind == "batch":
            takes, failures = self._run_batch(record, emit, cancel)
            if failures and not takes and not record.take_ids:
                raise StudioError("; ".join(failures))
            if failures:
                emit(Progress("note", 1.0, "; ".join(failures)))  # the runner keeps it with the job
            return takes
        raise StudioError(f"unknown job kind {record.kind!r}")

    def _run_batch(self, record: JobRecord, emit: EventSink, cancel: CancelToken) -> tuple[list[Take], list[str]]:
        """Each render of a batch in turn; one row's trouble does not stop the rest. Returns the takes
        and a line per row that failed. Rows whose take was made before an interruption are skipped."""
        requests = record.params["requests"]
        made = set()
        for take_id in record.take_ids:
            try:
                made.add(self.store.get(take_id).settings.get("batch", {}).get("index"))
            except StudioError:
                continue
        takes, failures = [], []
        for index, data in enumerate(requests):
            if index in made:
                continue
            tag = {"batch": {"id": record.id, "index": index, "count": len(requests)}}
            try:
                takes.append(self.render(_thaw(data), on_event=emit, cancel=cancel, record=tag))
            except StudioError as exc:
                failures.append(f"row {index + 1}: {exc}")
                emit(Progress("batch", (index + 1) / len(requests), failures[-1]))
        return takes, failures

    def batch(
        self,
        requests: list[RenderRequest],
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[list[Take], list[str]]:
        """Render a batch in this process (the command line), each take tagged with the batch.
        Returns the takes and a line per row that failed."""
        job_id = f"batch-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        record = JobRecord(id=job_id, kind="batch", params={"requests": requests, "count": len(requests)})
        return self._run_batch(record, on_event or (lambda event: None), cancel or CancelToken())


# --- requests as JSON, with their files kept ------------------------------------------------------


def _freeze(params: dict, folder: Path) -> dict:
    """A job's parameters as JSON can hold them, every file copied into `folder`."""

    def request(req: RenderRequest, n: int) -> dict:
        data = {f.name: getattr(req, f.name) for f in fields(RenderRequest)}
        data["image"] = keep_file(req.image, folder, f"{n}-image")
        data["video"] = keep_file(req.video, folder, f"{n}-video")
        data["reference"] = keep_file(req.reference, folder, f"{n}-reference")
        track = req.soundtrack
        if isinstance(track, Soundtrack):  # a soundtrack read in memory (Python callers): kept as a wav
            (folder / f"{n}-soundtrack").mkdir(exist_ok=True)
            track = write_wav(folder / f"{n}-soundtrack" / f"{Path(track.name).stem}.wav", track.waveform, track.rate)
        data["soundtrack"] = keep_file(track, folder, f"{n}-soundtrack")
        data["keyframes"] = [
            {**dict(k), "image": keep_file(k.get("image"), folder, f"{n}-keyframe-{i}")}
            for i, k in enumerate(req.keyframes or [])
        ]
        data["loras"] = [asdict(x) if hasattr(x, "__dataclass_fields__") else x for x in req.loras or []]
        return data

    frozen = dict(params)
    source = frozen.get("source")
    if source is not None and frozen.get("files", True) and Path(str(source)).is_file():  # a soundtrack's video
        frozen["source"] = keep_file(source, folder, "source")
    if "request" in frozen:
        frozen["request"] = request(frozen["request"], 0)
    if "requests" in frozen:
        frozen["requests"] = [request(r, i) for i, r in enumerate(frozen["requests"])]
    return frozen


def _thaw(data: dict | RenderRequest) -> RenderRequest:
    if isinstance(data, RenderRequest):
        return data
    known = {f.name for f in fields(RenderRequest)}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("video", "reference"):
        values[name] = read_kept(values.get(name))
    return RenderRequest(**values)
