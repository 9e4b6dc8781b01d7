"""The server-owned job queue: one row per Draft, Upscale, Pro re-render, Extend, Compare or batch in
the take store's SQLite database, run (runner.py) by the process that owns the queue.

A job outlives the page that asked for it: closing the browser only stops following it. Its inputs
(first frames, keyframes, source videos) are copied into `jobs/<id>/` when it is queued, so a
restart can run it again; they go when it ends. A job that was running when its process died is
marked interrupted and queued once more; its half-written take was never visible (takes are staged
and renamed whole). Another process (the CLI's `jobs cancel`) asks for a cancel through the row.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from ..core import owners
from ..core.errors import BadInput

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "cancelled")
MAX_ATTEMPTS = 2  # the first run, and one more after an interruption
KEEP_FINISHED = 200  # finished rows kept for the page's cards and `jobs list`
PROGRESS_EVERY_S = 0.5  # how often a running job's progress is written to its row


@dataclass
class JobRecord:
    """One job as stored: what was asked, where it stands, what it made."""

    id: str
    kind: str
    params: dict
    state: str = "queued"  # queued | running | done | failed | cancelled
    label: str = ""  # a short line for people: the prompt, or the take it works on
    owner: str = ""  # who may cancel it (core/owners.py): "user:NAME", "browser:ID", "key:DIGEST", "api", "cli"
    stage: str = ""  # the running stage, as "denoise 40%" or "2/8 · decode"
    progress: float = 0.0  # of the whole job, 0..1
    take_ids: list[str] = field(default_factory=list)
    error: str = ""
    note: str = ""  # e.g. "interrupted by a restart; run again"
    attempts: int = 0
    created: str = ""
    started: str = ""
    finished: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    def cancellable_by(self, who: str | None, admins: frozenset[str] = frozenset()) -> bool:
        """Whether `who` may cancel this job: their own; an admin or the command line any (core/owners.py)."""
        return owners.may_act(who, self.owner, admins)


def new_job_id() -> str:
    return "job-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobQueue:
    """The jobs table beside the takes table, and the folder that keeps queued jobs' inputs."""

    def __init__(self, store):
        self.store = store
        self.folder = store.root / "jobs"
        self.folder.mkdir(parents=True, exist_ok=True)
        with store.sql() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, "
                "state TEXT NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0, record TEXT NOT NULL)"
            )

    # --- rows ----------------------------------------------------------------------------------

    def add(self, kind: str, params: dict, *, owner: str = "", label: str = "", job_id: str | None = None) -> JobRecord:
        record = JobRecord(
            id=job_id or new_job_id(), kind=kind, params=params, owner=owner, label=label[:200], created=_now()
        )
        with self.store.sql() as db:
            db.execute(
                "INSERT INTO jobs (id, state, record) VALUES (?, ?, ?)",
                (record.id, record.state, json.dumps(record.to_json())),
            )
        return record

    def inputs(self, job_id: str) -> Path:
        """The folder a job's input files are copied into (made on first use)."""
        folder = self.folder / job_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def get(self, job_id: str) -> JobRecord:
        with self.store.sql() as db:
            row = db.execute("SELECT record FROM jobs WHERE id = ?", (str(job_id),)).fetchone()
        if row is None:
            raise BadInput(f"no job with id {str(job_id)[:80]!r} (python -m ltx_studio jobs list shows them)")
        return _record(row[0])

    def list(self, states: tuple[str, ...] | None = None, limit: int = 50) -> list[JobRecord]:
        """Jobs, in queue order: running and queued first (oldest first), then the newest finished ones."""
        with self.store.sql() as db:
            active = db.execute(
                "SELECT record FROM jobs WHERE state IN ('running', 'queued') ORDER BY state = 'queued', seq"
            ).fetchall()
            ended = db.execute(
                "SELECT record FROM jobs WHERE state NOT IN ('running', 'queued') ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        jobs = [_record(row[0]) for row in active + ended]
        return [job for job in jobs if states is None or job.state in states][:limit]

    def position(self, job_id: str) -> int | None:
        """1 for the first queued job, 2 for the next...; None when the job is not queued."""
        queued = [job.id for job in self.list(("queued",), limit=10_000)]
        return queued.index(job_id) + 1 if job_id in queued else None

    def update(self, job_id: str, **changes) -> JobRecord:
        """Change fields of a job's record (its state too); BadInput if there is no such job."""
        with self.store.sql() as db:
            row = db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise BadInput(f"no job with id {job_id!r}")
            record = _record(row[0])
            for key, value in changes.items():
                setattr(record, key, value)
            db.execute(
                "UPDATE jobs SET state = ?, record = ? WHERE id = ?",
                (record.state, json.dumps(record.to_json()), job_id),
            )
        return record

    def claim(self) -> JobRecord | None:
        """Mark the first queued job running and return it; None when nothing is queued. One
        transaction from the read to the write: a cancel (from any process) lands before or after it."""
        with self.store.sql() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id, record FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            record = _record(row[1])
            record.state, record.started, record.attempts = "running", _now(), record.attempts + 1
            changed = db.execute(
                "UPDATE jobs SET state = 'running', record = ? WHERE id = ? AND state = 'queued'",
                (json.dumps(record.to_json()), row[0]),
            ).rowcount
        return record if changed else None

    def progress(self, job_id: str, fraction: float, stage: str) -> None:
        self.update(job_id, progress=round(min(max(fraction, 0.0), 1.0), 3), stage=stage)

    def add_take(self, job_id: str, take_id: str) -> None:
        record = self.get(job_id)
        self.update(job_id, take_ids=[*record.take_ids, take_id])

    def finish(self, job_id: str, state: str, error: str = "") -> JobRecord:
        changes = {"progress": 1.0, "stage": ""} if state == "done" else {}
        record = self.update(job_id, state=state, error=error, finished=_now(), **changes)
        shutil.rmtree(self.folder / job_id, ignore_errors=True)  # its inputs: the takes keep what they use
        self._trim()
        return record

    def _trim(self) -> None:
        with self.store.sql() as db:
            db.execute(
                "DELETE FROM jobs WHERE state NOT IN ('running', 'queued') AND seq NOT IN "
                "(SELECT seq FROM jobs WHERE state NOT IN ('running', 'queued') ORDER BY seq DESC LIMIT ?)",
                (KEEP_FINISHED,),
            )

    def request_cancel(self, job_id: str) -> JobRecord:
        """A queued job is cancelled at once (it never runs); a running one is asked to stop."""
        with self.store.sql() as db:
            db.execute("BEGIN IMMEDIATE")  # against a claim in flight: the job is either still queued or running
            row = db.execute("SELECT state, record FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise BadInput(f"no job with id {str(job_id)[:80]!r} (python -m ltx_studio jobs list shows them)")
            if row[0] in FINISHED:
                raise BadInput(f"job {job_id} has already ended ({row[0]})")
            if row[0] == "running":
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                return _record(row[1])
            record = _record(row[1])
            record.state, record.error, record.finished = "cancelled", "cancelled before it started", _now()
            db.execute(
                "UPDATE jobs SET state = 'cancelled', record = ? WHERE id = ? AND state = 'queued'",
                (json.dumps(record.to_json()), job_id),
            )
        shutil.rmtree(self.folder / job_id, ignore_errors=True)
        return record

    def cancel_requested(self, job_id: str) -> bool:
        with self.store.sql() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def recover(self) -> list[JobRecord]:
        """After a restart: a job left running was interrupted; queue it again once (a second
        interruption fails it). Returns the jobs queued again."""
        requeued = []
        for record in self.list(("running",), limit=10_000):
            if self.cancel_requested(record.id):  # the user asked it to stop: it stays stopped
                self.finish(record.id, "cancelled", "stopped")
                continue
            if record.attempts >= MAX_ATTEMPTS:
                self.finish(record.id, "failed", "interrupted twice by a restart; not run again")
                continue
            with self.store.sql() as db:
                db.execute("UPDATE jobs SET cancel_requested = 0 WHERE id = ?", (record.id,))
            requeued.append(
                self.update(record.id, state="queued", stage="", note="interrupted by a restart; run again")
            )
        return requeued


def _record(text: str) -> JobRecord:
    data = json.loads(text)
    known = {f.name for f in fields(JobRecord)}
    return JobRecord(**{k: v for k, v in data.items() if k in known})


# --- inputs that survive a restart ------------------------------------------------------------


def _synced(path: Path) -> Path:
    """`path` (and its folder) on disk before the job's row names it: a power cut cannot leave a queued
    job whose input is missing or short."""
    from ..library.media import sync_folder

    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
    sync_folder(path.parent)
    return path


def keep_file(value, folder: Path, name: str):
    """A job input (a path, a PIL image, or frames) as something JSON can hold and a restart can read:
    files and images are copied into the job's folder. Anything else (None, a number) stays."""
    if value is None or value == "":
        return None
    if isinstance(value, Image.Image):
        (folder / name).mkdir(exist_ok=True)
        path = folder / name / "image.png"
        value.save(path)
        return str(_synced(path))
    if isinstance(value, str | Path):
        source = Path(value)
        if not source.is_file():
            raise BadInput(f"file not found: {source.name}")
        (folder / name).mkdir(exist_ok=True)
        path = folder / name / source.name  # its own name: takes record what was given by name
        shutil.copyfile(source, path)
        return str(_synced(path))
    if isinstance(value, list):  # frames given in memory (Python callers): kept as they are
        import numpy as np

        (folder / name).mkdir(exist_ok=True)
        path = folder / name / "frames.npy"
        np.save(path, np.stack([np.asarray(frame) for frame in value]))
        return {"frames": str(_synced(path))}
    return value


def read_kept(value):
    """The inverse of keep_file for what needs it: frames kept as an array become a list again."""
    if isinstance(value, dict) and "frames" in value:
        import numpy as np

        return list(np.load(value["frames"]))
    return value


def describe(record: JobRecord, position: int | None = None) -> str:
    """One line for `jobs list`."""
    where = {"queued": f"queued #{position}" if position else "queued", "running": f"running {record.stage}".strip()}
    state = where.get(record.state, record.state)
    takes = f" → {', '.join(record.take_ids)}" if record.take_ids else ""
    error = f" ({record.error})" if record.error and record.state == "failed" else ""
    return f"{record.id}  {record.kind:<8} {state}{takes}{error}  {record.label[:60]}"
