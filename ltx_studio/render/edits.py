"""Surgical edits: a soundtrack for a silent clip (video-to-audio) and a retake of one segment.

Both render with part of the clip held clean (families.lock): the source's picture while a sound
denoises, or everything outside a segment while the segment denoises. The new take's frames and
sound outside what was made are the source's own (copied, not regenerated); its parent is the source.
Audio-to-video (a soundtrack driving the picture) is an ordinary render with `soundtrack=` and
uses the same `Hold` (see render.py).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core import sizing
from ..core.errors import BadInput
from ..library import media, sound
from ..models.families import Decoded
from ..models.families.lock import Lock
from .plan import RenderRequest, plan_from_take, plan_render, sets_with_sound

if TYPE_CHECKING:
    from ..core.events import CancelToken, EventSink
    from ..library.takes import Take
    from ..studio import Studio
    from .plan import RenderPlan

RETAKE_WHAT = ("both", "video", "audio")
DEFAULT_SOUND_PROMPT = "The natural sound of this scene, in sync with what happens in it."


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
            if self.audio_free_s is not None:
                per_second = length / (plan.frames / plan.fps)
                start, end = self.audio_free_s
                keep[math.floor(start * per_second) : math.ceil(end * per_second)] = False
            lock.audio, lock.audio_keep = audio, keep
        return lock


# --- retake ------------------------------------------------------------------------------------


def latent_span(start: float, end: float, frames: int, fps: int) -> tuple[int, int]:
    """Latent frames [a, b) covering seconds [start, end) of a clip of `frames` (8k + 1), edges snapped:
    latent 0 is the first frame alone, latent k >= 1 holds frames 8k - 7 .. 8k."""
    latents = (frames - 1) // 8 + 1
    first, last = start * fps, end * fps
    a = 0 if first < 0.5 else min(max(1, round((first + 7) / 8)), latents)
    b = min(max(1, round((last + 7) / 8)), latents)
    return a, b


def span_frames(a: int, b: int) -> tuple[int, int]:
    """The pixel frames [first, stop) of latent frames [a, b)."""
    return (0 if a == 0 else 8 * a - 7), (0 if b == 0 else 8 * b - 7)


def retake_take(
    studio: Studio,
    take_id: str,
    start: float,
    end: float,
    *,
    prompt: str | None = None,
    what: str = "both",
    seed: int = -1,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> Take:
    """Regenerate seconds [start, end) of a take, conditioned on what surrounds it (see `plan_retake`)."""
    plan, hold, join, record = plan_retake(studio, take_id, start, end, prompt=prompt, what=what, seed=seed)
    return studio._render(
        plan, on_event=on_event, cancel=cancel, kind="retake", parent=take_id, join=join, record=record, hold=hold
    )


def plan_retake(studio: Studio, take_id: str, start, end, *, prompt=None, what="both", seed=-1):
    """(plan, hold, join, record) of a retake, or BadInput with one line."""
    source = _source_take(studio, take_id, "retaken")
    what = (what or "both").strip().lower()
    if what not in RETAKE_WHAT:
        raise BadInput(f"unknown retake part {what!r} (choose from: {', '.join(RETAKE_WHAT)})")
    has_audio = studio.model_set.has_audio
    if not has_audio and what == "audio":
        raise BadInput(f"take {take_id} is an LTX-Video take: it has no sound to retake (retake its video)")
    if what == "audio" and not source.audio:
        raise BadInput(f"take {take_id} is silent: give it a soundtrack first (Add sound / the soundtrack command)")
    start, end = _seconds("start", start), _seconds("end", end)
    duration = source.frames / source.fps
    if end == start:
        raise BadInput(f"the retake range is empty: start and end are both {start:g} s")
    if end < start:
        raise BadInput(f"the retake range is reversed: start {start:g} s is after end {end:g} s")
    if start < 0 or end > duration + 0.5 / source.fps:
        raise BadInput(f"the retake range {start:g}-{end:g} s is outside the clip (0-{duration:.2f} s)")
    frames, _ = media.read_mp4(source.path("video"))
    count = _grid_frames(len(frames))
    a, b = latent_span(start, min(end, duration), count, source.fps)
    if a >= b:
        raise BadInput(f"the retake range {start:g}-{end:g} s is shorter than one latent frame (8 frames): widen it")
    first, stop = span_frames(a, b)
    stop = min(stop, len(frames))
    used = (round(first / source.fps, 3), round(stop / source.fps, 3))
    # A clip longer than the variant renders is retaken in a window of it around the segment.
    offset, window = _window(a, b, count, studio.model_set.variant(source.variant).max_frames, source.fps)
    plan = plan_from_take(
        source, studio.model_set, studio.lora_folder,
        prompt=prompt or source.prompt, typed_prompt=None, seed=seed, frames=window, image=None, keyframes=[],
        soundtrack=None, audio=source.audio,
    )  # fmt: skip
    plan = replace(plan, snapped={**plan.snapped, "retake": {"asked": [start, end], "used": list(used)}})
    held = _padded(frames, count)[offset : offset + window]
    latents = _own_latents(source) if window == count else None  # a window's latents are encoded afresh
    sound_in, rate = media.read_audio(source.path("video")) if source.audio else (None, None)
    video_part, audio_part = what in ("both", "video"), what in ("both", "audio") and source.audio
    shift = offset / source.fps
    hold = Hold(
        frames=held,
        video_latents=latents.video if latents is not None else None,
        video_free=(a - offset // 8, b - offset // 8) if video_part else (0, 0),
        waveform=sound_in[:, round(shift * rate) :] if sound_in is not None else None,
        rate=rate,
        audio_latents=latents.audio if latents is not None else None,
        audio_free_s=(used[0] - shift, used[1] - shift) if audio_part else None,
        single_stage=True,
    )

    def join(decoded: Decoded) -> Decoded:
        picture = frames.copy()
        if video_part:
            picture[first:stop] = media.fit_frames(
                decoded.frames[first - offset : stop - offset], *picture.shape[2:0:-1]
            )
        audio, out_rate = sound_in, rate
        if audio_part and decoded.audio is not None:
            made = sound.channels(sound.resample(decoded.audio, decoded.sample_rate, rate), sound_in.shape[0])
            placed = np.zeros_like(sound_in)
            at = round(shift * rate)
            placed[:, at : at + made.shape[1]] = made[:, : sound_in.shape[1] - at]
            audio = sound.splice(sound_in, placed, rate, *used)
        return Decoded(picture, audio, out_rate)

    record = {"retake": {"source": source.id, "start": used[0], "end": used[1], "asked": [start, end], "what": what}}
    if not has_audio:
        record["retake"]["what"] = "video"
    return plan, hold, join, record


# --- a soundtrack for a silent clip ----------------------------------------------------------------


def soundtrack_take(
    studio: Studio,
    source: str,
    *,
    prompt: str | None = None,
    seed: int = -1,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    files: bool = True,
) -> Take:
    """A new take with `source`'s picture (a take id or a video file) and a sound made for it."""
    plan, hold, join, record, parent = plan_soundtrack(studio, source, prompt=prompt, seed=seed, files=files)
    return studio._render(
        plan, on_event=on_event, cancel=cancel, kind="sound", parent=parent, join=join, record=record, hold=hold
    )


def plan_soundtrack(studio: Studio, source: str, *, prompt=None, seed=-1, files: bool = True):
    """(plan, hold, join, record, parent id) of video-to-audio, or BadInput with one line.
    `files`: `source` may name a video file (else only a take id: API callers)."""
    mset = studio.model_set
    if not mset.has_audio:
        raise BadInput(
            f"model set {mset.name} has no audio model to make a soundtrack: use one that has ({sets_with_sound()})"
        )
    take, frames, fps, name = _read_source(studio, source, files)
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # H.264 needs even sides
    variant = mset.variant(mset.default_variant)
    if len(frames) > variant.max_frames:
        limit = sizing.seconds_for_frames(variant.max_frames, fps)
        raise BadInput(f"{name} is {len(frames) / fps:.1f} s long: a soundtrack is made for at most {limit:.1f} s")
    count = _grid_frames(len(frames))
    height, width = frames.shape[1:3]
    own = take is not None and take.model_set == mset.name and (width, height) == (take.width, take.height)
    if (
        own
        and width % sizing.SIZE_MULTIPLE == 0
        and height % sizing.SIZE_MULTIPLE == 0
        and sizing.fits((width, height), variant.max_size)
    ):
        size = (width, height)
    else:
        size = sizing.size_for_aspect(width / height, variant.draft_size)
    text = (prompt or "").strip() or (take.prompt if take is not None else "") or DEFAULT_SOUND_PROMPT
    request = RenderRequest(
        prompt=text, variant=variant.name, seed=seed, width=size[0], height=size[1], frames=count, fps=fps, audio=True
    )
    plan = plan_render(request, mset, studio.lora_folder)
    latents = _own_latents(take) if own else None
    hold = Hold(frames=_padded(frames, count), video_latents=latents.video if latents else None, single_stage=True)

    def join(decoded: Decoded) -> Decoded:
        audio = None
        if decoded.audio is not None:
            audio = media.fit_waveform(decoded.audio, round(len(frames) / fps * decoded.sample_rate))
        return Decoded(frames, audio, decoded.sample_rate)

    record = {"sound_for": {"source": take.id if take is not None else name, "frames": len(frames)}}
    if take is None:
        record["sound_for"]["sha256"] = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    return plan, hold, join, record, take.id if take is not None else None


# --- helpers -------------------------------------------------------------------------------------


def _source_take(studio: Studio, take_id: str, verb: str) -> Take:
    source = studio.store.get(take_id)
    if source.status != "ok":
        raise BadInput(f"take {take_id} has missing files and cannot be {verb}")
    if source.model_set != studio.model_set.name or source.variant not in studio.model_set.variants:
        raise BadInput(f"take {take_id} was made with model set {source.model_set!r}; switch the model set to it first")
    return source


def _read_source(studio: Studio, source: str, files: bool = True) -> tuple[Take | None, np.ndarray, int, str]:
    """(take or None, frames, fps, name) of a take id or (with `files`) a video file; BadInput if it is not a video."""
    from ..core.errors import StudioError

    text = str(source).strip()
    path = Path(text)
    if not files or not path.is_file():
        try:
            take = studio.store.get(text)
        except StudioError:
            raise BadInput(
                f"{text[:60]!r} is {'neither a take id nor a video file' if files else 'not a take id'}"
            ) from None
        if take.status != "ok":
            raise BadInput(f"take {take.id} has missing files")
        frames, _ = media.read_mp4(take.path("video"))
        return take, frames, take.fps, take.id
    try:
        frames, meta = media.read_mp4(path)
    except Exception:  # PyAV and imageio raise many kinds for a file that is not a video
        frames = None
    if frames is None or len(frames) < 2:
        raise BadInput(f"{path.name} is not a video: a soundtrack is made for a video (a take id or an mp4/mov/webm)")
    fps = max(1, round(float(meta.get("fps") or 24)))
    return None, frames, fps, path.name


def _window(a: int, b: int, count: int, max_frames: int, fps: int) -> tuple[int, int]:
    """(first pixel frame, frame count) of the part of a clip of `count` frames a retake of latent
    frames [a, b) renders: all of it when it fits the variant, else a window of `max_frames` around
    the segment that starts on a multiple of 8, so its latent frames line up with the clip's."""
    if count <= max_frames:
        return 0, count
    latents, size = (count - 1) // 8 + 1, (max_frames - 1) // 8 + 1
    if b - a > size - 1:
        most = (max_frames - 1) / fps
        raise BadInput(f"a retake is at most {most:.1f} s at a time on this variant: retake the segment in parts")
    j = min(max(round((a + b - size) / 2), b - size, 0), latents - size)
    j = min(j, max(a - 1, 0))
    return 8 * j, 8 * (size - 1) + 1


def _grid_frames(frames: int) -> int:
    """The fewest frames on the 8k + 1 grid that hold `frames` (a clip is padded up to them, never cut)."""
    return (max(frames, 1) + 6) // 8 * 8 + 1


def _padded(frames: np.ndarray, count: int) -> np.ndarray:
    """`frames` padded to `count` by repeating the last one (the model's 8k + 1 grid)."""
    if len(frames) >= count:
        return frames[:count]
    return np.concatenate([frames, np.repeat(frames[-1:], count - len(frames), axis=0)])


def _own_latents(take: Take | None):
    """A take's stored latents, or None when it has none readable (then the picture is encoded)."""
    from ..core.errors import StudioError
    from .story import load_latents

    if take is None or take.kind == "extend":  # an extension keeps its new render's latents, not the clip's
        return None
    try:
        return load_latents(take)
    except StudioError:
        return None


def _seconds(name: str, value) -> float:
    if isinstance(value, bool) or value is None:
        raise BadInput(f"{name} must be a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a number of seconds, got {str(value)[:40]!r}") from None
    if number != number or math.isinf(number):
        raise BadInput(f"{name} must be a number of seconds, got {value}")
    return number
