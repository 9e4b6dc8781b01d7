"""The runner of the job queue (jobs.py): it hands queued jobs to its workers (workers.py), one job
per worker at a time, in queue order, and relays each running job's events to whoever follows it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

from ..core.errors import Cancelled, StudioError
from ..core.events import CancelToken, Event, Failed, Preview, Progress, TakeDone
from .queue import FINISHED, MAX_ATTEMPTS, PROGRESS_EVERY_S, JobQueue, JobRecord

log = logging.getLogger(__name__)
_END = object()


class Channel:
    """The live events of one running job, for any number of followers; a follower that arrives late
    first gets the latest progress and preview and every take so far."""

    def __init__(self, finished: Callable[[], bool] = lambda: False) -> None:
        self._finished = finished  # whether the job's row says it ended (e.g. cancelled by another process)
        self._lock = threading.Lock()
        self._followers: list[queue.Queue] = []
        self._progress: Event | None = None
        self._preview: Event | None = None
        self._takes: list[Event] = []
        self._ended = False

    def emit(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, Progress):
                self._progress = event
            elif isinstance(event, Preview):
                self._preview = event
            elif isinstance(event, TakeDone):
                self._takes.append(event)
            followers = list(self._followers)
        for follower in followers:
            follower.put(event)

    def end(self, last: Event | None) -> None:
        with self._lock:
            self._ended = True
            followers, self._followers = self._followers, []
        for follower in followers:
            if last is not None:
                follower.put(last)
            follower.put(_END)

    def follow(self) -> Iterator[Event] | None:
        """The job's events from now on (after a catch-up); None when it has already ended."""
        with self._lock:
            if self._ended:
                return None
            follower: queue.Queue = queue.Queue()
            for event in (self._progress, self._preview, *self._takes):
                if event is not None:
                    follower.put(event)
            self._followers.append(follower)
        return self._drain(follower)

    def _drain(self, follower: queue.Queue) -> Iterator[Event]:
        try:
            while True:
                try:
                    event = follower.get(timeout=1.0)
                except queue.Empty:
                    if self._finished():
                        return  # ended without this channel hearing of it: the row tells the rest
                    continue
                if event is _END:
                    return
                yield event
        finally:
            with self._lock:
                if follower in self._followers:
                    self._followers.remove(follower)


class Runner:
    """Runs the queue's jobs on its workers (one job per worker at a time), in queue order, for as
    long as its process owns the queue.

    Owning the queue means holding `jobs/.lock`: a second studio on the same outputs folder cannot
    run (or re-run) the same jobs twice. A job goes to a free worker that already holds the variant
    it needs, else to any free one (workers.py); a job whose worker died is queued once more.
    """

    def __init__(
        self,
        jobs: JobQueue,
        workers: Callable[[], list],
        variant_of: Callable[[JobRecord], str | None] = lambda r: None,
    ):
        self.jobs = jobs
        self.workers: list = []
        self.variant_of = variant_of
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._channels: dict[str, Channel] = {}
        self._tokens: dict[str, CancelToken] = {}
        self._threads: list[threading.Thread] = []
        self._owner_file = open(jobs.folder / ".lock", "a")  # noqa: SIM115 - held while the runner lives
        try:
            fcntl.flock(self._owner_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._owner_file.close()
            raise StudioError(
                f"another studio is serving the jobs of {jobs.store.root}: stop it, or use another --outputs"
            ) from None
        try:
            self.workers = list(workers())  # started only once the queue is ours
        except BaseException:
            fcntl.flock(self._owner_file, fcntl.LOCK_UN)
            self._owner_file.close()
            raise
        self.requeued = jobs.recover()
        self._thread = threading.Thread(target=self._loop, name="ltx-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def channel(self, job_id: str) -> Channel | None:
        with self._lock:
            return self._channels.get(job_id)

    def open_channel(self, job_id: str) -> Channel:
        """The job's channel, made when it is queued so a follower never misses its first event."""
        with self._lock:
            if job_id not in self._channels:
                self._channels[job_id] = Channel(lambda: _ended(self.jobs, job_id))
            return self._channels[job_id]

    def hear_cancel(self, job_id: str) -> None:
        """Act on the cancel a job's row asks for: the one path from a cancel (this process's, the CLI's
        or another page's) to the job. A job cancelled while queued never runs and its followers are
        told; a running one's token is cancelled, which its worker hears (in process, through its
        pipe, or through a Ray queue) and stops between steps."""
        try:
            record = self.jobs.get(job_id)
        except Exception:
            return
        with self._lock:
            token = self._tokens.get(job_id)
            channel = self._channels.pop(job_id, None) if record.state == "cancelled" and token is None else None
        if token is not None and (record.state == "cancelled" or self.jobs.cancel_requested(job_id)):
            token.cancel()
        if channel is not None:
            channel.end(Failed("Stopped", cancelled=True))

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs, stop the running ones (re-queued on the next start), give up the queue."""
        self._stop.set()
        with self._lock:
            tokens = list(self._tokens.values())
        for token in tokens:
            token.cancel()
        self._wake.set()
        self._thread.join(timeout)
        for thread in list(self._threads):
            thread.join(timeout)
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.close()
        with contextlib.suppress(OSError):
            fcntl.flock(self._owner_file, fcntl.LOCK_UN)
            self._owner_file.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            free = [worker for worker in self.workers if not worker.busy]
            record = None
            if free:
                try:
                    record = self.jobs.claim()
                except Exception:
                    log.exception("reading the job queue failed")
            if record is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            variant = self.variant_of(record)
            worker = next((w for w in free if w.holds(variant)), free[0])  # warm first, else the first free
            worker.busy = True
            thread = threading.Thread(target=self._run, args=(record, worker), name=f"ltx-job-{worker.name}")
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _run(self, record: JobRecord, worker) -> None:
        try:
            self._run_on(record, worker)
        finally:
            worker.busy = False
            self._wake.set()  # a worker is free: the loop hands it the next job

    def _run_on(self, record: JobRecord, worker) -> None:
        from .workers import WorkerDied

        token = CancelToken()
        channel = self.open_channel(record.id)
        with self._lock:
            self._tokens[record.id] = token
        watcher = threading.Thread(target=self._watch, args=(record.id, token), daemon=True)
        watcher.start()
        last_write = [0.0, ""]  # when the row's progress was written, and its stage

        def emit(event: Event) -> None:
            if isinstance(event, TakeDone):
                self.jobs.add_take(record.id, event.take.id)
            elif isinstance(event, Progress) and event.stage == "note":  # e.g. a batch's rows that failed
                self.jobs.update(record.id, note=event.message[:500])
                return
            elif isinstance(event, Progress) and (
                event.stage != last_write[1] or time.monotonic() - last_write[0] > PROGRESS_EVERY_S
            ):  # a new stage is always written: the row never shows the last one while the next runs
                last_write[:] = time.monotonic(), event.stage
                with contextlib.suppress(Exception):
                    self.jobs.progress(record.id, *_overall(record, event, self.jobs))
            channel.emit(event)

        last: Event | None = None
        try:
            worker.execute(record, emit, token)
            state, error = "done", ""
        except Cancelled:
            if self._stop.is_set() and not self.jobs.cancel_requested(record.id):
                state, error = "running", ""  # the process is stopping: run it again on the next start
            else:
                state, error = "cancelled", "stopped"
            last = Failed("Stopped", cancelled=True)
        except WorkerDied as exc:
            log.warning("%s", exc)
            if record.attempts < MAX_ATTEMPTS and not token.cancelled:
                self.jobs.update(record.id, state="queued", stage="", note=f"{exc}; run again")
                channel.emit(Progress("queue", 0.0, f"{exc}: queued to run again"))
                with self._lock:
                    self._tokens.pop(record.id, None)
                token.cancel()
                return  # its followers stay: the re-run streams into the same channel
            state, error = "failed", f"{exc} (twice: not run again)"
            last = Failed(error)
        except StudioError as exc:
            state, error = "failed", str(exc)
            last = Failed(error)
        except Exception as exc:  # the server keeps serving; the user sees one line, the log the rest
            log.exception("job %s failed", record.id)
            state, error = "failed", f"Render failed: {type(exc).__name__}: {exc}"
            last = Failed(error)
        finally:
            with self._lock:
                self._tokens.pop(record.id, None)
        if state != "running":
            try:
                self.jobs.finish(record.id, state, error)
            except Exception:
                log.exception("could not record the end of job %s", record.id)
        with self._lock:
            self._channels.pop(record.id, None)
        channel.end(last)
        token.cancel()  # ends the watcher

    def _watch(self, job_id: str, token: CancelToken) -> None:
        """Hear a cancel asked for through the row by another process (the CLI) while the job runs."""
        while not token.cancelled:
            with contextlib.suppress(Exception):
                if self.jobs.cancel_requested(job_id):
                    self.hear_cancel(job_id)
                    return
            time.sleep(0.25)


def _ended(jobs: JobQueue, job_id: str) -> bool:
    try:
        return jobs.get(job_id).state in FINISHED
    except Exception:
        return True


def _overall(record: JobRecord, event: Progress, jobs: JobQueue) -> tuple[float, str]:
    """A job's progress as one fraction and a short line: `denoise 40%`, or `3/8 · denoise 40%` for a batch."""
    total = record.params.get("count") or 1
    done = len(jobs.get(record.id).take_ids) if total > 1 else 0
    stage = f"{event.stage} {event.fraction:.0%}" + (f" · {event.message}" if event.message else "")
    if total > 1:
        stage = f"{min(done + 1, total)}/{total} · {stage}"
    return (done + event.fraction) / total, stage
