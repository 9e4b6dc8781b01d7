"""Frame counts and sizes on LTX's grids: the one place that snaps and bounds them."""

from __future__ import annotations

import math

SIZE_MULTIPLE = 32  # the VAE's spatial compression
FRAME_MULTIPLE = 8  # the VAE's temporal compression: frames are 8k+1
MIN_SIDE = 64
MIN_FRAMES = 9

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
