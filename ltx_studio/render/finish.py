"""Finishing passes on a clip that exists (a take, or an uploaded video): a new take, parent = the source.

Which passes a set has is data (models/passes.py). Here they run:
- `temporal` (frame rate x2/x4, or slow motion): the source's latents through the temporal x2 latent
  upsampler (once per x2), then a short refine at the new frame count and rate (the refine schedule of
  the pass's variant), as the spatial x2 final is made (render/upscale.py). N frames become
  factor x (N - 1) + 1. Frame rate: the same seconds at factor x the rate, the source's own sound on it,
  unchanged. Slow motion: the new frames at the source's rate, factor x longer; the sound is dropped
  (stretched sound is rarely what an editor wants under slow motion; they lay their own).
- `ic` and `hdr`: the pass's IC-LoRA with the source as its reference video (tokens at timestep 0 beside
  the clip's, render/plan.py), at the source's size, length and rate; the source's sound kept as it was.
  An `output = "matte"` pass makes an alpha matte: the take is the matte (greyscale), and `alpha.mov`
  (ProRes 4444) the source with the matte as its alpha. HDR: the decoded picture is LogC3, read as
  float: `hdr.mp4` (HEVC Main10, HLG) and, asked, `exr/` (half-float OpenEXR frames) beside an SDR take.

Every check (the pass, the factor, the prompt, the source, the memory plan) is made from the take's
record or a file's probe before anything decodes or queues (`check_finish`)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core import sizing
from ..core.errors import BadInput, StudioError
from ..core.events import CancelToken, EventSink, Progress
from ..library import grade, media, probe
from ..library.takes import Take
from ..models.families.base import Decoded, Latents
from ..models.pass_weights import pass_lora, temporal_upsampler
from ..models.passes import FACTORS, Pass
from .fit import check_fits
from .hold import grid_frames, padded
from .plan import MAX_FPS
from .renderer import Renderer
from .request import RenderRequest
from .soundtrack import take_or_file
from .story import TakeSpec, own_latents, render_take

PLAIN_PROMPT = "The same scene, as it is."  # an uploaded clip's pass with no prompt of its own or the pass's


@dataclass(frozen=True)
class Finishing:
    """A checked pass: what runs, on what (a take or a file), and the clip it makes."""

    one: Pass
    factor: int
    take: Take | None
    path: Path | None
    name: str  # the source as the take records it: a take id or a file's name
    frames: int  # the source's
    fps: int
    width: int  # the size the pass renders at: the source's padded up to the grid (or, too large, scaled)
    height: int
    size: tuple[int, int]  # the new take's (width, height): the source's (even sides), when `padded`
    padded: bool  # the source sits at the top left of the render, padded; the output is cropped back

    @property
    def out_frames(self) -> int:
        return self.factor * (self.frames - 1) + 1

    @property
    def rendered_frames(self) -> int:
        """The frames the render makes: the source's on the 8k+1 grid, x factor."""
        return self.factor * (grid_frames(self.frames) - 1) + 1

    @property
    def out_fps(self) -> int:
        return self.fps if self.one.slow else self.fps * self.factor


def check_finish(
    renderer: Renderer, source, pass_name: str, factor=None, prompt=None, *, files: bool = True
) -> Finishing:
    """The pass to run on `source` (a take id, or with `files` a video file), or BadInput with one line."""
    mset, name = renderer.model_set, str(pass_name or "").strip()
    one = mset.passes.get(name)
    if one is None:
        have = ", ".join(mset.passes) or "none"
        if "hdr" in name.lower():
            raise BadInput(f"model set {mset.name} has no HDR pass (it needs the HDR IC-LoRA); its passes: {have}")
        raise BadInput(f"model set {mset.name} has no pass {name!r}; its passes: {have}")
    if one.kind == "temporal":
        factor = 2 if factor in (None, "") else factor
        if str(factor) not in {str(f) for f in FACTORS}:
            raise BadInput(f"the frame-rate factor is 2 or 4, not {factor!r}")
        factor = int(factor)
    elif factor not in (None, "", 1, "1"):
        raise BadInput(f"pass {name} keeps the frame rate: a factor goes with a frame-rate or slow-motion pass")
    if one.prompt == "required" and not str(prompt or "").strip():
        raise BadInput(
            f'pass {name} needs a prompt: the scene without what it removes (e.g. "the empty street, no people")'
        )
    take, path = take_or_file(renderer, source, files)
    if take is not None:
        frames, fps, width, height, what = take.frames, take.fps, take.width, take.height, take.id
    else:
        info = probe.probe_video(path)  # the container's word, before a frame is decoded
        frames, fps, (width, height), what = info.frames, max(1, round(info.fps)), (info.width, info.height), path.name
    variant = mset.variant(one.variant or mset.default_variant)
    size = (max(2, width // 2 * 2), max(2, height // 2 * 2))  # H.264 and 4:2:0 need even sides
    (render_w, render_h), padded = _size(*size, variant)
    job = Finishing(one, factor or 1, take, path, what, frames, fps, render_w, render_h, size, padded)
    if job.rendered_frames > variant.max_frames:
        most = (variant.max_frames - 1) // job.factor + 1
        raise BadInput(
            f"{what} is {frames} frames: pass {name}{f' x{job.factor}' if job.factor > 1 else ''} makes at most "
            f"{variant.max_frames} on this set, so it takes clips of up to {most} frames ({(most - 1) / fps:.2f} s)"
        )
    rate = fps * job.factor  # what the render runs at (slow motion plays it slower afterwards)
    if rate > MAX_FPS:
        raise BadInput(f"{what} is {fps} fps: x{job.factor} would render at {rate} fps (at most {MAX_FPS}); use x2")
    guided = variant.sampling.guidance > 1 and one.kind != "temporal"
    check_fits(renderer.manager.policy, render_w, render_h, job.rendered_frames, rate, guided=guided)
    return job


def finish(
    renderer: Renderer,
    source,
    pass_name: str,
    *,
    factor=None,
    prompt: str | None = None,
    seed: int = -1,
    exr: bool = False,
    files: bool = True,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> Take:
    """Run a finishing pass on `source` (see the module's docstring): the new take."""
    job = check_finish(renderer, source, pass_name, factor, prompt, files=files)
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    frames, audio, rate = _read(job, emit)
    read_s = round(time.perf_counter() - started, 4)
    text = (prompt or "").strip() or (job.take.prompt if job.take else "") or job.one.default_prompt or PLAIN_PROMPT
    record = {
        "finish": {
            "pass": job.one.name,
            "kind": job.one.kind,
            "factor": job.factor,
            "source": job.name,
            "sound": "dropped" if job.one.slow and audio is not None else ("kept" if audio is not None else "none"),
        }
    }
    if job.take is None:
        record["finish"]["sha256"] = hashlib.sha256(job.path.read_bytes()).hexdigest()
    spec = TakeSpec(kind="finish", parent=job.take.id if job.take else None, record=record, timings={"read": read_s})
    if job.one.kind == "temporal":
        return _frame_rate(renderer, job, text, seed, frames, (audio, rate), spec, on_event, cancel)
    variant = job.one.variant or renderer.model_set.default_variant
    count = grid_frames(len(frames))
    fitted = _fit(padded(frames, count), job)
    request = RenderRequest(
        prompt=text, variant=variant, seed=seed, width=job.width, height=job.height, frames=count, fps=job.fps,
        steps=job.one.steps, audio=False, reference=list(fitted), reference_strength=1.0,
        loras=[(pass_lora(renderer.model_set, job.one), 1.0)],
    )  # fmt: skip
    plan = renderer.plan(request)
    keep = len(frames)

    def cut(pictures):  # the source's frames, at the source's size
        return _crop(pictures[:keep], job)

    if job.one.kind == "hdr":
        spec.unit, spec.join, spec.extras = True, _hdr_join(cut, audio, rate), _hdr_files(job.out_fps, audio, rate, exr)
    elif job.one.output == "matte":
        spec.join, spec.extras = _matte_join(cut, audio, rate), _alpha_file(cut(fitted), job.fps)
    else:
        spec.join = lambda decoded: Decoded(cut(decoded.frames), audio, rate)
    return renderer.run(plan, spec, on_event=on_event, cancel=cancel)


def _frame_rate(renderer, job: Finishing, text, seed, frames, sound, spec: TakeSpec, on_event, cancel) -> Take:
    count = grid_frames(len(frames))
    upsampled = (count - 1) * job.factor + 1
    request = RenderRequest(
        prompt=text, variant=job.one.variant or renderer.model_set.default_variant, seed=seed, width=job.width,
        height=job.height, frames=upsampled, fps=job.fps * job.factor, steps=job.one.steps, audio=False,
    )  # fmt: skip
    plan = renderer.plan(request)
    manager, emit, keep = renderer.manager, on_event or (lambda event: None), job.out_frames
    audio, rate = sound
    spec.fps = job.out_fps
    spec.join = lambda decoded: Decoded(_crop(decoded.frames[:keep], job), None if job.one.slow else audio, rate)

    def work() -> Take:
        started = time.perf_counter()
        emit(Progress("upsample", 0.0, f"Upsampling the frames x{job.factor} in time"))
        mine = job.take is not None and job.take.model_set == renderer.model_set.name  # latents of this VAE
        own = own_latents(job.take) if mine and count == job.frames else None
        if own is not None and tuple(own.video.shape[-2:]) == sizing.latent_shape(job.width, job.height, count)[1:]:
            video = own.video
        else:  # a file, or a take off the grid: its frames encoded as a pass leaves latents
            pipe = manager.get(plan.variant.name)
            video = manager.family.encode_video(pipe, _fit(padded(frames, count), job))
        model = temporal_upsampler(manager, job.one)
        with torch.no_grad():
            for _ in range(job.factor // 2):
                video = model(video.to(manager.policy.device, model.dtype)).to(torch.float32)
        emit(Progress("upsample", 1.0))
        spec.start_latents = Latents(video.cpu(), None)
        spec.timings["upsample"] = round(time.perf_counter() - started, 4)
        return render_take(plan, spec, manager=manager, store=renderer.store, on_event=on_event, cancel=cancel)

    return renderer.run_work(plan, on_event, cancel, work)


def _hdr_join(cut, audio, rate):
    def join(decoded: Decoded) -> Decoded:
        if decoded.unit is None:
            raise StudioError("the HDR pass needs the VAE's float picture; this variant decodes otherwise")
        linear = grade.logc3_to_linear(cut(decoded.unit))
        return Decoded(grade.linear_to_srgb8(linear), audio, rate, unit=linear)

    return join


def _hdr_files(fps: int, audio, rate, exr: bool):
    def extras(folder: Path, decoded: Decoded) -> dict[str, str]:
        linear = decoded.unit
        even = linear[:, : linear.shape[1] // 2 * 2, : linear.shape[2] // 2 * 2]
        grade.write_hlg_mp4(folder / "hdr.mp4", even, fps, audio, rate)
        made = {"hdr": "hdr.mp4"}
        if exr:
            grade.zip_folder(grade.write_exr_frames(folder / "exr", linear))  # the zip: one download
            made.update(exr="exr", exr_zip="exr.zip")
        return made

    return extras


def _matte_join(cut, audio, rate):
    def join(decoded: Decoded) -> Decoded:
        grey = cut(decoded.frames).mean(axis=-1).round().astype(np.uint8)
        return Decoded(np.repeat(grey[..., None], 3, axis=-1), audio, rate)

    return join


def _alpha_file(source: np.ndarray, fps: int):
    def extras(folder: Path, decoded: Decoded) -> dict[str, str]:
        grade.write_alpha_mov(folder / "alpha.mov", source, decoded.frames[..., 0], fps)
        return {"alpha": "alpha.mov"}

    return extras


def _size(width: int, height: int, variant) -> tuple[tuple[int, int], bool]:
    """(the size a pass renders at, whether the source is padded into it): the source's sides rounded up to the
    model's grid, so the output crops back to the source's pixels exactly; a source larger than the variant
    renders is scaled to its full size instead (and the take is that size)."""
    up = tuple(-(-side // sizing.SIZE_MULTIPLE) * sizing.SIZE_MULTIPLE for side in (width, height))
    if sizing.fits(up, variant.max_size):
        return up, True
    return sizing.size_for_aspect(width / height, variant.full_size), False


def _fit(frames: np.ndarray, job: Finishing) -> np.ndarray:
    """The source's frames at the render's size: padded at the bottom and right by repeating the edge (the
    output is cropped back), or scaled when the source is larger than the set renders."""
    if not job.padded:
        return media.fit_frames(frames, job.width, job.height)
    frames = frames[:, : job.size[1], : job.size[0]]
    extra = ((0, 0), (0, job.height - frames.shape[1]), (0, job.width - frames.shape[2]), (0, 0))
    return np.pad(frames, extra, mode="edge")


def _crop(pictures: np.ndarray, job: Finishing) -> np.ndarray:
    """The render's output back at the source's size (where it was padded)."""
    return pictures[:, : job.size[1], : job.size[0]] if job.padded else pictures


def _read(job: Finishing, emit: EventSink) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """The source's frames (uint8 [F, H, W, 3]) and its sound (waveform, rate; None, None if silent)."""
    path = job.take.path("video") if job.take is not None else job.path
    emit(Progress("read", 0.0, f"Reading {job.name}"))
    if job.take is not None:
        frames, _ = media.read_mp4(path)
    else:
        info = probe.probe_video(path)
        frames = np.stack([np.asarray(p) for p in probe.video_frames(path, info, info.fps, job.frames + 1)])
        if len(frames) < 2:
            raise BadInput(f"{job.name} is not a video: a pass works on a clip (a take id or an mp4/mov/webm)")
    audio, rate = media.read_audio(path)
    emit(Progress("read", 1.0))
    return frames[: job.frames], audio, rate
