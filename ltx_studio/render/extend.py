"""Extend a take: carry a good clip on past its length, forward or backward.

The last (or, backward, the first, in reverse order) frames of the take condition a new render as a
video at index 0: the same mechanism as video-to-video. The new render repeats those frames (the
overlap) and continues; the take keeps the source's frames, then the new ones after the overlap,
so no frame is repeated or dropped at the seam. The source's frames are written by copying its mp4's
packets (library/join.py): an extension of an extension keeps the first take's pixels bit for bit. With sound, the overlap's own sound is held clean
while the new sound denoises (forward), so it carries on from the source's. The result is a new take (parent = the source) holding the whole joined clip.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from ..core import sizing
from ..core.errors import BadInput
from ..core.events import Progress
from ..library import media
from ..library.sound import resample
from ..models.families.base import Decoded
from .hold import Hold
from .request import RenderRequest
from .story import TakeSpec

if TYPE_CHECKING:
    from ..core.events import CancelToken, EventSink
    from ..library.takes import Take
    from .renderer import Renderer

OVERLAP = 17  # frames of the source the continuation starts from (two latent frames past the first)
MAX_JOINED_BYTES = 4 * 2**30  # an extended take's frames, as uint8 RGB (e.g. 145 s at 768x512, 26 s at 1920x1088)


def check_extend(renderer: Renderer, take_id: str, seconds) -> tuple[Take, int]:
    """(the source take, the new frames) of an extension, or BadInput in one line; from the take's
    record, nothing decoded. The joined clip is held whole while it is written, so its frames times
    pixels are capped (MAX_JOINED_BYTES): an extend chain cannot grow without bound."""
    source = renderer.own_take(take_id, "extended")
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise BadInput(f"seconds must be a number, got {seconds!r}") from None
    if not 0 < seconds <= 60:
        raise BadInput(f"an extension must be between 0 and 60 seconds, got {seconds:g}")
    variant = renderer.model_set.variant(source.variant)
    new = max(8, round(seconds * source.fps / 8) * 8)  # whole latent frames
    overlap = min(OVERLAP, ((source.frames - 1) // 8) * 8 + 1)
    if overlap + new > variant.max_frames:
        most = sizing.seconds_for_frames(variant.max_frames - overlap, source.fps)
        raise BadInput(f"an extension of {seconds:g} s is over {variant.label}'s limit: at most {most:.1f} s at a time")
    most_frames = MAX_JOINED_BYTES // (source.width * source.height * 3)
    if source.frames + new > most_frames:
        raise BadInput(
            f"take {source.id} would be {(source.frames + new) / source.fps:.1f} s long: one take at "
            f"{source.width}x{source.height} holds at most {most_frames / source.fps:.0f} s (start a new shot)"
        )
    return source, new


def extend(
    renderer: Renderer,
    take_id: str,
    seconds: float,
    *,
    prompt: str | None = None,
    backward: bool = False,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> Take:
    """Continue a take by `seconds` (before its start with `backward`): a new take of the joined clip."""
    source, new = check_extend(renderer, take_id, seconds)
    emit, started = on_event or (lambda event: None), time.perf_counter()
    emit(Progress("read", 0.0, f"Reading take {source.id}"))  # a long take decodes for seconds: say so
    frames, _ = media.read_mp4(source.path("video"))
    overlap = min(OVERLAP, ((len(frames) - 1) // 8) * 8 + 1)
    context = frames[-overlap:] if not backward else frames[:overlap][::-1]
    if source.audio:
        emit(Progress("read", 0.5, f"Reading take {source.id}'s sound"))
    sound, rate = media.read_audio(source.path("video")) if source.audio else (None, None)
    emit(Progress("read", 1.0))
    read_s = round(time.perf_counter() - started, 4)
    request = RenderRequest(
        prompt=prompt or source.prompt,
        negative_prompt=source.negative_prompt,
        variant=source.variant,
        seed=source.seed,
        width=source.width,
        height=source.height,
        frames=overlap + new,
        fps=source.fps,
        video=list(context),
        audio=source.audio,
        loras=[(lora["name"], lora["weight"]) for lora in source.settings.get("loras", [])],
    )
    plan = renderer.plan(request)
    hold = None
    if sound is not None and not backward:  # the overlap's own sound is held, so the new sound carries on from it
        context_s = overlap / source.fps
        hold = Hold(
            waveform=sound[:, max(0, sound.shape[1] - round(context_s * rate)) :],
            rate=rate,
            audio_free_s=(context_s, plan.frames / plan.fps),
        )

    def join(decoded: Decoded) -> Decoded:
        fresh = media.fit_frames(decoded.frames[overlap:], frames.shape[2], frames.shape[1])  # a clip off the grid
        picture = np.concatenate([fresh[::-1], frames] if backward else [frames, fresh])
        audio, out_rate = decoded.audio, decoded.sample_rate
        if audio is not None and sound is not None:
            cut = round(overlap / source.fps * decoded.sample_rate)
            tail = resample(audio[:, cut:], decoded.sample_rate, rate)  # the source's rate (a soundtrack's may differ)
            audio = np.concatenate([tail[:, ::-1], sound] if backward else [sound, tail], axis=1)
            out_rate = rate
        return Decoded(picture, audio, out_rate)

    record = {"extend": {"source": source.id, "seconds": seconds, "backward": backward, "overlap": overlap, "new": new}}
    spec = TakeSpec(
        kind="extend", parent=source.id, record=record, hold=hold, join=join, timings={"read": read_s},
        copy=(source.path("video"), len(frames), not backward),  # the source's frames are its own packets: no generation lost
    )  # fmt: skip
    return renderer.run(plan, spec, on_event=on_event, cancel=cancel)
