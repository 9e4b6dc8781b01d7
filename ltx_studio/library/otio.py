"""A film as an OpenTimelineIO edit (`.otio`, the `opentimelineio` package), and back.

The timeline has a picture track of clips, one per shot, each referencing its shot's mp4 by file URL
with the shot's range on the film's frame rate, and a sound track: the film's soundtrack as one clip
over the whole film, or, without one, each shot's own sound (the same mp4s). What the studio needs
to make the film again (a shot's prompt, how it begins, its options and take) rides in each clip's
metadata under "ltx_studio"; an editor keeps it and ignores it. Reading a file checks its size before
parsing it and refuses, in one line, a timeline whose media are gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..core.errors import BadInput

MAX_FILE_BYTES = 5_000_000  # an edit of at most 64 shots is text: a larger file is refused unread
KEY = "ltx_studio"


@dataclass(frozen=True)
class Cut:
    """One clip of the picture track: its media file, its length in frames, and the studio's data."""

    media: Path
    frames: int
    name: str = ""
    data: dict = field(default_factory=dict)


def write_otio(
    path: Path, title: str, fps: int, cuts: list[Cut], sound: Path | None = None, sound_name: str = ""
) -> Path:
    """Write the film's edit as `path`; `sound` is its soundtrack (None: each shot's own sound)."""
    import opentimelineio as otio

    def span(frames: int):
        return otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(frames, fps))

    def reference(media: Path, frames: int):
        return otio.schema.ExternalReference(target_url=Path(media).resolve().as_uri(), available_range=span(frames))

    timeline = otio.schema.Timeline(name=title or "film")
    timeline.global_start_time = otio.opentime.RationalTime(0, fps)
    picture = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    audio = otio.schema.Track(name="Sound", kind=otio.schema.TrackKind.Audio)
    for cut in cuts:
        picture.append(
            otio.schema.Clip(
                name=cut.name, media_reference=reference(cut.media, cut.frames), source_range=span(cut.frames),
                metadata={KEY: cut.data},
            )
        )  # fmt: skip
        if sound is None:
            audio.append(
                otio.schema.Clip(
                    name=cut.name, media_reference=reference(cut.media, cut.frames), source_range=span(cut.frames)
                )
            )
    if sound is not None:
        total = sum(cut.frames for cut in cuts)
        audio.append(
            otio.schema.Clip(
                name=sound_name or Path(sound).name,
                media_reference=reference(sound, total),
                source_range=span(total),
                metadata={KEY: {"soundtrack": True}},
            )
        )
    timeline.tracks.append(picture)
    timeline.tracks.append(audio)
    otio.adapters.write_to_file(timeline, str(path))
    return Path(path)


def read_otio(path: str | Path) -> tuple[str, int, list[Cut], Path | None]:
    """(title, fps, the picture track's cuts, the soundtrack file or None) of an .otio; BadInput in one
    line for a file too large, unreadable, without a picture track, or whose media are gone."""
    import opentimelineio as otio

    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path.name}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadInput(f"{path.name} is larger than {MAX_FILE_BYTES:,} bytes: not an edit of a film")
    try:
        timeline = otio.adapters.read_from_file(str(path))
    except Exception as exc:  # the adapters raise their own kinds for every malformed file
        raise BadInput(f"{path.name} cannot be read as OpenTimelineIO: {str(exc).splitlines()[0][:160]}") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise BadInput(f"{path.name} holds no timeline")
    videos = [track for track in timeline.tracks if track.kind == otio.schema.TrackKind.Video]
    if not videos:
        raise BadInput(f"{path.name} has no picture track")
    cuts, gone, fps = [], [], None
    for item in videos[0]:
        if not isinstance(item, otio.schema.Clip):
            raise BadInput(f"{path.name}: only clips one after another can be read (found a {type(item).__name__})")
        duration = item.trimmed_range().duration
        fps = fps or round(duration.rate)
        media = _file(item.media_reference)
        if media is None or not media.is_file():
            gone.append(item.name or str(media))
        cuts.append(Cut(media, round(duration.to_frames()), item.name, dict(item.metadata.get(KEY, {}))))
    sound = None
    for track in timeline.tracks:
        if track.kind != otio.schema.TrackKind.Audio:
            continue
        for item in track:
            if isinstance(item, otio.schema.Clip) and item.metadata.get(KEY, {}).get("soundtrack"):
                sound = _file(item.media_reference)
                if sound is None or not sound.is_file():
                    gone.append(item.name or str(sound))
    if gone:
        raise BadInput(f"{path.name} references {len(gone)} file(s) that are gone: {', '.join(map(str, gone[:3]))}")
    if not cuts:
        raise BadInput(f"{path.name}: its picture track has no clips")
    return timeline.name, int(fps), cuts, sound


def _file(reference) -> Path | None:
    url = getattr(reference, "target_url", None)
    if not url:
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else None
