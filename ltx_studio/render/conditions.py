"""What steers a shot besides the prompt: keyframes (images at chosen times) and a source video.

Both families condition through their condition pipelines; where a keyframe may land follows each
family's latent grid (`family.keyframe_index`), and the plan records the frame it landed on. A
source video (video-to-video, or the frames an extension continues from) is read with imageio,
resampled to the take's fps and trimmed to 8k+1 frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core import sizing
from ..core.errors import BadInput
from ..library import media

MAX_KEYFRAMES = 16
MAX_VIDEO_PIXELS = 4096 * 2304  # per frame


@dataclass(frozen=True)
class Keyframe:
    """An image the clip passes through: where it was asked, where the family's grid put it."""

    image: Image.Image  # as given (bounded), re-fitted at each stage's size
    seconds: float
    strength: float
    frame: int  # the pixel frame it lands on
    index: int  # the pipeline's own position (a pixel frame for LTX-Video, a latent frame for LTX-2)
    name: str = ""


@dataclass(frozen=True)
class SourceVideo:
    """Frames a render continues or restyles, at the take's fps (8k+1 of them)."""

    frames: tuple[Image.Image, ...]
    strength: float
    name: str = ""
    sha256: str = ""

    def record(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "frames": len(self.frames), "strength": self.strength}


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
    duration = sizing.seconds_for_frames(frames, fps)
    placed = []
    for item in asked:
        if not isinstance(item, dict):
            item = dict(zip(("image", "seconds", "strength"), item, strict=False))
        seconds, strength = (
            _float(item.get("seconds", 0.0), "keyframe time"),
            _float(item.get("strength", 1.0), "strength"),
        )
        if not 0 <= seconds <= duration + 1e-6:
            raise BadInput(f"a keyframe at {seconds:g} s is outside the clip (0 to {duration:.2f} s)")
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
        wanted = min(round(seconds * fps), frames - 1)
        index, frame = family.keyframe_index(wanted, frames)
        placed.append(Keyframe(media.bounded(image), seconds, strength, frame, index, name))
    return tuple(sorted(placed, key=lambda k: k.frame))


def read_video(source, fps: int, max_frames: int, strength: float = 1.0) -> SourceVideo:
    """A video file (mp4, webm, mov, ...) or a list of frames, resampled to `fps` and cut to 8k+1 frames."""
    if not 0 < strength <= 1:
        raise BadInput(f"video strength must be in (0, 1], got {strength:g}")
    name, digest = "", ""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise BadInput(f"video not found: {path}")
        frames, source_fps = _decode(path)
        name, digest = path.name, hashlib.sha256(path.read_bytes()).hexdigest()
        step = source_fps / fps  # nearest source frame for each output frame
        frames = [frames[min(int(i * step), len(frames) - 1)] for i in range(max(1, int(len(frames) / step)))]
    else:
        frames = [np.asarray(f) for f in source]
    if not frames:
        raise BadInput(f"video {name or ''} has no frames".replace("  ", " "))
    count = min(sizing.snap_frames(len(frames)), max_frames)
    if count > len(frames):  # snapping rounded up: take the 8k+1 below
        count = max(1, ((len(frames) - 1) // 8) * 8 + 1)
    return SourceVideo(tuple(Image.fromarray(f).convert("RGB") for f in frames[:count]), strength, name, digest)


def _decode(path: Path) -> tuple[list[np.ndarray], float]:
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path, plugin="pyav")
        frames = list(iio.imiter(path, plugin="pyav"))
    except Exception as exc:  # imageio raises many kinds for a file that is not a video
        raise BadInput(f"cannot read video {path.name}: {str(exc).splitlines()[0][:160] or 'not a video'}") from None
    if frames and frames[0].shape[0] * frames[0].shape[1] > MAX_VIDEO_PIXELS:
        height, width = frames[0].shape[:2]
        raise BadInput(f"video too large: {path.name} is {width}x{height} (at most 4096x2304)")
    return frames, float(meta.get("fps") or 24)


def _float(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a number, got {value!r}") from None
    if number != number:
        raise BadInput(f"{what} must be a number, got {value!r}")
    return number
