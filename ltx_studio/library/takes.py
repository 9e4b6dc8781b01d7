"""TakeStore: every take's files under the outputs folder, indexed in SQLite.

Layout: `takes/<id>/` holds video.mp4, latents.safetensors, poster.png, take.json (the record,
also the source of truth if the index is lost) and first_frame.png when one was given. A take is
assembled in `.staging/` and renamed into place whole, then indexed; a restart shows every take,
rebuilds index rows from take.json where needed, and clears half-made staging folders.

Each take records its owner (core/owners.py): the job that made it sets it (`taken_by`, around the
job), so it is in take.json and the index and survives a restart. Takes from before owners were
recorded, and those made outside the queue, have none (""): they are listed as anyone's are, and
only admins, the command line and Python act on them.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from ..core.errors import BadInput, TakeNotFound
from .media import sync_folder, write_json

log = logging.getLogger(__name__)

TAKE_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
FILES = {"video": "video.mp4", "latents": "latents.safetensors", "poster": "poster.png", "record": "take.json"}


@dataclass
class Take:
    """One rendered clip with everything needed to reproduce it, and where it came from."""

    id: str
    kind: str  # "draft" | "upscale" | "pro"
    prompt: str
    negative_prompt: str
    model_set: str
    variant: str
    seed: int
    width: int
    height: int
    frames: int
    fps: int
    steps: int
    guidance: float
    created: str = ""
    parent: str | None = None
    approved: bool = False
    image: str | None = None  # first frame file name inside the take folder
    timings: dict[str, float] = field(default_factory=dict)
    snapped: dict[str, dict] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    audio: bool = False  # the mp4 has a soundtrack
    sample_rate: int | None = None  # of the soundtrack
    typed_prompt: str | None = None  # the idea as typed, when `prompt` is its enhanced rewrite
    worker: str = ""  # the worker (device) that rendered it, e.g. "cpu" or "w1 cuda:1"
    owner: str = ""  # who may delete it (core/owners.py): the owner of the job that made it; "" for none
    status: str = "ok"  # "ok" | "missing" (files deleted by hand); not stored
    folder: str = ""  # absolute path of the take's folder; not stored

    @property
    def seconds(self) -> float:
        return (self.frames - 1) / self.fps

    def path(self, name: str) -> Path:
        """Absolute path of one of the take's files: video, latents, poster, record, image."""
        return Path(self.folder) / (self.image if name == "image" else FILES[name])

    def record(self) -> dict:
        """The stored record (no machine-specific paths)."""
        data = asdict(self)
        data.pop("status")
        data.pop("folder")
        return data

    def to_json(self) -> dict:
        """The record plus absolute file paths and status, as the CLI prints it."""
        data = self.record()
        data.update(status=self.status, folder=self.folder)
        for name in ("video", "latents", "poster"):
            data[name] = str(self.path(name))
        data["image"] = str(self.path("image")) if self.image else None
        return data

    @classmethod
    def from_record(cls, data: dict, folder: Path) -> Take:
        known = {f.name for f in fields(cls)}
        take = cls(**{k: v for k, v in data.items() if k in known})
        take.folder = str(folder)
        return take


_taken_by: contextvars.ContextVar[str] = contextvars.ContextVar("taken_by", default="")


@contextmanager
def taken_by(owner: str):
    """Takes added in this block (this thread) without an owner of their own get `owner`: a job's."""
    token = _taken_by.set(owner)
    try:
        yield
    finally:
        _taken_by.reset(token)


def created_at(when: datetime | None = None) -> str:
    """A take's `created`: UTC, to the millisecond (now, unless given)."""
    return (when or datetime.now(UTC)).isoformat(timespec="milliseconds")


def owner_now() -> str:
    """The owner takes added now get (`taken_by`); "" outside a job."""
    return _taken_by.get()


def new_take_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)  # UTC, like `created`


def check_take_id(take_id: str) -> str:
    """A take id as given, or TakeNotFound: ids never contain path parts (no `../`)."""
    if not isinstance(take_id, str) or not TAKE_ID.match(take_id):
        raise TakeNotFound(f"no take with id {str(take_id)[:80]!r}")
    return take_id


class TakeStore:
    """Takes on disk under `root`, listed newest first, with lineage and approval."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.takes_dir = self.root / "takes"
        self.db_path = self.root / "takes.db"
        self._conn: sqlite3.Connection | None = None
        self._conn_lock = threading.RLock()
        self.worker = ""  # recorded on each take added without a worker of its own
        try:
            self.takes_dir.mkdir(parents=True, exist_ok=True)
            self.staging_dir = self._own_staging()
            with self.sql() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS takes (id TEXT PRIMARY KEY, created TEXT NOT NULL, "
                    "parent TEXT, approved INTEGER NOT NULL DEFAULT 0, record TEXT NOT NULL)"
                )
                columns = {row[1] for row in db.execute("PRAGMA table_info(takes)")}
                if "owner" not in columns:  # an index from before owners: their records say (old ones: none)
                    db.execute("ALTER TABLE takes ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
                    db.execute("UPDATE takes SET owner = coalesce(json_extract(record, '$.owner'), '')")
        except (OSError, sqlite3.Error) as exc:
            raise BadInput(f"cannot use outputs folder {self.root}: {getattr(exc, 'strerror', None) or exc}") from None
        self._reindex()

    def _own_staging(self) -> Path:
        mine, self._lock_file = own_staging(self.root)
        return mine

    @contextmanager
    def sql(self):
        """The store's one connection, used by one thread at a time, committed on success.

        Keeping it open keeps SQLite's WAL and shared-memory files in place, so the index can still
        be read when the disk is full (reopening would have to create them again).
        """
        with self._conn_lock:
            if self._conn is None:
                self._conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout=30000")
            with self._conn:
                yield self._conn

    def _reindex(self) -> None:
        """Index take folders that have a record but no row (a crash between rename and insert)."""
        with self.sql() as db:
            known = {row[0] for row in db.execute("SELECT id FROM takes")}
        for record in self.takes_dir.glob("*/take.json"):
            take_id = record.parent.name
            if take_id in known or not TAKE_ID.match(take_id):
                continue
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
                take = Take.from_record({**data, "id": take_id}, record.parent)  # the folder names the take
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("skipping unreadable take record %s: %s", record, exc)
                continue
            self._insert(take)

    def stage(self) -> Path:
        """A fresh folder to assemble a take's files in before `add`."""
        return Path(tempfile.mkdtemp(dir=self.staging_dir))

    def discard(self, staged: Path) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    def add(self, take: Take, staged: Path) -> Take:
        """Move a staged folder into place under the take's id and index it."""
        take.created = take.created or created_at()
        take.worker = take.worker or self.worker
        take.owner = take.owner or owner_now()
        folder = self.takes_dir / check_take_id(take.id)
        take.folder = str(staged)
        write_json(take.path("record"), take.record())
        staged.rename(folder)
        sync_folder(self.takes_dir)
        try:
            self._insert(take)
        except BaseException:
            folder.rename(staged)  # not indexed: not placed either, so it cannot reappear on restart
            raise
        take.folder = str(folder)
        return take

    def _insert(self, take: Take) -> None:
        try:
            with self.sql() as db:
                db.execute(
                    "INSERT OR REPLACE INTO takes (id, created, parent, approved, owner, record) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (take.id, take.created, take.parent, int(take.approved), take.owner, json.dumps(take.record())),
                )
        except sqlite3.OperationalError as exc:
            # The take's folder is complete with its take.json: the next start indexes it.
            raise OSError(f"could not index take {take.id}: {exc}") from None

    def _from_row(self, record: str) -> Take:
        data = json.loads(record)
        take = Take.from_record(data, self.takes_dir / data["id"])
        if not take.path("video").exists():
            take.status = "missing"
        return take

    def get(self, take_id: str) -> Take:
        """The take with that id (status "missing" if its files were removed), or TakeNotFound."""
        check_take_id(take_id)
        with self.sql() as db:
            row = db.execute("SELECT record FROM takes WHERE id = ?", (take_id,)).fetchone()
        if row is None:
            raise TakeNotFound(f"no take with id {take_id!r}")
        return self._from_row(row[0])

    def list(self, limit: int | None = None, owner: str | None = None) -> list[Take]:
        """All takes (with `owner`: only that owner's), newest first."""
        where, args = (" WHERE owner = ?", [owner]) if owner is not None else ("", [])
        query = f"SELECT record FROM takes{where} ORDER BY created DESC, id DESC"
        with self.sql() as db:
            rows = db.execute(query + (" LIMIT ?" if limit else ""), args + ([limit] if limit else [])).fetchall()
        return [self._from_row(row[0]) for row in rows]

    def children(self, take_id: str) -> list[Take]:
        with self.sql() as db:
            rows = db.execute("SELECT record FROM takes WHERE parent = ? ORDER BY created", (take_id,)).fetchall()
        return [self._from_row(row[0]) for row in rows]

    def approve(self, take_id: str, approved: bool = True) -> Take:
        """Mark a take approved (or not); the record on disk follows."""
        take = self.get(take_id)
        take.approved = approved
        with self.sql() as db:
            changed = db.execute(
                "UPDATE takes SET approved = ?, record = ? WHERE id = ?",
                (int(approved), json.dumps(take.record()), take_id),
            ).rowcount
        if not changed:  # deleted meanwhile: never bring it back
            raise TakeNotFound(f"no take with id {take_id!r}")
        if take.status == "ok":
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile: the index already says so
                write_json(take.path("record"), take.record())
        return take

    def delete(self, take_id: str) -> None:
        """Remove a take's row and files (its children keep their own files)."""
        take = self.get(take_id)
        # Move the folder aside first: a crash now leaves a "missing" row, never a revived take.
        doomed = self.stage()
        moved = Path(take.folder).exists()
        if moved:
            Path(take.folder).rename(doomed / "take")
        try:
            with self.sql() as db:
                db.execute("DELETE FROM takes WHERE id = ?", (take_id,))
        except BaseException:
            if moved:
                (doomed / "take").rename(take.folder)  # the take stays whole and listed
            raise
        shutil.rmtree(doomed, ignore_errors=True)


def own_staging(root: Path) -> tuple[Path, object]:
    """A staging folder of this process under `root/.staging`, locked while the returned handle is
    open; unlocked leftovers of dead processes are cleared.

    The lock (flock) dies with its process, so a killed render's folder is stale even where pids
    are reused (containers), and a live process's folder is never touched.
    """
    staging = root / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    for folder in staging.iterdir():
        if folder.is_dir() and not _locked(folder):
            shutil.rmtree(folder, ignore_errors=True)  # half-made takes of a killed process
    mine = staging / f"{os.getpid()}-{secrets.token_hex(3)}"
    mine.mkdir()
    handle = open(mine / ".lock", "w")  # noqa: SIM115 - held while the owner lives
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return mine, handle


def _locked(folder: Path) -> bool:
    """Whether a live store holds this staging folder's lock."""
    try:
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
