"""Frame counts and sizes on LTX's grids: the one place that snaps and bounds them."""

from __future__ import annotations

import math

SIZE_MULTIPLE = 32  # the VAE's spatial compression
FRAME_MULTIPLE = 8  # the VAE's temporal compression: frames are 8k+1
MIN_SIDE = 64
MIN_FRAMES = 9
DURATION_STEP = 0.1  # seconds: how finely the page shows and sends a Duration

# Presets that share one grid (multiples of 32), landscape; portrait swaps them.
RESOLUTIONS = {
    "540p": (1024, 576),
    "720p": (1280, 704),
    "1080p": (1920, 1088),
}


def snap_side(pixels: float, multiple: int = SIZE_MULTIPLE) -> int:
    """Nearest multiple of `multiple`, at least one multiple."""
    return max(multiple, math.floor(pixels / multiple + 0.5) * multiple)  # halves round up


def snap_frames(frames: float) -> int:
    """Nearest count of the form 8k+1, at least 9 (snap_frames(120) == 121)."""
    k = max((MIN_FRAMES - 1) // FRAME_MULTIPLE, math.floor((frames - 1) / FRAME_MULTIPLE + 0.5))  # halves round up
    return k * FRAME_MULTIPLE + 1


def frames_for_seconds(seconds: float, fps: float) -> int:
    """Frames for a duration: seconds * fps + 1, snapped to 8k+1."""
    return snap_frames(seconds * fps + 1)


def frames_to_hold(seconds: float, fps: float) -> int:
    """The fewest frames on the 8k+1 grid that hold `seconds` whole (at least 9): rounds up, never cuts."""
    needed = round(seconds * fps, 6)  # n frames play for n / fps seconds (rounded: 3.0 * 24 is 72, not 72.00001)
    k = max((MIN_FRAMES - 1) // FRAME_MULTIPLE, math.ceil((needed - 1) / FRAME_MULTIPLE))
    return k * FRAME_MULTIPLE + 1


def frames_for_soundtrack(track_seconds: float, fps: float, max_frames: int, asked_seconds: float | None = None) -> int:
    """The frames of a clip that follows a soundtrack: the one rule for the page, the CLI and the API.

    Asked nothing, or the track's own length (within half a DURATION_STEP: the page rounds what it shows
    and sends), the clip holds all of the track, rounded up to the grid, up to `max_frames` (the take
    then says the track was cut). Asked another length, the clip is that long (the track cut, or silent after)."""
    if asked_seconds is None or abs(asked_seconds - track_seconds) <= DURATION_STEP / 2 + 1e-9:
        return min(frames_to_hold(track_seconds, fps), max_frames)
    return frames_for_seconds(asked_seconds, fps)


def seconds_for_frames(frames: int, fps: float) -> float:
    return (frames - 1) / fps


def size_for_aspect(aspect: float, like: tuple[int, int]) -> tuple[int, int]:
    """A size of about the same area as `like` with the given width/height aspect, on the grid."""
    area = like[0] * like[1]
    width = math.sqrt(area * aspect)
    return snap_side(width), snap_side(width / aspect)


def fits(size: tuple[int, int], max_size: tuple[int, int]) -> bool:
    """Whether a size fits a bound given as [long, short] in either orientation."""
    long_side, short_side = max(size), min(size)
    return long_side <= max(max_size) and short_side <= min(max_size)


def latent_shape(width: int, height: int, frames: int) -> tuple[int, int, int]:
    """(frames, height, width) of the latent grid for a video size."""
    return (frames - 1) // FRAME_MULTIPLE + 1, height // SIZE_MULTIPLE, width // SIZE_MULTIPLE
