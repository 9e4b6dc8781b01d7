"""Probe a video or audio file before decoding it, then decode only what a render needs.

Every video and audio input passes here first. `probe_video` / `probe_audio` read the container's
headers (PyAV, nothing decoded): its streams, picture size, frame rate, frame count or duration, and
sample rate; what is over a limit is refused in one line, at the door, before any work. Decoding
happens later, in the job, and stops at what the render needs: `video_frames` stops after the frames
the clip uses (each scaled down at once to the size it is rendered at), `audio_samples` after the
seconds it uses. A file whose headers lie (more frames or seconds than they say) costs no more than
one that tells the truth: the work is bounded by what was asked, not by the file.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.errors import BadInput

FPS_RANGE = (1.0, 240.0)  # a frame rate outside it is clamped to it (a file saying 1/20000 fps is not believed)
MIN_RATE, MAX_RATE = 8000, 384_000  # sample rates (AAC carries 8 kHz and up)
MAX_SECONDS = 3 * 3600.0  # a media file longer than this is refused (a song, a shot, a scene: not a film archive)
MAX_VIDEO_PIXELS = 4096 * 2304  # per frame
MAX_CHANNELS = 8


@dataclass(frozen=True)
class VideoInfo:
    """What a video's headers say: picture size, frame rate (clamped), frame count (counted or estimated)."""

    name: str
    width: int
    height: int
    fps: float
    frames: int
    seconds: float
    has_sound: bool


@dataclass(frozen=True)
class AudioInfo:
    """What an audio track's headers say: sample rate, channels, seconds."""

    name: str
    rate: int
    channels: int
    seconds: float


NOT_VIDEO = "{name} is not a video: give an mp4, mov, webm or mkv"
NOT_AUDIO = "{name} is not audio: give a wav, mp3, m4a or flac file, or a video with sound"


def _open(path: Path, what: str, refusal: str = NOT_VIDEO):
    import av

    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what} not found: {path.name}")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError):
        raise BadInput(refusal.format(name=path.name)) from None


def _seconds(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def probe_video(path: str | Path, what: str = "video") -> VideoInfo:
    """A video's size, fps and length from its headers, or BadInput when it is not a video or is over a limit."""
    path = Path(path)
    with _open(path, what) as container:
        if not container.streams.video:
            raise BadInput(NOT_VIDEO.format(name=path.name))
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        seconds = _seconds(container, stream)
        counted = int(stream.frames or 0)
        has_sound = bool(container.streams.audio)
        if seconds is None and not counted and len(list(itertools.islice(_frames(container, stream), 2))) < 2:
            raise BadInput(NOT_VIDEO.format(name=path.name))  # a still image: two frames peeked at most
    if width <= 0 or height <= 0:
        raise BadInput(f"cannot read {what} {path.name}: its picture has no size")
    if width * height > MAX_VIDEO_PIXELS:
        raise BadInput(f"{what} too large: {path.name} is {width}x{height} (at most 4096x2304)")
    fps = min(max(float(rate) if rate else 24.0, FPS_RANGE[0]), FPS_RANGE[1])
    if seconds is None and counted:
        seconds = counted / fps
    if seconds is None:
        raise BadInput(f"cannot tell how long {path.name} is without decoding it: give an mp4, mov, webm or mkv")
    if seconds > MAX_SECONDS:
        raise BadInput(f"{what} {path.name} is {seconds / 60:.0f} minutes long (at most {MAX_SECONDS / 3600:g} hours)")
    frames = counted or max(1, round(seconds * fps))
    return VideoInfo(path.name, width, height, fps, frames, seconds, has_sound)


def probe_audio(path: str | Path, what: str = "soundtrack") -> AudioInfo:
    """A file's sound (an audio file or a video's track) from its headers, or BadInput in one line."""
    path = Path(path)
    with _open(path, what, NOT_AUDIO) as container:
        if not container.streams.audio:
            raise BadInput(f"{path.name} has no sound: give an audio file (wav, mp3, m4a, flac) or a video with sound")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 0)
        seconds = _seconds(container, stream)
        if not seconds and next(_frames(container, stream), None) is None:  # one frame peeked, no more
            raise BadInput(f"{path.name} has no sound in it (zero length)")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadInput(
            f"{what} {path.name} has a sample rate of {rate} Hz (from {MIN_RATE} to {MAX_RATE} Hz: resample it)"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadInput(f"{what} {path.name} has {channels} channels (1 to {MAX_CHANNELS})")
    if seconds is None:
        raise BadInput(f"cannot tell how long {path.name} is without decoding it: give a wav, m4a, mp3 or flac")
    if seconds > MAX_SECONDS:
        raise BadInput(f"{what} {path.name} is {seconds / 60:.0f} minutes long (at most {MAX_SECONDS / 3600:g} hours)")
    return AudioInfo(path.name, rate, channels, seconds)


def _frames(container, stream):
    import av

    try:
        yield from container.decode(stream)
    except av.error.FFmpegError:  # a broken file or tail: what came before it counts
        return


def covering(image: Image.Image, size: tuple[int, int] | None) -> Image.Image:
    """`image` scaled down (never up) to the smallest size that still covers `size` = (width, height)."""
    if size is None:
        return image
    scale = max(size[0] / image.width, size[1] / image.height)
    if scale >= 1:
        return image
    return image.resize(
        (max(size[0], math.ceil(image.width * scale)), max(size[1], math.ceil(image.height * scale))),
        Image.Resampling.LANCZOS,
    )


def video_frames(
    path: str | Path, info: VideoInfo, fps: float, count: int, cover: tuple[int, int] | None = None,
    what: str = "video",
) -> list[Image.Image]:  # fmt: skip
    """The first `count` frames of the video resampled to `fps` (the nearest earlier source frame for
    each), each scaled down at once to cover `cover`; decoding stops as soon as they are there.
    Fewer frames than `count` when the file has fewer."""

    step = info.fps / fps
    out: list[Image.Image] = []
    with _open(Path(path), what) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(_frames(container, stream)):
            if frame.width * frame.height > MAX_VIDEO_PIXELS:  # the headers said otherwise
                raise BadInput(f"{what} too large: {info.name} has frames over 4096x2304")
            picture = None
            while len(out) < count and int(len(out) * step) <= index:
                picture = picture or covering(frame.to_image(), cover)
                out.append(picture)
            if len(out) >= count:
                break
    return out


def audio_samples(path: str | Path, info: AudioInfo, start: float, seconds: float) -> np.ndarray:
    """float32 [channels, samples] of the track from `start` for at most `seconds`, at its own rate;
    decoding stops once they are there."""
    import av

    first, wanted = round(start * info.rate), max(1, math.ceil(seconds * info.rate))
    chunks, have, seen = [], 0, 0
    with _open(Path(path), "soundtrack", NOT_AUDIO) as container:
        track = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        for frame in _frames(container, track):
            for out in resampler.resample(frame):
                array = out.to_ndarray()
                skip = min(max(0, first - seen), array.shape[1])
                seen += array.shape[1]
                if skip < array.shape[1]:
                    part = array[:, skip : skip + wanted - have]
                    chunks.append(part)
                    have += part.shape[1]
            if have >= wanted:
                break
    if not chunks:
        return np.zeros((max(1, info.channels), 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)
