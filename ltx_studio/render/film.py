"""A film as data: an ordered list of shots against at most one soundtrack, read from a shot list
(TOML, or JSON with the same keys) and checked in one line per refusal before anything renders.

A shot has a prompt, a length in seconds and how it begins: `cut` (a new shot; optionally a reference
image as its first frame, a camera move, LoRAs, a seed), `continue` (it goes on from the previous
shot's last frames and sound, as extend does) or `bridge` (gap fill: it starts on the last frame of the
shot before and ends on the first frame of the shot after, keyframes at both ends). The first shot is
always a cut; a bridge goes between two shots.

The film's timeline is on its frame grid: shot i lasts round(seconds * fps) frames and starts where
shot i-1 ends, so a cut lands on the soundtrack's time within half a frame. A shot renders on the
model's 8k+1 grid at the fewest frames that hold it (`sizing.frames_to_hold`) and is trimmed to its
own length when the film is joined: shots never overlap in the film.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..core import sizing
from ..core.errors import BadInput
from ..library import media
from ..library.sound import read_soundtrack
from ..models.variants import ModelSet

BEGINS = ("cut", "continue", "bridge")
OVERLAP = 17  # frames of the shot before that a continue renders from (as extend does): 8k+1
SHOT_OPTIONS = ("camera", "seed", "variant", "negative_prompt", "loras")  # any render option by its CLI name
SHOT_KEYS = ("prompt", "seconds", "begins", "reference", *SHOT_OPTIONS)
FILM_KEYS = ("title", "soundtrack", "fps", "variant", "resolution", "width", "height", "shots")
MAX_SHOTS = 64
MAX_FILE_BYTES = 1_000_000  # a shot list is text: a larger file is refused before it is parsed
MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class Shot:
    """One shot of a film: what happens, for how long, and how it begins."""

    prompt: str
    seconds: float
    begins: str = "cut"
    reference: Path | None = None  # a first frame / subject reference (a cut only)
    options: dict = field(default_factory=dict)  # SHOT_OPTIONS given for this shot


@dataclass(frozen=True)
class Film:
    """A checked shot list: its shots in order and the one soundtrack they follow, if any."""

    shots: tuple[Shot, ...]
    soundtrack: Path | None = None
    fps: int | None = None
    variant: str | None = None
    resolution: str | None = None  # a preset of sizing.RESOLUTIONS (default: the variant's draft size)
    title: str = ""
    width: int | None = None  # instead of a resolution: every shot's size (snapped as a render's is)
    height: int | None = None

    @property
    def seconds(self) -> float:
        return sum(shot.seconds for shot in self.shots)


@dataclass(frozen=True)
class Span:
    """Where a shot sits in the film, in frames: it starts at `start` and lasts `frames`."""

    start: int
    frames: int


def read_film(path: str | Path) -> Film:
    """A shot list file (.toml, or .json with the same keys), its files named relative to it; BadInput in
    one line for anything wrong with it (nothing is decoded: a reference image is checked from its
    header, a soundtrack from its container)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"shot list {path.name}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadInput(f"shot list {path.name} is larger than {MAX_FILE_BYTES:,} bytes: a shot list is a short text")
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"shot list {path.name} cannot be read: {str(exc).splitlines()[0][:200]}") from None
    return film_from(data, path.parent, path.name)


def film_from(data: dict, base: Path, name: str = "the shot list") -> Film:
    """A Film from a shot list's data (files relative to `base`)."""
    if not isinstance(data, dict):
        raise BadInput(f"{name}: expected a table with [[shots]]")
    unknown = sorted(set(data) - set(FILM_KEYS))
    if unknown:
        raise BadInput(f"{name}: unknown key {unknown[0]!r} (a film takes: {', '.join(FILM_KEYS)})")
    shots = data.get("shots") or []
    if not isinstance(shots, list) or not shots:
        raise BadInput(f"{name} has no shots: add at least one [[shots]] with a prompt and seconds")
    if len(shots) > MAX_SHOTS:
        raise BadInput(f"{name} has {len(shots)} shots: a film takes at most {MAX_SHOTS}")
    film = Film(
        tuple(_shot(item, i, base) for i, item in enumerate(shots, 1)),
        _file(data.get("soundtrack"), base, "soundtrack"),
        _fps(data.get("fps")),
        str(data["variant"]) if data.get("variant") else None,
        str(data["resolution"]) if data.get("resolution") else None,
        str(data.get("title") or Path(name).stem)[:200],
        data.get("width"),
        data.get("height"),
    )
    if film.shots[0].begins != "cut":
        raise BadInput(f"shot 1 begins with {film.shots[0].begins!r}, but there is nothing before it: make it a cut")
    if film.shots[-1].begins == "bridge":
        raise BadInput(f"shot {len(film.shots)} is a bridge with no shot after it: a bridge goes between two shots")
    return film


def _shot(item, number: int, base: Path) -> Shot:
    if not isinstance(item, dict):
        raise BadInput(f"shot {number}: expected a table with a prompt and seconds")
    unknown = sorted(set(item) - set(SHOT_KEYS))
    if unknown:
        raise BadInput(f"shot {number}: unknown key {unknown[0]!r} (a shot takes: {', '.join(SHOT_KEYS)})")
    prompt = str(item.get("prompt") or "").strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadInput(f"shot {number}: the prompt is {len(prompt):,} characters (at most {MAX_PROMPT_CHARS:,})")
    try:
        seconds = float(item.get("seconds"))
    except (TypeError, ValueError):
        raise BadInput(f"shot {number}: seconds must be a number, got {item.get('seconds')!r}") from None
    if not 0 < seconds < 3600:
        raise BadInput(f"shot {number}: seconds must be more than 0, got {seconds:g}")
    begins = str(item.get("begins") or "cut").strip().lower()
    if begins not in BEGINS:
        raise BadInput(f"shot {number}: begins must be 'cut', 'continue' or 'bridge', got {begins!r}")
    reference = _file(item.get("reference"), base, f"shot {number}'s reference")
    if reference is not None:
        if begins != "cut":
            raise BadInput(f"shot {number} begins with {begins!r}: a reference image is for a cut")
        try:
            media.check_image(reference)
        except BadInput as exc:
            raise BadInput(f"shot {number}'s reference: {exc}") from None
    if not prompt and reference is None:
        raise BadInput(f"shot {number} has no prompt (and no reference image): say what happens in it")
    options = {key: item[key] for key in SHOT_OPTIONS if item.get(key) not in (None, "")}
    return Shot(prompt, seconds, begins, reference, options)


def _file(value, base: Path, what: str) -> Path | None:
    if not value:
        return None
    path = (base / str(value)).resolve()
    if not path.is_file():
        raise BadInput(f"{what} {Path(str(value)).name}: no such file next to the shot list")
    return path


def _fps(value) -> int | None:
    if value in (None, ""):
        return None
    if not isinstance(value, int) or not 1 <= value <= 120:
        raise BadInput(f"fps must be a whole number from 1 to 120, got {value!r}")
    return value


def timeline(film: Film, fps: int) -> list[Span]:
    """Each shot's place in the film, on its frame grid (shots butt-joined; see the module's docstring)."""
    spans, start = [], 0
    for shot in film.shots:
        frames = max(1, round(shot.seconds * fps))
        spans.append(Span(start, frames))
        start += frames
    return spans


def held_frames(frames: int, lead: int = 0) -> int:
    """The frames a shot of `frames` renders on the model's 8k+1 grid: the fewest that hold it, after
    `lead` frames of the shot before it (a continue's overlap, itself 8k+1; 0 for a cut)."""
    if lead:
        return lead + -(-frames // sizing.FRAME_MULTIPLE) * sizing.FRAME_MULTIPLE
    return sizing.frames_to_hold(frames, 1)


def check_film(film: Film, model_set: ModelSet) -> int:
    """Check a film against the set that renders it; returns its fps. BadInput in one line for a shot
    longer than its variant renders (split it into shots that continue), a soundtrack on a set without
    sound, or a soundtrack shorter than the shots (the picture would run on in silence)."""
    variant = model_set.variant(film.variant or model_set.default_variant)
    fps = film.fps or variant.sampling.fps
    for number, (shot, span) in enumerate(zip(film.shots, timeline(film, fps), strict=True), 1):
        spec = model_set.variant(str(shot.options.get("variant") or variant.name))
        lead = OVERLAP if shot.begins == "continue" else 0
        most = sizing.seconds_for_frames(spec.max_frames - lead, fps)
        if held_frames(span.frames, lead) > spec.max_frames:
            raise BadInput(
                f"shot {number} is {shot.seconds:g} s: {spec.name} renders at most {most:.1f} s a shot at {fps} fps "
                "(split it into shots that continue)"
            )
    if film.soundtrack is not None:
        if not model_set.has_audio:
            raise BadInput(f"model set {model_set.name} makes no sound: a film with a soundtrack needs an LTX-2 set")
        track = read_soundtrack(film.soundtrack)
        length = sum(span.frames for span in timeline(film, fps)) / fps
        if track.seconds + 0.5 / fps < length:
            raise BadInput(
                f"the soundtrack {film.soundtrack.name} is {track.seconds:.2f} s, shorter than the shots "
                f"({length:.2f} s): shorten the shots or use a longer soundtrack"
            )
    return fps
