"""Retake: regenerate seconds [start, end) of a take, conditioned on what surrounds it.

Everything outside the segment is held clean (hold.py) while the segment denoises: the picture's
latent frames, the sound's latent steps, or both (`what`). The new take's frames and sound outside the
segment are the source's own (copied, not regenerated); its parent is the source. Edges snap outward
to whole latent frames (hold.latent_span), so every frame asked for is retaken. A clip longer than the
variant renders is retaken in a window of it around the segment.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import BadInput
from ..core.events import CancelToken, EventSink, Progress
from ..library import media, sound
from ..library.takes import Take
from ..models.families.base import Decoded
from .hold import Hold, grid_frames, latent_span, padded, span_frames
from .plan import RenderPlan
from .renderer import Renderer
from .story import TakeSpec, own_latents

RETAKE_WHAT = ("both", "video", "audio")


@dataclass(frozen=True)
class Segment:
    """A checked retake: its source take, what it regenerates, the seconds asked, and on the clip's
    grid its latent frames [a, b), pixel frames [first, stop) and the window [offset, offset + window) rendered."""

    source: Take
    what: str
    asked: tuple[float, float]
    latents: tuple[int, int]
    frames: tuple[int, int]
    offset: int
    window: int


def retake(
    renderer: Renderer,
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
    """Regenerate seconds [start, end) of a take; the rest is the source's."""
    segment = check_retake(renderer, take_id, start, end, what)
    plan, spec = plan_retake(renderer, segment, prompt=prompt, seed=seed, on_event=on_event)
    return renderer.run(plan, spec, on_event=on_event, cancel=cancel)


def check_retake(renderer: Renderer, take_id: str, start, end, what: str = "both") -> Segment:
    """The segment a retake renders, from the take's record alone (nothing decoded), or BadInput with one line."""
    source = renderer.own_take(take_id, "retaken")
    what = (what or "both").strip().lower()
    if what not in RETAKE_WHAT:
        raise BadInput(f"unknown retake part {what!r} (choose from: {', '.join(RETAKE_WHAT)})")
    has_audio = renderer.model_set.has_audio
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
    count = grid_frames(source.frames)
    a, b = latent_span(start, min(end, duration), count, source.fps)  # outward: never empty
    first, stop = span_frames(a, b)
    stop = min(stop, source.frames)
    # A clip longer than the variant renders is retaken in a window of it around the segment.
    offset, window = _window(a, b, count, renderer.model_set.variant(source.variant).max_frames, source.fps)
    return Segment(source, what, (start, end), (a, b), (first, stop), offset, window)


def plan_retake(
    renderer: Renderer, segment: Segment, *, prompt=None, seed=-1, on_event: EventSink | None = None
) -> tuple[RenderPlan, TakeSpec]:
    """A checked retake's plan and what it holds and joins (the source is decoded here, once, reported
    to `on_event` as the "read" stage: a long take decodes for seconds before anything renders)."""
    source, what, offset, window = segment.source, segment.what, segment.offset, segment.window
    (start, end), (a, b), (first, stop) = segment.asked, segment.latents, segment.frames
    has_audio = renderer.model_set.has_audio
    emit, started = on_event or (lambda event: None), time.perf_counter()
    emit(Progress("read", 0.0, f"Reading take {source.id}"))
    frames, _ = media.read_mp4(source.path("video"))
    count = grid_frames(source.frames)
    used = (round(first / source.fps, 3), round(stop / source.fps, 3))
    plan = renderer.plan_from_take(
        source,
        prompt=prompt or source.prompt, typed_prompt=None, seed=seed, frames=window, image=None, keyframes=[],
        soundtrack=None, audio=source.audio,
    )  # fmt: skip
    plan = replace(plan, snapped={**plan.snapped, "retake": {"asked": [start, end], "used": list(used)}})
    held = padded(frames, count)[offset : offset + window]
    latents = own_latents(source) if window == count else None  # a window's latents are encoded afresh
    if source.audio:
        emit(Progress("read", 0.5, f"Reading take {source.id}'s sound"))
    sound_in, rate = media.read_audio(source.path("video")) if source.audio else (None, None)
    emit(Progress("read", 1.0))
    read_s = round(time.perf_counter() - started, 4)
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
    spec = TakeSpec(kind="retake", parent=source.id, record=record, hold=hold, join=join, timings={"read": read_s})
    return plan, spec


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
