"""What steers a shot besides the prompt: keyframes (images at chosen times) and a source video.

Both families condition through their condition pipelines; where a keyframe may land follows each
family's latent grid (`family.keyframe_index`), and the plan records the frame it landed on. A
source video (video-to-video, or the frames an extension continues from) is probed first and
decoded lazily (library/probe.py), resampled to the take's fps and trimmed to 8k+1 frames.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core import sizing
from ..core.errors import BadInput
from ..library import media, probe

MAX_KEYFRAMES = 16


@dataclass(frozen=True)
class Keyframe:
    """An image the clip passes through: where it was asked, where the family's grid put it."""

    image: Image.Image  # as given (bounded), re-fitted at each stage's size
    seconds: float
    strength: float
    frame: int  # the pixel frame it lands on
    index: int  # the pipeline's own position (a pixel frame for LTX-Video, a latent frame for LTX-2)
    name: str = ""


class SourceVideo:
    """Frames a render continues or restyles, at the take's fps (8k+1 of them).

    One read from a file knows its frame count from the file's headers (library/probe.py) and
    decodes when its `frames` are first asked for (in the job), only as many as the clip uses, each
    scaled down at once to cover the size it renders at."""

    def __init__(
        self, frames, strength: float, name: str = "", sha256: str = "", *, path: Path | None = None,
        info: probe.VideoInfo | None = None, fps: int = 24, count: int = 0, cover: tuple[int, int] | None = None,
    ):  # fmt: skip
        self._frames = tuple(frames) if frames is not None else None
        self.strength, self.name, self.sha256 = strength, name, sha256
        self.path, self.info, self.fps, self.cover = path, info, fps, cover
        self.count = len(self._frames) if self._frames is not None else count
        self._lock = threading.Lock()

    @property
    def frames(self) -> tuple[Image.Image, ...]:
        with self._lock:
            if self._frames is None:
                frames = probe.video_frames(self.path, self.info, self.fps, self.count, self.cover)
                if not frames:
                    raise BadInput(f"video {self.name} has no frames")
                frames += [frames[-1]] * (self.count - len(frames))  # its headers promised more: hold the last
                self._frames = tuple(frames)
            return self._frames

    def first(self, count: int) -> SourceVideo:
        """The same video, of which only the first `count` frames are used (and decoded)."""
        if count >= self.count:
            return self
        if self._frames is not None:
            return SourceVideo(self._frames[:count], self.strength, self.name, self.sha256)
        return SourceVideo(None, self.strength, self.name, self.sha256, path=self.path, info=self.info,
                           fps=self.fps, count=count, cover=self.cover)  # fmt: skip

    def record(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "frames": self.count, "strength": self.strength}


@dataclass(frozen=True)
class Condition:
    """One condition in the family's terms: frames (one image or several) at an index, with a strength."""

    frames: Image.Image | list[Image.Image]
    index: int
    strength: float
    source: Image.Image | None = None  # a single image as given (bounded), for families that fit it themselves


def parse_keyframe(spec: str) -> dict:
    """`PATH@SECONDS[:STRENGTH]` (the CLI's --keyframe) as {image, seconds, strength}."""
    path, at, when = spec.rpartition("@")
    if not at or not path:
        raise BadInput(f"--keyframe {spec!r}: write PATH@SECONDS or PATH@SECONDS:STRENGTH")
    seconds, _, strength = when.partition(":")
    try:
        return {"image": path, "seconds": float(seconds), "strength": float(strength) if strength else 1.0}
    except ValueError:
        raise BadInput(f"--keyframe {spec!r}: the time and strength must be numbers") from None


def plan_keyframes(asked, family, frames: int, fps: int) -> tuple[Keyframe, ...]:
    """Validate keyframes ({image, seconds, strength} dicts or tuples) and place them on the family's grid."""
    if not asked:
        return ()
    if len(asked) > MAX_KEYFRAMES:
        raise BadInput(f"too many keyframes: {len(asked)} (at most {MAX_KEYFRAMES})")
    placed = []
    for item in asked:
        if not isinstance(item, dict):
            item = dict(zip(("image", "seconds", "strength"), item, strict=False))
        seconds, strength = (
            _float(item.get("seconds", 0.0), "keyframe time"),
            _float(item.get("strength", 1.0), "strength"),
        )
        index, frame = keyframe_landing(family, seconds, frames, fps)
        if not 0 < strength <= 1:
            raise BadInput(f"keyframe strength must be in (0, 1], got {strength:g}")
        image = item.get("image")
        name = ""
        if isinstance(image, Image.Image):
            image = image.convert("RGB")
        elif image:
            name = Path(str(image)).name
            image = media.load_image(image)
        else:
            raise BadInput("a keyframe needs an image")
        placed.append(Keyframe(media.bounded(image), seconds, strength, frame, index, name))
    return tuple(sorted(placed, key=lambda k: k.frame))


def keyframe_landing(family, seconds: float, frames: int, fps: int) -> tuple[int, int]:
    """(the pipeline's index, the pixel frame) where a keyframe asked at `seconds` of a clip of `frames`
    (8k + 1) lands on the family's grid, or BadInput for a time outside the clip. The one rule both the
    plan and the page's note before rendering (`Studio.keyframe_landing`) follow; it loads no model."""
    duration = sizing.seconds_for_frames(frames, fps)
    if not 0 <= seconds <= duration + 1e-6:
        raise BadInput(f"a keyframe at {seconds:g} s is outside the clip (0 to {duration:.2f} s)")
    return family.keyframe_index(min(round(seconds * fps), frames - 1), frames)


def read_video(
    source, fps: int, max_frames: int, strength: float = 1.0, cover: tuple[int, int] | None = None
) -> SourceVideo:
    """A video file (mp4, webm, mov, ...) or a list of frames, resampled to `fps` and cut to 8k+1 frames.
    A file is only probed here; its frames are decoded when first used (`cover`: the size they render at)."""
    if not 0 < strength <= 1:
        raise BadInput(f"video strength must be in (0, 1], got {strength:g}")
    if isinstance(source, (str, Path)):
        path = Path(source)
        info = probe.probe_video(path)
        available = max(1, int(info.frames / (info.fps / fps)))  # output frames at `fps`
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return SourceVideo(None, strength, path.name, digest, path=path, info=info, fps=fps,
                           count=_count(available, max_frames), cover=cover)  # fmt: skip
    frames = [np.asarray(f) for f in source]
    if not frames:
        raise BadInput("video has no frames")
    count = _count(len(frames), max_frames)
    return SourceVideo(tuple(Image.fromarray(f).convert("RGB") for f in frames[:count]), strength)


def _count(available: int, max_frames: int) -> int:
    """8k+1 frames of `available`, at most `max_frames`."""
    count = min(sizing.snap_frames(available), max_frames)
    if count > available:  # snapping rounded up: take the 8k+1 below
        count = max(1, ((available - 1) // 8) * 8 + 1)
    return count


def _float(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a number, got {value!r}") from None
    if number != number:
        raise BadInput(f"{what} must be a number, got {value!r}")
    return number
