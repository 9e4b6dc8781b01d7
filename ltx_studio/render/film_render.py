"""Render a film: each shot an ordinary take, against its own slice of the film's soundtrack.

A film version's record (library/films.py) holds its shots, its size, fps and model set, and the
soundtrack and reference images as files of its own (`films/files/` in the outputs folder, named by
their content, so versions share them and an edit never changes an older version's inputs).

A cut renders the fewest frames on the model's grid that hold it and keeps its own; a `continue`
renders from the last OVERLAP frames of the shot before (a video condition at index 0, as extend
does) and keeps what comes after them. With a soundtrack every shot is audio-to-video against the
seconds of the song it covers (a continue's overlap included), and its take carries those seconds
of the song exactly; without one, a continue holds the sound of the shot before over the overlap,
so its own sound carries on from it. A shot's take is tagged with its film, version, position and
the take it continued from: a continue whose shot before has since changed is stale.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..core.errors import BadInput, StudioError
from ..core.events import Progress
from ..library import media
from ..library.films import FilmStore, FilmVersion
from ..library.sound import channels
from ..models.families.base import Decoded
from ..models.set_loras import subject_lora
from .film import OVERLAP, Film, Shot, Span, check_film, held_frames, timeline
from .film_edit import FilmEdits
from .fit import check_fits
from .hold import Hold
from .request import RenderRequest
from .story import TakeSpec

if TYPE_CHECKING:
    from ..core.events import CancelToken, EventSink
    from ..library.takes import Take
    from .renderer import Renderer

FILES = Path("films") / "files"  # in the outputs folder: a film's inputs
EXPORTS = Path("films") / "exports"  # in the outputs folder: films exported there (served to the page and the API)


class FilmMaker:
    """Films over one Renderer: made from a shot list, rendered shot by shot, revised, described."""

    def __init__(self, renderer: Renderer):
        self.renderer = renderer
        self.store = FilmStore(renderer.store)
        self.edits = FilmEdits(self)

    @property
    def root(self) -> Path:
        return self.renderer.store.root

    @property
    def exports(self) -> Path:
        return self.root / EXPORTS

    @property
    def files(self) -> Path:
        """Where films keep their inputs (soundtracks, references), served to the page's players."""
        return self.root / FILES

    # --- making and revising -------------------------------------------------------------------

    def create(self, film: Film, *, owner: str = "", takes: list[str | None] | None = None) -> FilmVersion:
        """A checked film as a new record (version 1); its files kept with it. `takes`: a take per shot
        already made (an imported edit's), None for a shot to render."""
        mset = self.renderer.model_set
        fps = check_film(film, mset)
        variant = film.variant or mset.default_variant
        size = self.renderer.plan(
            RenderRequest(
                prompt="size",
                variant=variant,
                resolution=film.resolution,
                width=film.width,
                height=film.height,
                frames=9,
            )
        )
        record = {
            "title": film.title,
            "model_set": mset.name,
            "variant": size.variant.name,
            "fps": fps,
            "width": size.width,
            "height": size.height,
            "soundtrack": self.keep(film.soundtrack),
            "shots": [
                {
                    "prompt": shot.prompt,
                    "seconds": shot.seconds,
                    "begins": shot.begins,
                    "reference": self.keep(shot.reference),
                    "options": dict(shot.options),
                    "take": (takes or [None] * len(film.shots))[i],
                }
                for i, shot in enumerate(film.shots)
            ],
        }
        return self.store.create(self.edits.snapped(record), owner=owner)

    def stale(self, film: FilmVersion) -> list[int]:
        """The shots (1-based) whose take no longer fits its place: a continue whose shot before is now
        another take, a shot whose length changed, or (with a soundtrack) one that moved on the song."""
        shots, found = film.record["shots"], []
        spans = timeline(film_of(film.record, self.root), film.record["fps"])
        for number, (shot, span) in enumerate(zip(shots, spans, strict=True), 1):
            if not shot["take"] or not self._has(shot["take"]):
                continue
            take = self._take(shot["take"])
            tag = self._tag(take)
            moved = film.record["soundtrack"] and tag.get("start", span.start) != span.start
            went_on = shot["begins"] in ("continue", "bridge") and tag.get("after") != shots[number - 2]["take"]
            lands = shot["begins"] == "bridge" and tag.get("before") != (
                shots[number]["take"] if number < len(shots) else None
            )
            if take.frames != span.frames or moved or went_on or lands:
                found.append(number)
        return found

    def lineage(self, take: Take, depth: int = 16) -> list[str]:
        """A take's id and its parents' ids, nearest first (at most `depth`)."""
        found = [take.id]
        while take.parent and len(found) < depth and self._has(take.parent):
            take = self._take(take.parent)
            found.append(take.id)
        return found

    def _tag(self, take: Take) -> dict:
        """Where a take sits in its film: its own tag, or that of the shot it was made from (a retake or an
        extension of a shot carries none of its own)."""
        for take_id in self.lineage(take):
            tag = self._take(take_id).settings.get("film")
            if tag:
                return tag
        return {}

    def shot_take(self, film_id: str, number: int) -> str:
        """The take of shot `number` (1-based) of a film's newest version, or BadInput in one line."""
        film = self.store.get(film_id)
        count = len(film.record["shots"])
        if not isinstance(number, int) or not 1 <= number <= count:
            raise BadInput(f"film {film.id} has shots 1 to {count}, not {number!r}")
        take = film.record["shots"][number - 1]["take"]
        if not take or not self._has(take):
            raise BadInput(f"shot {number} of film {film.id} has not been rendered: render the film first")
        return take

    def check_render(self, film_id: str, version: int | None = None) -> tuple[FilmVersion, list[int]]:
        """(the version, the shots it would render), or BadInput in one line: a film of another model set,
        or one with every shot rendered already."""
        film = self.store.get(film_id, version)
        self._for_this_set(film)
        todo = self.missing(film)
        if not todo:
            raise BadInput(
                f"every shot of film {film.id} (version {film.version}) has its take: re-render a shot to make it again"
            )
        record, fps = film.record, film.record["fps"]  # the longest shot it renders (a continue's overlap in it)
        spans = timeline(film_of(record, self.root), fps)
        shots = record["shots"]
        longest = max(
            held_frames(spans[n - 1].frames, OVERLAP if shots[n - 1]["begins"] == "continue" else 0) for n in todo
        )
        variant = self.renderer.model_set.variant(record["variant"])
        guided = variant.sampling.guidance > 1
        check_fits(self.renderer.manager.policy, record["width"], record["height"], longest, fps, guided=guided)
        return film, todo

    def _for_this_set(self, film: FilmVersion) -> None:
        if film.record["model_set"] != self.renderer.model_set.name:
            raise BadInput(
                f"film {film.id} is for model set {film.record['model_set']!r}; this studio runs "
                f"{self.renderer.model_set.name!r} (switch to it to render this film)"
            )

    def missing(self, film: FilmVersion) -> list[int]:
        """The shots (1-based) of a version with no whole take yet, in the order rendering makes them: each
        in its turn, the bridges last (a bridge ends on the first frame of the shot after it)."""
        shots = film.record["shots"]
        found = [n for n, shot in enumerate(shots, 1) if not shot["take"] or not self._has(shot["take"])]
        return sorted(found, key=lambda n: shots[n - 1]["begins"] == "bridge")

    # --- rendering -----------------------------------------------------------------------------

    def render(
        self,
        film_id: str,
        version: int | None = None,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        done: list[str] | tuple[str, ...] = (),
    ) -> list[Take]:
        """Render every shot of a version that has no take yet, in order; each take is recorded in the
        version as it lands, so an interrupted film resumes after the shots already made (`done`: takes
        an interrupted job made, found again by their tag if the version did not record them)."""
        emit = on_event or (lambda event: None)
        film = self.store.get(film_id, version)
        self._for_this_set(film)
        self._adopt(film, done)
        film = self.store.get(film.id, film.version)
        todo = self.missing(film)
        spans = timeline(film_of(film.record, self.root), film.record["fps"])
        made = []
        for i, number in enumerate(todo):
            emit(Progress("shot", i / len(todo), f"Shot {number} of {len(spans)}"))
            before = film.record["shots"][number - 2]["take"] if number > 1 else None
            take = self._render_shot(film, number, spans, before, emit, cancel)
            film = self.store.fill(film.id, film.version, number, take.id)
            made.append(take)
        return made

    def _adopt(self, film: FilmVersion, done) -> None:
        """Takes an interrupted job made for this version that it had not recorded yet."""
        for take_id in done:
            if not self._has(take_id):
                continue
            tag = self._take(take_id).settings.get("film", {})
            if tag.get("id") == film.id and tag.get("version") == film.version:
                number = tag["shot"]
                if not film.record["shots"][number - 1]["take"]:
                    self.store.fill(film.id, film.version, number, take_id)

    def _render_shot(self, film: FilmVersion, number: int, spans: list[Span], before: str | None, emit, cancel):
        record, span = film.record, spans[number - 1]
        shot, fps = record["shots"][number - 1], record["fps"]
        options = shot["options"]
        request = RenderRequest(
            prompt=shot["prompt"],
            negative_prompt=options.get("negative_prompt"),
            variant=options.get("variant") or record["variant"],
            seed=int(options.get("seed", -1)),
            width=record["width"],
            height=record["height"],
            fps=fps,
            audio=True,
            loras=list(options.get("loras") or []),
            camera=options.get("camera"),
        )
        lead, sound, rate, previous = 0, None, None, None
        if shot["begins"] == "continue":
            if not before or not self._has(before):
                raise StudioError(f"shot {number} continues shot {number - 1}, which has no take: render it first")
            previous = self._take(before)
            frames, _ = media.read_mp4(previous.path("video"))
            lead = min(OVERLAP, ((len(frames) - 1) // 8) * 8 + 1)
            request.video = list(frames[-lead:])
            if previous.audio and not record["soundtrack"]:
                sound, rate = media.read_audio(previous.path("video"))
        elif shot["begins"] == "bridge":  # from the last frame before it to the first frame after it
            ends = [record["shots"][number - 2]["take"], record["shots"][number]["take"]]
            if not all(ends) or not all(self._has(end) for end in ends):
                raise StudioError(f"shot {number} bridges shots {number - 1} and {number + 1}: render them first")
            previous, after = (self._take(end) for end in ends)
            request.keyframes = [
                {"image": Image.fromarray(media.read_mp4(previous.path("video"))[0][-1]), "seconds": 0.0},
                {
                    "image": Image.fromarray(media.read_mp4(after.path("video"))[0][0]),
                    "seconds": (span.frames - 1) / fps,
                },
            ]
        elif shot["reference"]:
            self._reference(request, self.root / shot["reference"]["file"], held_frames(span.frames))
        request.frames = held_frames(span.frames, lead)
        if record["soundtrack"]:
            request.soundtrack = self.root / record["soundtrack"]["file"]
            request.soundtrack_start = (span.start - lead) / fps
        plan = self.renderer.plan(request)
        hold = None
        if plan.soundtrack is not None:  # the song's seconds under the whole clip, overlap included
            hold = Hold(waveform=plan.soundtrack.waveform, rate=plan.soundtrack.rate)
        elif sound is not None:  # the overlap's own sound is held, so the shot's sound carries on from it
            keep = round(lead / fps * rate)
            hold = Hold(
                waveform=sound[:, max(0, sound.shape[1] - keep) :],
                rate=rate,
                audio_free_s=(lead / fps, plan.frames / fps),
            )

        def own(decoded: Decoded) -> Decoded:
            """The shot's own frames (after the overlap), and its sound: the song's, or the one made."""
            picture = decoded.frames[lead : lead + span.frames]
            if plan.soundtrack is not None:
                track, out_rate = channels(plan.soundtrack.waveform, 2), plan.soundtrack.rate
            elif decoded.audio is not None:
                track, out_rate = decoded.audio, decoded.sample_rate
            else:
                return Decoded(picture, None, None)
            start = round(lead / fps * out_rate)
            return Decoded(picture, media.fit_waveform(track[:, start:], round(span.frames / fps * out_rate)), out_rate)

        tag = {
            "id": film.id, "version": film.version, "shot": number, "after": previous.id if previous else None,
            "start": span.start,
        }  # fmt: skip
        if shot["begins"] == "bridge":  # it ends on that take's first frame
            tag["before"] = record["shots"][number]["take"]
        parent = previous.id if previous and shot["begins"] == "continue" else None  # a continue goes on from it
        spec = TakeSpec(kind="shot", parent=parent, record={"film": tag}, hold=hold, join=own)
        return self.renderer.run(plan, spec, on_event=emit, cancel=cancel)

    def _reference(self, request: RenderRequest, image: Path, frames: int) -> None:
        """A cut's reference image: on a set with a reference-sheet IC-LoRA (LTX-2.3's Ingredients) the
        sheet it follows, the still looped to the clip's length at its size, as the LoRA was trained; on
        any other set, the shot's first frame."""
        sheet = subject_lora(self.renderer.model_set)
        if sheet is None:
            request.image = image
            return
        still = np.asarray(media.load_image(image).convert("RGB"))
        request.reference = [still] * frames
        request.loras = [*request.loras, (sheet, 1.0)]

    # --- reading -------------------------------------------------------------------------------

    def describe(self, film: FilmVersion) -> dict:
        """A version as the CLI's --json and the API give it: id, version, seconds, frames, fps, size and,
        per shot, its take, start and length (s), how it begins and whether it is stale."""
        record, fps = film.record, film.record["fps"]
        spans = timeline(film_of(record, self.root), fps)
        stale = set(self.stale(film))
        frames = sum(span.frames for span in spans)
        return {
            "id": film.id,
            "version": film.version,
            "title": record.get("title", ""),
            "model_set": record["model_set"],
            "fps": fps,
            "width": record["width"],
            "height": record["height"],
            "frames": frames,
            "seconds": round(frames / fps, 6),
            "soundtrack": (record["soundtrack"] or {}).get("name"),
            "shots": [
                {
                    "shot": number,
                    "take": shot["take"],
                    "start": round(span.start / fps, 6),
                    "seconds": round(span.frames / fps, 6),
                    "frames": span.frames,
                    "begins": shot["begins"],
                    "prompt": shot["prompt"],
                    "stale": number in stale,
                }
                for number, (shot, span) in enumerate(zip(record["shots"], spans, strict=True), 1)
            ],
        }

    def has_take(self, take_id: str, frames: int | None = None) -> bool:
        """Whether this outputs folder has the take whole (and, with `frames`, of that many frames)."""
        try:
            take = self._take(take_id)
        except StudioError:
            return False
        return take.status == "ok" and (frames is None or take.frames == frames)

    def _has(self, take_id: str) -> bool:
        return self.has_take(take_id)

    def _take(self, take_id: str) -> Take:
        return self.renderer.store.get(take_id)

    def keep(self, path: Path | None) -> dict | None:
        """A film's input file, copied into the outputs folder under its content's name."""
        if path is None:
            return None
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]
        kept = FILES / f"{digest}{Path(path).suffix.lower()}"
        if not (self.root / kept).is_file():
            (self.root / FILES).mkdir(parents=True, exist_ok=True)
            tmp = media.tmp_path(self.root / kept)
            shutil.copyfile(path, tmp)
            media.commit(tmp, self.root / kept)
        return {"file": kept.as_posix(), "name": Path(path).name}


def film_of(record: dict, root: Path) -> Film:
    """A version's record as a Film (its files where the outputs folder keeps them)."""
    shots = tuple(
        Shot(
            shot["prompt"],
            shot["seconds"],
            shot["begins"],
            root / shot["reference"]["file"] if shot["reference"] else None,
            dict(shot["options"]),
        )
        for shot in record["shots"]
    )
    track = record.get("soundtrack")
    return replace(
        Film(shots, root / track["file"] if track else None, record["fps"], record["variant"]),
        title=record.get("title", ""),
    )
