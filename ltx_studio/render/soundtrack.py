"""A soundtrack for a silent clip (video-to-audio): the clip's picture is held whole (hold.py) while a
sound denoises; the new take has the source's own frames and the sound made for them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ..core import sizing
from ..core.errors import BadInput, StudioError
from ..core.events import CancelToken, EventSink, Progress
from ..library import media, probe
from ..library.takes import Take
from ..models.families.base import Decoded
from .hold import Hold, grid_frames, padded
from .plan import sets_with_sound
from .renderer import Renderer
from .request import RenderRequest
from .story import TakeSpec, own_latents

DEFAULT_SOUND_PROMPT = "The natural sound of this scene, in sync with what happens in it."


def soundtrack(
    renderer: Renderer,
    source: str,
    *,
    prompt: str | None = None,
    seed: int = -1,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    files: bool = True,
) -> Take:
    """A new take with `source`'s picture (a take id or a video file) and a sound made for it."""
    plan, spec = plan_soundtrack(renderer, source, prompt=prompt, seed=seed, files=files, on_event=on_event)
    return renderer.run(plan, spec, on_event=on_event, cancel=cancel)


def plan_soundtrack(
    renderer: Renderer, source: str, *, prompt=None, seed=-1, files: bool = True, on_event: EventSink | None = None
):
    """(plan, spec) of video-to-audio, or BadInput with one line.
    `files`: `source` may name a video file (else only a take id: API callers). Its frames are decoded
    here, reported to `on_event` as the "read" stage (seconds for a long clip, before anything renders)."""
    mset = _with_sound(renderer)
    emit, started = on_event or (lambda event: None), time.perf_counter()
    take, frames, fps, name = _read_source(renderer, source, files, emit)
    emit(Progress("read", 1.0))
    read_s = round(time.perf_counter() - started, 4)
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # H.264 needs even sides
    variant = mset.variant(mset.default_variant)
    _check_length(renderer, len(frames), fps, name)  # the headers may have said fewer
    count = grid_frames(len(frames))
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
    plan = renderer.plan(request)
    latents = own_latents(take) if own else None
    hold = Hold(frames=padded(frames, count), video_latents=latents.video if latents else None, single_stage=True)

    def join(decoded: Decoded) -> Decoded:
        audio = None
        if decoded.audio is not None:
            audio = media.fit_waveform(decoded.audio, round(len(frames) / fps * decoded.sample_rate))
        return Decoded(frames, audio, decoded.sample_rate)

    record = {"sound_for": {"source": take.id if take is not None else name, "frames": len(frames)}}
    if take is None:
        record["sound_for"]["sha256"] = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    parent = take.id if take is not None else None
    return plan, TakeSpec(kind="sound", parent=parent, record=record, hold=hold, join=join, timings={"read": read_s})


def check_soundtrack(renderer: Renderer, source: str, *, files: bool = True) -> None:
    """BadInput in one line when video-to-audio cannot run on `source`; probes a file, decodes nothing."""
    _with_sound(renderer)
    take, path = take_or_file(renderer, source, files)
    if take is None:
        info = probe.probe_video(path)
        _check_length(renderer, info.frames, round(info.fps), path.name)


def _with_sound(renderer: Renderer):
    """The renderer's model set, or BadInput when it has no audio model."""
    mset = renderer.model_set
    if not mset.has_audio:
        raise BadInput(
            f"model set {mset.name} has no audio model to make a soundtrack: use one that has ({sets_with_sound()})"
        )
    return mset


def take_or_file(renderer: Renderer, source: str, files: bool) -> tuple[Take | None, Path | None]:
    """(take, None) for a take id, (None, path) for a video file (with `files`), else BadInput."""
    text = str(source).strip()
    path = Path(text)
    if files and path.is_file():
        return None, path
    try:
        take = renderer.store.get(text)
    except StudioError:
        raise BadInput(
            f"{text[:60]!r} is {'neither a take id nor a video file' if files else 'not a take id'}"
        ) from None
    if take.status != "ok":
        raise BadInput(f"take {take.id} has missing files")
    return take, None


def _check_length(renderer: Renderer, frames: int, fps: int, name: str) -> None:
    """BadInput when a clip of `frames` is longer than the set's default variant renders."""
    variant = renderer.model_set.variant(renderer.model_set.default_variant)
    if frames > variant.max_frames:
        limit = sizing.seconds_for_frames(variant.max_frames, fps)
        raise BadInput(f"{name} is {frames / fps:.1f} s long: a soundtrack is made for at most {limit:.1f} s")


def _read_source(
    renderer: Renderer, source: str, files: bool = True, emit: EventSink = lambda event: None
) -> tuple[Take | None, np.ndarray, int, str]:
    """(take or None, frames, fps, name) of a take id or (with `files`) a video file; BadInput if it is not a video.
    A file is probed first (length, size, rate) and decoded only up to the longest clip the set renders;
    the decoding starts the "read" stage (`emit`), once the source is known to be one."""
    take, path = take_or_file(renderer, source, files)
    if take is not None:
        emit(Progress("read", 0.0, f"Reading take {take.id}"))
        frames, _ = media.read_mp4(take.path("video"))
        return take, frames, take.fps, take.id
    info = probe.probe_video(path)
    fps = max(1, round(info.fps))
    _check_length(renderer, info.frames, fps, path.name)
    emit(Progress("read", 0.0, f"Reading {path.name}"))
    variant = renderer.model_set.variant(renderer.model_set.default_variant)
    pictures = probe.video_frames(path, info, info.fps, variant.max_frames + 1)  # every frame, as it was made
    if len(pictures) < 2:
        raise BadInput(f"{path.name} is not a video: a soundtrack is made for a video (a take id or an mp4/mov/webm)")
    return None, np.stack([np.asarray(p) for p in pictures]), fps, path.name
