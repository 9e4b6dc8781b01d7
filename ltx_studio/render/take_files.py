"""A rendered take's files, written into its staged folder before the store adds it (story.py `_Run.store`)."""

from __future__ import annotations

from pathlib import Path

from ..core import faults
from ..library import media, sound
from ..library.join import join_mp4
from ..library.takes import Take
from ..models.families.base import Decoded, Latents
from .plan import SOUNDTRACK_FILE, RenderPlan


def write_take_files(take: Take, decoded: Decoded, latents: Latents, plan: RenderPlan, copy=None) -> None:
    """Everything a take keeps, in its (staged) folder: the mp4 (or, with `copy`, a file's packets joined to
    the new frames), the poster, the latents, and what an upscale or Pro re-render must follow again."""
    from safetensors.torch import save_file

    metadata = {
        k: getattr(take, k)
        for k in ("id", "prompt", "seed", "model_set", "variant", "width", "height", "frames", "fps")
    }
    if copy is None:
        media.write_mp4(take.path("video"), decoded.frames, take.fps, metadata, decoded.audio, decoded.sample_rate)
    else:
        _write_joined(take, decoded, copy, metadata)
    faults.inject("write")
    media.write_png(take.path("poster"), decoded.frames[len(decoded.frames) // 2])
    tensors = {"latents": latents.video.float().cpu().contiguous()}
    if latents.audio is not None:  # kept for upscale, which refines the sound too
        tensors["audio_latents"] = latents.audio.float().cpu().contiguous()
    tmp = take.path("latents").with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"take": take.id})
    media.commit(tmp, take.path("latents"))
    if plan.source_image is not None:
        media.write_png(take.path("image"), plan.source_image)
    if plan.soundtrack is not None and decoded.audio is not None:  # kept, so an upscale follows it too
        sound.write_wav(Path(take.folder) / SOUNDTRACK_FILE, decoded.audio, decoded.sample_rate)
    for i, keyframe in enumerate(plan.keyframes):  # kept, so a Pro re-render passes through them too
        media.write_png(Path(take.folder) / f"keyframe-{i}.png", keyframe.image)


def _write_joined(take: Take, decoded: Decoded, copy: tuple[Path, int, bool], metadata: dict) -> None:
    """The take's mp4 as a file's packets (its frames, unchanged) joined to the new frames, encoded once;
    the whole sound encoded once over both."""
    source, kept, first = copy
    fresh = decoded.frames[kept:] if first else decoded.frames[: len(decoded.frames) - kept]
    part = Path(take.folder) / ".new-frames.mp4"
    media.write_mp4(part, fresh, take.fps)
    try:
        parts = [Path(source), part] if first else [part, Path(source)]
        join_mp4(parts, take.path("video"), audio=decoded.audio, sample_rate=decoded.sample_rate, metadata=metadata)
    finally:
        part.unlink(missing_ok=True)
