"""Films in the take store: a table beside the takes, one row per version of a film.

A film's record is plain data (its shots in order with the take each one rendered, its soundtrack,
fps and model set; `render/film.py` says what a shot is). A version's shots never change: editing a
shot makes a new version and the older ones stay, so an edit can be compared with or taken back to
what came before. The one thing written into a version after it is made is the take each of its
shots rendered (`fill`), once, as the shot lands. The rows live in takes.db, so a restart finds every film and every version again.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..core.errors import BadInput
from .takes import TakeStore

FILM_ID = re.compile(r"^film-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
MAX_RECORD_BYTES = 1_000_000  # a film's record is its shot list and take ids: text


@dataclass(frozen=True)
class FilmVersion:
    """One version of a film: its id, its version number (1, 2, ...), who made it, when, and its record."""

    id: str
    version: int
    owner: str = ""
    created: str = ""
    record: dict = field(default_factory=dict)


def new_film_id() -> str:
    return "film-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def check_film_id(film_id: str) -> str:
    """A film id as given, or BadInput in one line (ids never carry path parts)."""
    if not isinstance(film_id, str) or not FILM_ID.match(film_id):
        raise BadInput(f"no film with id {str(film_id)[:80]!r}")
    return film_id


class FilmStore:
    """The films of one outputs folder: versions added, never changed."""

    def __init__(self, store: TakeStore):
        self.store = store
        with store.sql() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS films (id TEXT NOT NULL, version INTEGER NOT NULL, owner TEXT NOT NULL "
                "DEFAULT '', created TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (id, version))"
            )

    def create(self, record: dict, *, owner: str = "") -> FilmVersion:
        """A new film, as its version 1."""
        return self._insert(new_film_id(), None, record, owner)

    def revise(self, film_id: str, record: dict, *, owner: str | None = None) -> FilmVersion:
        """The film's next version (the newest one's owner, unless `owner` is given); the older ones stay."""
        newest = self.get(film_id)
        return self._insert(newest.id, newest.version, record, newest.owner if owner is None else owner)

    def get(self, film_id: str, version: int | None = None) -> FilmVersion:
        """A version of a film (its newest when `version` is None); BadInput in one line if there is none."""
        film_id = check_film_id(film_id)
        with self.store.sql() as db:
            if version is None:
                row = db.execute(
                    "SELECT id, version, owner, created, record FROM films WHERE id = ? ORDER BY version DESC LIMIT 1",
                    (film_id,),
                ).fetchone()
            else:
                row = db.execute(
                    "SELECT id, version, owner, created, record FROM films WHERE id = ? AND version = ?",
                    (film_id, int(version)),
                ).fetchone()
        if row is None:
            which = f"version {version} of film {film_id}" if version is not None else f"film {film_id}"
            raise BadInput(f"no {which} (python -m ltx_studio film list shows them)")
        return _version(row)

    def versions(self, film_id: str) -> list[FilmVersion]:
        """Every version of a film, oldest first."""
        film_id = check_film_id(film_id)
        with self.store.sql() as db:
            rows = db.execute(
                "SELECT id, version, owner, created, record FROM films WHERE id = ? ORDER BY version", (film_id,)
            ).fetchall()
        return [_version(row) for row in rows]

    def list(self, owner: str | None = None) -> list[FilmVersion]:
        """The newest version of each film, newest film first (with `owner`: only theirs)."""
        with self.store.sql() as db:
            rows = db.execute(
                "SELECT f.id, f.version, f.owner, f.created, f.record FROM films f JOIN (SELECT id, max(version) AS v "
                "FROM films GROUP BY id) newest ON f.id = newest.id AND f.version = newest.v ORDER BY f.id DESC"
            ).fetchall()
        films = [_version(row) for row in rows]
        return [film for film in films if owner is None or film.owner == owner]

    def fill(self, film_id: str, version: int, position: int, take_id: str) -> FilmVersion:
        """Record the take shot `position` (1-based) of a version rendered; read and written in one
        transaction, so two shots landing at once both stay."""
        with self.store.sql() as db:
            row = db.execute(
                "SELECT id, version, owner, created, record FROM films WHERE id = ? AND version = ?",
                (check_film_id(film_id), int(version)),
            ).fetchone()
            if row is None:
                raise BadInput(f"no version {version} of film {film_id}")
            film = _version(row)
            film.record["shots"][position - 1]["take"] = take_id
            db.execute(
                "UPDATE films SET record = ? WHERE id = ? AND version = ?",
                (json.dumps(film.record, sort_keys=True), film.id, film.version),
            )
        return film

    def _insert(self, film_id: str, after: int | None, record: dict, owner: str) -> FilmVersion:
        """Add the version after `after` (None: a new film's first), numbered in the same transaction as
        the insert: two edits at once make two versions, never one lost."""
        text = json.dumps(record, sort_keys=True)
        if len(text) > MAX_RECORD_BYTES:
            raise BadInput(f"a film's record is {len(text):,} bytes: at most {MAX_RECORD_BYTES:,}")
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self.store.sql() as db:
            (newest,) = db.execute("SELECT coalesce(max(version), 0) FROM films WHERE id = ?", (film_id,)).fetchone()
            if after is not None and newest == 0:
                raise BadInput(f"no film {film_id}")
            version = int(newest) + 1
            db.execute(
                "INSERT INTO films (id, version, owner, created, record) VALUES (?, ?, ?, ?, ?)",
                (film_id, version, owner, created, text),
            )
        return FilmVersion(film_id, version, owner, created, json.loads(text))


def _version(row) -> FilmVersion:
    film_id, version, owner, created, record = row
    return FilmVersion(film_id, int(version), owner, created, json.loads(record))
