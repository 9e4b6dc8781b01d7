"""Workers: who runs the queue's jobs. One per device.

- `LocalWorker`: the studio's own process and device (the default: one GPU, or the CPU, as always).
- `ProcessWorker`: a child process that owns one device and one PipelineManager, so several GPUs
  (`python app.py --devices cuda:0,cuda:1`) render at once. It renders into its own staging folder
  and hands each finished take back: the server's TakeStore is the one writer (it moves the folder
  into place and indexes it), so nothing is written twice or half. A child that dies mid-job is
  started again and its job re-queued once.

The protocol over the pipe (pickled tuples):
  server -> worker  ("job", record) · ("cancel",) · ("reply", ok, value) · ("stop",)
  worker -> server  ("ready", info) · ("event", event) · ("call", method, args) · ("done", takes, warm, loads)
                    · ("failed", message, cancelled)
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from dataclasses import replace
from pathlib import Path

from ..core.errors import BadInput, Cancelled, StudioError
from ..core.events import CancelToken, EventSink
from ..library.takes import owner_now
from .execute import execute
from .params import from_params
from .queue import JobRecord

log = logging.getLogger(__name__)
START_TIMEOUT_S = 300.0  # a child imports torch and diffusers and opens the model set


class WorkerDied(Exception):
    """The worker's process ended in the middle of a job (killed, or out of memory beyond recovery)."""


def parse_devices(text: str | None) -> list[str]:
    """`--devices`: a comma list (cpu, cuda, cuda:N, mps) or `all` (every visible GPU), or a one-line BadInput."""
    import torch

    if not text:
        return []
    text = text.strip().lower()
    if text == "all":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise BadInput("--devices all: no CUDA GPU is visible here (use --devices cpu,cpu to try two CPU workers)")
        return [f"cuda:{i}" for i in range(count)]
    devices = [part.strip() for part in text.split(",") if part.strip()]
    for device in devices:
        try:
            kind = torch.device(device)
        except (RuntimeError, ValueError):
            raise BadInput(f"--devices: {device!r} is not a device (cpu, cuda:0, cuda:1, ..., mps, or all)") from None
        if kind.type == "cuda" and (not torch.cuda.is_available() or (kind.index or 0) >= torch.cuda.device_count()):
            raise BadInput(f"--devices: no CUDA device {device!r} here")
        if kind.type not in ("cpu", "cuda", "mps"):
            raise BadInput(f"--devices: {device!r} is not a device (cpu, cuda:0, cuda:1, ..., mps, or all)")
    if not devices:
        raise BadInput("--devices needs at least one device, e.g. cuda:0,cuda:1")
    return devices


def variant_of(record: JobRecord, default: str) -> str | None:
    """The variant a job renders with first (for sending it where that variant is warm), if it says."""
    request = record.params.get("request") or (record.params.get("requests") or [{}])[0]
    if record.kind in ("draft", "compare", "batch"):
        return (request or {}).get("variant") or (record.params.get("variants") or [default])[0]
    return None


class LocalWorker:
    """The studio's own process: jobs run in it, on its Renderer, as they always have."""

    def __init__(self, renderer, run, name: str = ""):
        self.renderer = renderer
        self._run = run  # JobService.run: the job as checked here, else read from its row
        self.name = name or renderer.manager.policy.device
        self.busy = False

    def holds(self, variant: str | None) -> bool:
        return variant is not None and variant in self.renderer.manager.cached_variants()

    def execute(self, record: JobRecord, emit: EventSink, cancel: CancelToken) -> list:
        return self._run(record, emit, cancel)

    def close(self) -> None:
        pass


class ProcessWorker:
    """One device in a child process; `execute` relays its events and answers its store calls."""

    def __init__(self, index: int, device: str, *, model_set: str, variants_file, outputs: Path, store):
        self.index, self.device = index, device
        self.name = f"w{index} {device}"
        self.busy = False
        self.warm: set[str] = set()  # variants the child has loaded (it says after each job)
        self.loads: dict[str, int] = {}  # the child's PipelineManager.loads: component -> times loaded
        self.restarts = 0
        self._args = (model_set, str(variants_file) if variants_file else None, str(outputs))
        self._store = store
        self._process = None
        self._conn = None
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        """Start (or restart) the child; returns once it is ready to take a job."""
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked CUDA, no held locks
        parent, child = context.Pipe()
        process = context.Process(
            target=worker_main, args=(child, self.device, self.name, *self._args), name=f"ltx-{self.name}", daemon=True
        )
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            process.kill()
            raise StudioError(f"worker {self.name} did not start within {START_TIMEOUT_S:.0f} s")
        message = parent.recv()
        if message[0] != "ready":
            process.join(5)
            raise StudioError(f"worker {self.name} could not start: {message[1]}")
        self._process, self._conn = process, parent
        self.warm = set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _join(self) -> int | None:
        """Wait for a dead child and say its exit code."""
        self._process.join(5)
        return self._process.exitcode

    def holds(self, variant: str | None) -> bool:
        return variant is not None and variant in self.warm

    def execute(self, record: JobRecord, emit: EventSink, cancel: CancelToken) -> list:
        with self._lock:
            if not self.alive():
                self.restarts += 1
                self.start()
            try:
                return self._relay(record, emit, cancel)
            except (Cancelled, StudioError, WorkerDied):
                raise
            except BaseException as exc:  # out of step with the child now: end it, it restarts for the next job
                self._stop_child()
                raise WorkerDied(f"worker {self.name} was stopped: {type(exc).__name__}: {exc}") from exc

    def _stop_child(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)

    def _relay(self, record: JobRecord, emit: EventSink, cancel: CancelToken) -> list:
        """Send the job; relay the child's events and answer its store calls until it says done or failed."""
        conn = self._conn
        conn.send(("job", record))
        asked_to_stop = False
        while True:
            if cancel.cancelled and not asked_to_stop:
                conn.send(("cancel",))
                asked_to_stop = True
            try:
                ready = conn.poll(0.1)
                message = conn.recv() if ready else None
            except (EOFError, OSError):
                message = None
                ready = True
            if message is None:
                if ready or not self.alive():
                    code = self._join()
                    how = f" (exit code {code})" if code is not None else ""
                    raise WorkerDied(f"worker {self.name} stopped{how} in the middle of the job")
                continue
            kind = message[0]
            if kind == "event":
                emit(message[1])
            elif kind == "call":
                conn.send(self._answer(message[1], message[2]))
            elif kind == "done":
                self.warm, self.loads = set(message[2]), message[3]
                return message[1]
            elif kind == "failed":
                if message[2]:
                    raise Cancelled(message[1])
                raise StudioError(message[1])

    def _answer(self, method: str, args: tuple) -> tuple:
        """A store call of the child, run on the server's one TakeStore."""
        try:
            if method == "add":
                take, staged = args
                take = replace(take, worker=self.name)
                return ("reply", True, self._store.add(take, Path(staged)))
            if method == "add_files":  # from another machine: its files come with it
                take, files = args
                staged = self._store.stage()
                for name, data in files.items():
                    (staged / name).write_bytes(data)
                return ("reply", True, self._store.add(replace(take, worker=self.name), staged))
            if method == "files":  # a take's files, for a worker on another machine
                folder = self._store.get(args[0]).path("record").parent
                return ("reply", True, {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()})
            if method in ("get", "approve", "list", "children"):
                return ("reply", True, getattr(self._store, method)(*args))
            raise StudioError(f"unknown store call {method!r}")
        except Exception as exc:  # the child raises it again where it called
            return ("reply", False, exc)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("stop",))
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()


# --- the child ------------------------------------------------------------------------------------


class HandBackStore:
    """The child's view of the take store: it stages files in its own folder and asks the server
    for everything else (the server adds, indexes and lists takes)."""

    def __init__(self, root: Path, call, ship: bool = False):
        from ..library.takes import own_staging

        self.root = Path(root)
        self.takes_dir = self.root / "takes"
        self.worker = ""
        self._call = call
        self.ship = ship  # on another machine: files travel with the calls
        self.staging_dir, self._lock_file = own_staging(self.root)

    def stage(self) -> Path:
        import tempfile

        return Path(tempfile.mkdtemp(dir=self.staging_dir))

    def discard(self, staged: Path) -> None:
        import shutil

        shutil.rmtree(staged, ignore_errors=True)

    def add(self, take, staged: Path):
        take.folder = ""
        take.owner = take.owner or owner_now()  # the job's, set here: the server's store is in another thread
        if not self.ship:
            return self._call("add", (take, str(staged)))
        files = {p.name: p.read_bytes() for p in Path(staged).iterdir() if p.is_file()}
        added = self._call("add_files", (take, files))
        self.discard(staged)
        return self._here(added, files)

    def get(self, take_id: str):
        take = self._call("get", (take_id,))
        return self._here(take, self._call("files", (take_id,))) if self.ship and take.status == "ok" else take

    def _here(self, take, files: dict):
        """A take whose files are copied to this machine (the server's folder is not here)."""
        if not self.ship:
            return take
        folder = self.root / "takes" / take.id
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        take.folder = str(folder)
        return take

    def approve(self, take_id: str, approved: bool = True):
        return self._call("approve", (take_id, approved))

    def list(self, limit=None):
        return self._call("list", (limit,))

    def children(self, take_id: str):
        return self._call("children", (take_id,))


def worker_main(
    conn, device: str, name: str, model_set: str, variants_file: str | None, outputs: str, ship: bool = False
) -> None:
    """A worker: one device, one Renderer over a HandBackStore; jobs one at a time until told to stop.
    `conn` is a pipe (a process worker) or a pair of Ray queues (a Ray actor, `ship`: files travel)."""
    import queue

    os.environ["LTX_STUDIO_DEVICE"] = device
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if os.environ.get("LTX_STUDIO_WORKER_THREADS") and device == "cpu":  # bench --workers: alike in every run
        import torch

        torch.set_num_threads(int(os.environ["LTX_STUDIO_WORKER_THREADS"]))
    replies: queue.Queue = queue.Queue()
    jobs: queue.Queue = queue.Queue()
    token_box: list[CancelToken] = [CancelToken()]
    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    def call(method: str, args: tuple):
        send(("call", method, args))
        ok, value = replies.get()
        if not ok:
            raise value
        return value

    try:
        from ..core.commandline import quiet_libraries
        from ..render.renderer import Renderer

        quiet_libraries()
        store = HandBackStore(Path(outputs), call, ship=ship)
        store.worker = name
        renderer = Renderer(model_set_name=model_set, variants_file=variants_file, outputs=outputs, store=store)
    except Exception as exc:
        send(("failed_start", f"{type(exc).__name__}: {exc}"))
        return
    send(("ready", {"pid": os.getpid(), "device": renderer.manager.policy.device}))

    def read() -> None:  # the pipe's other direction: replies, cancels, the next job, stop
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                jobs.put(None)
                return
            if message[0] == "reply":
                replies.put((message[1], message[2]))
            elif message[0] == "cancel":
                token_box[0].cancel()
            elif message[0] == "job":  # its token now: a cancel right behind it must reach this job
                token_box[0] = CancelToken()
                jobs.put((message[1], token_box[0]))
            elif message[0] == "stop":
                jobs.put(None)
                return

    threading.Thread(target=read, name="worker-pipe", daemon=True).start()
    while (item := jobs.get()) is not None:
        record, token = item
        try:
            op = from_params(record.kind, record.params)
            takes = execute(
                renderer,
                op,
                lambda event: send(("event", event)),
                token,
                job_id=record.id,
                done=record.take_ids,
                owner=record.owner,
            )
            send(("done", takes, renderer.manager.cached_variants(), dict(renderer.manager.loads)))
        except Cancelled as exc:
            send(("failed", str(exc) or "stopped", True))
        except StudioError as exc:
            send(("failed", str(exc), False))
        except Exception as exc:
            log.exception("job %s failed in worker %s", record.id, name)
            send(("failed", f"Render failed: {type(exc).__name__}: {exc}", False))
        if ship:  # the copies of takes this job fetched or made: the head has them
            import shutil

            shutil.rmtree(Path(outputs) / "takes", ignore_errors=True)
