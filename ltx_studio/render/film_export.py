"""A rendered film out to an editor, and an edit back in as a film.

The mp4 is the shots' takes joined frame-exactly (their packets copied where they share one encoder
setting, library/join.py) with one sound encoded once over the whole film: the soundtrack exactly as
given, from its start, or, without one, the shots' own sound laid end to end. The .otio is the same
film as an edit whose clips reference each shot's mp4 and the soundtrack (library/otio.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import BadInput
from ..library import media
from ..library.films import FilmVersion
from ..library.join import join_mp4
from ..library.otio import Cut, read_otio, write_otio
from ..library.sound import channels, read_soundtrack, resample
from .film import Film, Shot, check_film
from .film_render import FilmMaker


def export_film(
    maker: FilmMaker, film: FilmVersion, *, mp4: str | Path | None = None, otio: str | Path | None = None
) -> dict:
    """Write a rendered version as an mp4 and/or an .otio (both into the outputs folder when neither is
    named); BadInput in one line if a shot has no take or is stale. Returns what was written."""
    shots = film.record["shots"]
    missing = maker.missing(film)
    if missing:
        raise BadInput(f"shot {missing[0]} of film {film.id} has not been rendered: render the film first")
    stale = maker.stale(film)
    if stale:
        raise BadInput(f"shot {stale[0]} of film {film.id} continues a shot that changed: render the stale shots first")
    if mp4 is None and otio is None:
        folder = maker.exports
        folder.mkdir(parents=True, exist_ok=True)
        mp4, otio = folder / f"{film.id}-v{film.version}.mp4", folder / f"{film.id}-v{film.version}.otio"
    takes = [maker.renderer.store.get(shot["take"]) for shot in shots]
    fps, track = film.record["fps"], film.record["soundtrack"]
    frames = sum(take.frames for take in takes)
    written = {"id": film.id, "version": film.version, "frames": frames, "seconds": round(frames / fps, 6)}
    if mp4 is not None:
        audio, rate = _film_sound(maker, film, takes)
        joined = join_mp4(
            [take.path("video") for take in takes], Path(mp4), audio=audio, sample_rate=rate,
            metadata={"film": film.id, "version": film.version},
        )  # fmt: skip
        written.update(mp4=str(joined.path), copied=joined.copied)
    if otio is not None:
        cuts = [
            Cut(
                take.path("video"), take.frames, f"Shot {number}",
                {"prompt": shot["prompt"], "begins": shot["begins"], "options": shot["options"], "take": take.id},
            )
            for number, (shot, take) in enumerate(zip(shots, takes, strict=True), 1)
        ]  # fmt: skip
        sound = maker.root / track["file"] if track else None
        title = film.record.get("title") or film.id
        written["otio"] = str(write_otio(Path(otio), title, fps, cuts, sound, (track or {}).get("name", "")))
    return written


def _film_sound(maker: FilmMaker, film: FilmVersion, takes) -> tuple[np.ndarray | None, int | None]:
    """The film's sound from its start: the soundtrack as given, or the shots' own, end to end."""
    fps, track = film.record["fps"], film.record["soundtrack"]
    seconds = sum(take.frames for take in takes) / fps
    if track:
        song = read_soundtrack(maker.root / track["file"]).cut(seconds)
        return channels(song.waveform, 2), song.rate
    if not any(take.audio for take in takes):
        return None, None
    rate, pieces = None, []
    for take in takes:
        wave, take_rate = media.read_audio(take.path("video")) if take.audio else (None, None)
        rate = rate or take_rate
        samples = round(take.frames / fps * (rate or 48000))
        if wave is None:
            pieces.append(np.zeros((2, samples), np.float32))
        else:
            pieces.append(media.fit_waveform(channels(resample(wave, take_rate, rate), 2), samples))
    return np.concatenate(pieces, axis=1), rate


def film_from_otio(maker: FilmMaker, path: str | Path) -> tuple[Film, list[str | None]]:
    """An .otio as a Film (its shots' lengths from the clips, their prompts from the studio's data or the
    clip's name) and, per shot, the take it came from where this outputs folder still has it whole."""
    title, fps, cuts, sound = read_otio(path)
    shots, takes = [], []
    for number, cut in enumerate(cuts, 1):
        data = cut.data
        prompt = str(data.get("prompt") or cut.name or "").strip()
        if not prompt:
            raise BadInput(f"{Path(path).name}: clip {number} has no prompt and no name to use as one")
        begins = data.get("begins") if data.get("begins") in ("cut", "continue") and number > 1 else "cut"
        options = data.get("options") if isinstance(data.get("options"), dict) else {}
        shots.append(Shot(prompt, cut.frames / fps, begins, None, options))
        take = data.get("take")
        takes.append(take if isinstance(take, str) and maker.has_take(take, cut.frames) else None)
    film = Film(tuple(shots), sound, fps, None, None, title or Path(path).stem)
    check_film(film, maker.renderer.model_set)
    return film, takes
