"""Editing a film: every edit is a new version of it (the older ones stay, with their takes), and an
edited shot loses its take until it is rendered again. Each edit is checked as a new film's shot list
is (render/film.py), so a film never holds what could not render.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import BadInput
from ..library.films import FilmVersion
from .conditions import keyframe_landing
from .film import check_film, film_from, held_frames


class FilmEdits:
    """The edits of the films a FilmMaker renders: re-render, change, insert, bridge, duplicate, delete,
    move a shot, use a take made from a shot, change the soundtrack."""

    def __init__(self, maker):  # a FilmMaker (render/film_render.py, which holds this)
        self.maker = maker

    @property
    def store(self):
        return self.maker.store

    @property
    def root(self) -> Path:
        return self.maker.root

    @property
    def renderer(self):
        return self.maker.renderer

    def rerender(self, film_id: str, shots: list[int], *, stale: bool = False) -> FilmVersion:
        """A new version with these shots (1-based; with `stale`, also every stale one and every continue or
        bridge beside one of them) to render again; the others keep their takes. The version before stays."""
        film = self.store.get(film_id)
        for number in shots:
            self._index(film, number)
        again = set(shots) | (set(self.maker.stale(film)) if stale else set())
        if stale:  # a continue or a bridge beside a shot rendered again would be stale once it lands: it goes too
            for number, shot in enumerate(film.record["shots"], 1):
                after = shot["begins"] in ("continue", "bridge") and number - 1 in again
                if after or (shot["begins"] == "bridge" and number + 1 in again):
                    again.add(number)
        if not again:
            raise BadInput(f"film {film.id} has no stale shots: name a shot to render again")
        shots = self._shots(film)
        for number in again:
            shots[number - 1]["take"] = None
        return self.store.revise(film.id, {**film.record, "shots": shots})

    def edit_shot(self, film_id: str, number: int, **changes) -> FilmVersion:
        """Change shot `number`'s prompt, seconds, begins, reference (a file) or options (camera, seed...)."""
        film = self.store.get(film_id)
        shots = self._shots(film)
        shot = shots[self._index(film, number)]
        if "reference" in changes:
            changes["reference"] = self.maker.keep(changes["reference"])
        changed = {key: value for key, value in changes.items() if shot.get(key) != value}
        if changed:
            shot.update(changed, take=None)
        return self._revise(film, shots)

    def insert_shot(self, film_id: str, at: int, prompt: str, seconds: float, begins: str = "cut") -> FilmVersion:
        """A new shot at position `at` (1-based; one past the last appends), not rendered yet."""
        film = self.store.get(film_id)
        shots = self._shots(film)
        if not 1 <= at <= len(shots) + 1:
            raise BadInput(f"a shot can go at 1 to {len(shots) + 1}, not {at}")
        new = {"prompt": prompt, "seconds": seconds, "begins": begins, "reference": None, "options": {}, "take": None}
        shots.insert(at - 1, new)
        return self._revise(film, shots)

    def bridge(self, film_id: str, after: int, prompt: str, seconds: float = 1.0) -> FilmVersion:
        """Gap fill: a new shot between shot `after` and the next, from the last frame of the one to the
        first frame of the other (keyframes at both ends), its length snapped so its last frame is the one
        the model's keyframe grid places (`bridge_frames`)."""
        film = self.store.get(film_id)
        shots = self._shots(film)
        if not 1 <= after < len(shots):
            raise BadInput(f"a bridge goes between two shots: after shot 1 to {len(shots) - 1}, not {after}")
        new = {"prompt": prompt, "seconds": seconds, "begins": "bridge", "reference": None, "options": {}, "take": None}
        shots.insert(after, new)
        return self._revise(film, shots)

    def bridge_frames(self, seconds: float, fps: int) -> int:
        """A bridge's frames near `seconds`: a count n whose last frame (n - 1) is where the family's grid puts
        a keyframe asked there, so the bridge ends exactly on the next shot's first frame (LTX-2: 2, 10, 18...)."""
        family, asked = self.renderer.manager.family, max(2, round(seconds * fps))
        for n in sorted(range(2, asked + 17), key=lambda n: (abs(n - asked), n)):
            if keyframe_landing(family, (n - 1) / fps, held_frames(n), fps)[1] == n - 1:
                return n
        raise BadInput(f"no bridge length near {seconds:g} s lands on the keyframe grid")

    def duplicate_shot(self, film_id: str, number: int) -> FilmVersion:
        """Shot `number` again right after itself, the same take (it stays a take of its own place)."""
        film = self.store.get(film_id)
        shots = self._shots(film)
        shots.insert(self._index(film, number) + 1, dict(shots[number - 1], begins="cut"))
        return self._revise(film, shots)

    def delete_shot(self, film_id: str, number: int) -> FilmVersion:
        film = self.store.get(film_id)
        shots = self._shots(film)
        if len(shots) == 1:
            raise BadInput("a film keeps at least one shot")
        shots.pop(self._index(film, number))
        if shots[0]["begins"] == "continue":  # nothing before it to continue now
            shots[0] = dict(shots[0], begins="cut", take=None)
        return self._revise(film, shots)

    def move_shot(self, film_id: str, number: int, to: int) -> FilmVersion:
        """Shot `number` moved to position `to` (1-based); a continue moved first becomes a cut."""
        film = self.store.get(film_id)
        shots = self._shots(film)
        shot = shots.pop(self._index(film, number))
        shots.insert(self._index(film, to), shot)
        if shots[0]["begins"] == "continue":
            shots[0] = dict(shots[0], begins="cut", take=None)
        return self._revise(film, shots)

    def use_take(self, film_id: str, number: int, take_id: str) -> FilmVersion:
        """Shot `number` as another take made from its own (a retake of a segment of it, an extension of it):
        a new version whose shot is that take, its length the take's; the other shots keep theirs."""
        film = self.store.get(film_id)
        shots = self._shots(film)
        shot = shots[self._index(film, number)]
        take = self.renderer.own_take(take_id, "used in a film")
        if not shot["take"] or shot["take"] not in self.maker.lineage(take):
            raise BadInput(f"take {take_id} was not made from shot {number}'s take: render the shot instead")
        shot.update(take=take.id, seconds=take.frames / film.record["fps"])
        return self._revise(film, shots)

    def set_soundtrack(self, film_id: str, path: Path | None) -> FilmVersion:
        """Another soundtrack (None: none); every shot then follows its slice of the new one (stale until rendered)."""
        film = self.store.get(film_id)
        record = {**film.record, "soundtrack": self.maker.keep(path), "shots": self._shots(film)}
        self._check(record)
        return self.store.revise(film.id, record)

    def _shots(self, film: FilmVersion) -> list[dict]:
        return [dict(shot, options=dict(shot["options"])) for shot in film.record["shots"]]

    def _index(self, film: FilmVersion, number) -> int:
        count = len(film.record["shots"])
        if not isinstance(number, int) or not 1 <= number <= count:
            raise BadInput(f"film {film.id} has shots 1 to {count}, not {number!r}")
        return number - 1

    def _revise(self, film: FilmVersion, shots: list[dict]) -> FilmVersion:
        record = self.snapped({**film.record, "shots": shots})
        self._check(record)
        return self.store.revise(film.id, record)

    def snapped(self, record: dict) -> dict:
        """The record with each bridge's seconds on the keyframe grid (`bridge_frames`)."""
        fps = record["fps"]
        for shot in record["shots"]:
            if shot["begins"] == "bridge":
                shot["seconds"] = self.bridge_frames(shot["seconds"], fps) / fps
        return record

    def _check(self, record: dict) -> None:
        """A revised record checked as a new film's shot list is (one line for what is wrong)."""
        data = {"fps": record["fps"], "variant": record["variant"], "shots": []}
        for shot in record["shots"]:
            item = {"prompt": shot["prompt"], "seconds": shot["seconds"], "begins": shot["begins"], **shot["options"]}
            if shot["reference"]:
                item["reference"] = str(self.root / shot["reference"]["file"])
            data["shots"].append(item)
        if record["soundtrack"]:
            data["soundtrack"] = str(self.root / record["soundtrack"]["file"])
        check_film(film_from(data, self.root, "the film"), self.renderer.model_set)
