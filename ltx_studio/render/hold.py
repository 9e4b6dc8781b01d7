"""What a render takes as given: a `Hold` of picture and sound held clean while the rest denoises.

Keyframes, extend, retake, audio-to-video and video-to-audio are one idea (docs/architecture.md):
some latent frames or steps are given and held clean at timestep 0 (models/families/lock.py does the
holding); this file says which, on the latent grid, and makes their latents once per size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core import sizing
from ..library import media
from ..models.families.lock import Lock

if TYPE_CHECKING:
    from .plan import RenderPlan

EDGE_SLACK_S = 0.0005  # half a millisecond: how near a frame's edge a retake's time counts as on it


@dataclass
class Hold:
    """What a render takes as given, held clean while the rest denoises.

    The picture: `frames` (uint8 [F, H, W, 3], F = 8k + 1) or its own `video_latents`, every latent
    frame held except `video_free` = [a, b). The sound: `waveform` at `rate` or its `audio_latents`,
    every latent step held except those in `audio_free_s` = (start, end) seconds. Latents are made
    once per size and reused by every stage."""

    frames: np.ndarray | None = None
    video_latents: torch.Tensor | None = None
    video_free: tuple[int, int] | None = None
    waveform: np.ndarray | None = None
    rate: int | None = None
    audio_latents: torch.Tensor | None = None
    audio_free_s: tuple[float, float] | None = None
    single_stage: bool = False  # the held picture is at the plan's size: no half-size first stage
    _made: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def holds_picture(self) -> bool:
        return self.frames is not None or self.video_latents is not None

    @property
    def holds_sound(self) -> bool:
        return self.waveform is not None or self.audio_latents is not None

    def lock(self, family, pipe, plan: RenderPlan) -> Lock:
        lock = Lock()
        if self.holds_picture:
            video = self.video_latents
            latent = sizing.latent_shape(plan.width, plan.height, plan.frames)
            if video is None or tuple(video.shape[2:]) != latent:
                key = ("video", plan.width, plan.height)
                if key not in self._made:
                    fitted = media.fit_frames(self.frames, plan.width, plan.height)
                    self._made[key] = family.encode_video(pipe, fitted).cpu()
                video = self._made[key]
            keep = torch.ones(video.shape[2], dtype=torch.bool)
            if self.video_free is not None:
                keep[self.video_free[0] : self.video_free[1]] = False
            lock.video, lock.video_keep = video, keep
        if self.holds_sound and family.has_audio:
            audio = self.audio_latents
            length = family.audio_length(pipe, plan.frames, plan.fps)
            if audio is None or audio.shape[2] != length:
                if "audio" not in self._made:
                    self._made["audio"] = family.encode_audio(
                        pipe, self.waveform, self.rate, plan.frames, plan.fps
                    ).cpu()
                audio = self._made["audio"]
            keep = torch.ones(length, dtype=torch.bool)
            if self.audio_free_s is not None:  # every step whose span meets the seconds, as Lightricks' retake
                start, end = self.audio_free_s  # mask frees them (ltx_pipelines retake.py TemporalRegionMask)
                spans = family.audio_step_seconds(pipe, length)
                keep &= ~((spans[:, 1] > start) & (spans[:, 0] < end))
            lock.audio, lock.audio_keep = audio, keep
        return lock


def latent_span(start: float, end: float, frames: int, fps: int) -> tuple[int, int]:
    """Latent frames [a, b) covering seconds [start, end) of a clip of `frames` (8k + 1), edges snapped
    outward, so every frame asked for is retaken: latent 0 is the first frame alone, latent k >= 1 holds
    frames 8k - 7 .. 8k; `a` holds the first frame asked, `b - 1` the last (the one that starts before
    `end`). A range already on the grid comes out as it went in; a non-empty one holds a latent at least."""
    latents = (frames - 1) // 8 + 1
    # Seconds are shown and recorded to the millisecond: a time within half of one of a frame's edge is
    # on that edge, so a range copied from a take's record lands on the same frames (and 9.0 stays 9).
    first = math.floor((start + EDGE_SLACK_S) * fps)
    last = math.ceil((end - EDGE_SLACK_S) * fps) - 1
    a = min(_latent_of(max(first, 0)), latents - 1)
    b = min(max(_latent_of(max(last, 0)) + 1, a + 1), latents)
    return a, b


def _latent_of(frame: int) -> int:
    """The latent frame that holds pixel frame `frame` (0 alone, then 8 frames each)."""
    return (frame + 7) // 8


def span_frames(a: int, b: int) -> tuple[int, int]:
    """The pixel frames [first, stop) of latent frames [a, b)."""
    return (0 if a == 0 else 8 * a - 7), (0 if b == 0 else 8 * b - 7)


def grid_frames(frames: int) -> int:
    """The fewest frames on the 8k + 1 grid that hold `frames` (a clip is padded up to them, never cut)."""
    return (max(frames, 1) + 6) // 8 * 8 + 1


def padded(frames: np.ndarray, count: int) -> np.ndarray:
    """`frames` padded to `count` by repeating the last one (the model's 8k + 1 grid)."""
    if len(frames) >= count:
        return frames[:count]
    return np.concatenate([frames, np.repeat(frames[-1:], count - len(frames), axis=0)])
