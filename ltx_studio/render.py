"""One render, start to finish: validate and snap the request, then load, encode, denoise (with
live previews), decode, write, store.

`plan_render` turns a loose `RenderRequest` into a `RenderPlan` whose numbers are on LTX's grids
and within the variant's limits (or raises BadInput with one clear line). `render_take` runs a
plan through the manager's pipeline and the family adapter and stores a `Take`.
"""

from __future__ import annotations

import secrets
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from PIL import Image

from . import faults, loras, media, sizing
from .errors import BadInput, Cancelled, StudioError
from .events import CancelToken, EventSink, Preview, Progress, TakeDone
from .families import Decoded, DenoiseJob, Latents
from .manager import PipelineManager
from .preview import calibration_for
from .takes import Take, TakeStore, new_take_id
from .variants import ModelSet, Sampling, Variant

MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1
MAX_SIDE_ASKED = 8192
AUTO_MAX_SECONDS = 20.0  # the duration head's own default upper bound


@dataclass
class RenderRequest:
    """What a person asks for. Anything left None takes the variant's default."""

    prompt: str = ""
    negative_prompt: str | None = None
    variant: str | None = None
    seed: int = -1  # -1: random; the seed used is always recorded
    width: int | None = None
    height: int | None = None
    resolution: str | None = None  # a preset of sizing.RESOLUTIONS, instead of width/height
    frames: int | None = None
    seconds: float | str | None = None  # instead of frames; "auto": the model picks (LTX-2.5's duration head)
    fps: int | None = None
    steps: int | None = None
    guidance: float | None = None
    image: str | Path | Image.Image | None = None  # first frame
    audio: bool = True  # the soundtrack, for model sets that make one (LTX-2); False: a silent mp4
    typed_prompt: str | None = None  # what the person typed, when `prompt` is its enhanced rewrite
    loras: list = field(default_factory=list)  # "NAME[:WEIGHT]", (name, weight) or {"lora", "weight"}: loras.choose


@dataclass
class RenderPlan:
    """A validated request: every number on the grid and within limits, the image loaded."""

    prompt: str
    negative_prompt: str
    variant: Variant
    seed: int
    width: int
    height: int
    frames: int
    fps: int
    steps: int | None  # None: the variant's own timesteps
    guidance: float
    image: Image.Image | None = None  # the first frame fitted to width x height
    snapped: dict[str, dict] = field(default_factory=dict)
    source_image: Image.Image | None = None  # the first frame as given (bounded), kept to re-fit at other sizes
    audio: bool = False  # make the soundtrack (only where the model set has sound)
    typed_prompt: str | None = None
    auto_length: tuple[float, float] | None = None  # (min, max) seconds the duration head may choose
    loras: tuple[loras.LoraChoice, ...] = ()  # resolved and read; applied to the pipeline by the manager

    @property
    def num_steps(self) -> int:
        return self.steps or self.variant.sampling.num_steps

    def at_size(self, width: int, height: int) -> RenderPlan:
        """The same plan at another size, its first frame re-fitted from the original."""
        image = media.fit_image(self.source_image, width, height) if self.source_image is not None else None
        return replace(self, width=width, height=height, image=image)


def _number(name: str, value, kind: type, low: float, high: float):
    """`value` as int/float within [low, high], or BadInput naming the field."""
    if isinstance(value, bool) or value is None:
        raise BadInput(f"{name} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise BadInput(f"{name} must be a number, got {str(value)[:40]!r}") from None
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise BadInput(f"{name} must be a whole number, got {value}")
    if number != number or not low <= number <= high:  # NaN fails the first test
        raise BadInput(f"{name} must be between {low:g} and {high:g}, got {value}")
    return number


def _snap(snapped: dict, name: str, asked, used):
    if asked != used:
        snapped[name] = {"asked": asked, "used": used}
    return used


def plan_render(request: RenderRequest, model_set: ModelSet, lora_folder: Path | None = None) -> RenderPlan:
    """Validate and snap a request against a model set's variant, or raise BadInput (LoRA names: `lora_folder`)."""
    variant = model_set.variant(request.variant or model_set.default_variant)
    sampling = variant.sampling
    prompt = (request.prompt or "").strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadInput(f"prompt is too long: {len(prompt)} characters (at most {MAX_PROMPT_CHARS})")
    image = None
    if isinstance(request.image, Image.Image):
        image = request.image.convert("RGB")
    elif request.image:
        image = media.load_image(request.image)
    if not prompt and image is None:
        raise BadInput("prompt is empty: describe the video (or give a first frame)")
    negative = model_set.negative_prompt if request.negative_prompt is None else request.negative_prompt.strip()
    if len(negative) > MAX_PROMPT_CHARS:
        raise BadInput(f"negative prompt is too long: {len(negative)} characters (at most {MAX_PROMPT_CHARS})")

    seed = _number("seed", request.seed, int, -1, MAX_SEED)
    if seed == -1:
        seed = secrets.randbelow(MAX_SEED + 1)
    fps = _number("fps", request.fps if request.fps is not None else sampling.fps, int, 1, 120)
    steps = None if request.steps is None else _number("steps", request.steps, int, 1, 200)
    guidance = _number(
        "guidance", request.guidance if request.guidance is not None else sampling.guidance, float, 0, 30
    )

    snapped: dict[str, dict] = {}
    width, height = _plan_size(request, variant, image)
    grid = 2 * sizing.SIZE_MULTIPLE if sampling.two_stage else sizing.SIZE_MULTIPLE  # stage 1 runs at half size
    width = _snap(snapped, "width", width, sizing.snap_side(width, grid))
    height = _snap(snapped, "height", height, sizing.snap_side(height, grid))
    if min(width, height) < sizing.MIN_SIDE:
        raise BadInput(f"size {width}x{height} is too small: each side at least {sizing.MIN_SIDE}")
    if not sizing.fits((width, height), variant.max_size):
        long_side, short_side = max(variant.max_size), min(variant.max_size)
        raise BadInput(f"size {width}x{height} is over {variant.label}'s limit of {long_side}x{short_side}")

    auto_length = None
    if isinstance(request.seconds, str) and request.seconds.strip().lower() == "auto" and request.frames is None:
        if not model_set.auto_duration:
            raise BadInput(f'length "auto" needs a model set with a duration head (LTX-2.5); {model_set.name} has none')
        auto_length = (1.0, min(AUTO_MAX_SECONDS, sizing.seconds_for_frames(variant.max_frames, fps)))
        asked = variant.draft_frames  # until the duration head has read the prompt
    elif request.frames is not None:
        asked = _number("frames", request.frames, int, 1, 100_000)
    elif request.seconds is not None:
        asked = sizing.frames_for_seconds(_number("seconds", request.seconds, float, 0.01, 3600), fps)
    else:
        asked = variant.draft_frames
    frames = _snap(snapped, "frames", asked, sizing.snap_frames(asked))
    if frames > variant.max_frames:
        limit = sizing.seconds_for_frames(variant.max_frames, fps)
        raise BadInput(
            f"{frames} frames is over {variant.label}'s limit of {variant.max_frames} ({limit:.1f} s at {fps} fps)"
        )

    fitted = media.fit_image(image, width, height) if image is not None else None
    source = media.bounded(image) if image is not None else None
    audio = bool(request.audio) and model_set.has_audio
    typed = (request.typed_prompt or "").strip()[:MAX_PROMPT_CHARS] or None
    return RenderPlan(
        prompt, negative, variant, seed, width, height, frames, fps, steps, guidance, fitted, snapped, source, audio,
        typed, auto_length, loras.choose(request.loras, lora_folder),
    )  # fmt: skip


def _plan_size(request: RenderRequest, variant: Variant, image: Image.Image | None) -> tuple[float, float]:
    """Width and height as asked (before snapping): explicit, a preset, or the draft size in the image's aspect."""
    aspect = image.width / image.height if image is not None else None
    if request.resolution and request.resolution not in sizing.RESOLUTIONS:
        raise BadInput(f"unknown resolution {request.resolution!r} (choose from: {', '.join(sizing.RESOLUTIONS)})")
    width, height = request.width, request.height
    if width is not None:
        width = _number("width", width, int, 1, MAX_SIDE_ASKED)
    if height is not None:
        height = _number("height", height, int, 1, MAX_SIDE_ASKED)
    if width is not None and height is not None:
        return width, height
    if request.resolution:
        long_side, short_side = sizing.RESOLUTIONS[request.resolution]
        portrait = aspect is not None and aspect < 1
        return (short_side, long_side) if portrait else (long_side, short_side)
    aspect = aspect or variant.draft_size[0] / variant.draft_size[1]
    if width is not None:
        return width, width / aspect
    if height is not None:
        return height * aspect, height
    if image is not None:
        return sizing.size_for_aspect(aspect, variant.draft_size)
    return variant.draft_size


def plan_from_take(take: Take, model_set: ModelSet, lora_folder: Path | None = None, **changes) -> RenderPlan:
    """Re-plan a stored take's settings (same prompt, seed, first frame), with `changes` applied."""
    request = RenderRequest(
        prompt=take.prompt,
        negative_prompt=take.negative_prompt,
        variant=take.variant,
        seed=take.seed,
        width=take.width,
        height=take.height,
        frames=take.frames,
        fps=take.fps,
        steps=take.settings.get("steps_override"),
        guidance=take.guidance,
        image=take.path("image") if take.image else None,
        audio=take.audio,
        typed_prompt=take.typed_prompt,
        loras=[(lora["name"], lora["weight"]) for lora in take.settings.get("loras", [])],
    )
    return plan_render(replace(request, **changes), model_set, lora_folder)


def render_take(
    plan: RenderPlan,
    *,
    manager: PipelineManager,
    store: TakeStore,
    kind: str = "draft",
    parent: str | None = None,
    start_latents: Latents | None = None,
    timings: dict[str, float] | None = None,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    preview: bool = True,
) -> Take:
    """Render a plan and store it as a take. With `start_latents`, refine them (upscale stage 2)."""
    emit = on_event or (lambda event: None)
    timings = dict(timings or {})
    family = manager.family

    def clock(stage: str, started: float) -> float:
        if manager.policy.device.startswith("cuda"):
            torch.cuda.synchronize()  # stage times must not bleed into the next stage
        now = time.perf_counter()
        timings[stage] = round(timings.get(stage, 0.0) + now - started, 4)
        emit(Progress(stage, 1.0))
        return now

    # 1. Load (a cache hit costs nothing).
    started = time.perf_counter()
    emit(Progress("load", 0.0, f"Loading {plan.variant.label}"))
    pipe = manager.get(plan.variant.name)
    stages = _stages(plan, manager.model_set, refine=start_latents is not None)
    for stage in stages:  # Pro's refine stage runs on the distilled transformer: both are loaded (cached) now
        stage.pipe = pipe if stage.variant is plan.variant else manager.get(stage.variant.name)
    manager.apply_loras([stage.pipe for stage in stages], plan.loras)  # exactly these adapters; none: all off
    to_rgb = calibration_for(family, pipe, _vae_key(manager)) if preview else None  # cached on disk
    started = clock("load", started)

    if cancel is not None and cancel.cancelled:
        raise Cancelled("render stopped")

    # 2. Encode the prompt for each stage (cached by text encoder + prompt + negative prompt).
    emit(Progress("text", 0.0, "Encoding the prompt"))
    for stage in stages:
        stage.embeds, stage.prompt_cached = manager.prompt_embeds(
            stage.pipe, plan.prompt, plan.negative_prompt, stage.guidance
        )
    if plan.auto_length is not None:  # LTX-2.5 reads the length off the prompt
        frames = family.predict_frames(stages[0].pipe, stages[0].embeds, plan.fps, *plan.auto_length)
        plan = replace(plan, frames=frames, snapped={**plan.snapped, "frames": {"asked": "auto", "used": frames}})
        for stage in stages:
            stage.plan = replace(stage.plan, frames=frames)
    started = clock("text", started)

    # 3. Denoise (both stages of a two-stage variant), streaming the denoised estimate of each step.
    generator = torch.Generator("cpu").manual_seed(plan.seed)
    total = sum(stage.steps for stage in stages)
    emit(Progress("denoise", 0.0, f"Denoising ({total} steps)"))
    done = {"steps": 0, "previews": 0}

    def on_x0(x0):
        done["previews"] += 1
        emit(Preview(min(done["previews"], total), total, to_rgb.image(x0)))

    latents = start_latents
    for stage in stages:
        if stage.upsample_first:
            emit(Progress("upsample", 0.0, "Upsampling the first stage x2"))
            latents = family.upsample(
                manager.upsampler(),
                latents,
                manager.model_set.upsample_adain_factor,
                manager.model_set.upsample_tone_map_compression_ratio,
                generator,
            )
        latents = _run_stage(stage, latents, manager, generator, on_x0 if preview else None, emit, cancel, done, total)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("render stopped")
    started = clock("denoise", started)

    # 4. Decode (the picture, and the soundtrack when asked).
    emit(Progress("decode", 0.0, "Decoding"))
    faults.inject("decode")
    manager.prepare_decode(plan.width, plan.height)  # VAE tiling for large outputs
    decoded = family.decode(stages[-1].pipe, latents, plan.variant.sampling, generator, audio=plan.audio)
    frames = decoded.frames
    started = clock("decode", started)
    if cancel is not None and cancel.cancelled:
        raise Cancelled("render stopped")

    # 5. Write the files aside, then move them into the store in one rename.
    emit(Progress("write", 0.0, "Writing the video"))
    take = Take(
        id=new_take_id(),
        kind=kind,
        prompt=plan.prompt,
        negative_prompt=plan.negative_prompt,
        model_set=manager.model_set.name,
        variant=plan.variant.name,
        seed=plan.seed,
        width=plan.width,
        height=plan.height,
        frames=int(frames.shape[0]),
        fps=plan.fps,
        steps=total,
        guidance=plan.guidance,
        parent=parent,
        image="first_frame.png" if plan.source_image is not None else None,
        snapped=plan.snapped,
        settings=_settings(plan, stages, prompt_cached=all(stage.prompt_cached for stage in stages)),
        audio=decoded.audio is not None,
        sample_rate=decoded.sample_rate,
        typed_prompt=plan.typed_prompt,
    )
    staged = None
    try:
        staged = store.stage()
        take.folder = str(staged)
        _write_files(take, decoded, latents, plan)
        clock("write", started)
        take.timings = timings
        take.timings["total"] = round(sum(v for k, v in timings.items() if k != "total"), 4)
        take = store.add(take, staged)
    except BaseException as exc:
        full = media.disk_full(exc, store.root)  # measured before the partial files are removed
        if staged is not None:
            store.discard(staged)  # nothing half-written stays behind; earlier takes are untouched
        if full:
            raise StudioError(
                f"the disk holding {store.root} is full: free some space and render again; earlier takes are untouched"
            ) from None
        raise
    emit(TakeDone(take))
    return take


@dataclass
class _Stage:
    """One denoising pass of a render: its size, variant, guidance and steps (and, once loaded, its pipe)."""

    plan: RenderPlan  # the plan at this stage's size
    variant: Variant
    guidance: float
    refine: bool
    upsample_first: bool  # the previous stage's latents go through the x2 upsampler first
    steps: int
    pipe: object = None
    embeds: object = None
    prompt_cached: bool = False


def _stages(plan: RenderPlan, model_set: ModelSet, *, refine: bool) -> list[_Stage]:
    """The passes a plan runs: one; or, for a two-stage variant, half size + upsample + refine;
    or, refining given latents (upscale), the refine pass alone. A refine pass runs with the variant's
    `refine_variant` (Pro refines with the distilled transformer), at that variant's own guidance."""
    sampling = plan.variant.sampling
    finisher = model_set.variants[sampling.refine_variant] if sampling.refine_variant else plan.variant
    finish_guidance = plan.guidance if finisher is plan.variant else finisher.sampling.guidance
    finish = _Stage(plan, finisher, finish_guidance, True, False, finisher.sampling.refine_schedule()[3])
    if refine:
        return [finish]
    if not sampling.two_stage:
        return [_Stage(plan, plan.variant, plan.guidance, False, False, plan.num_steps)]
    first = _Stage(
        plan.at_size(plan.width // 2, plan.height // 2), plan.variant, plan.guidance, False, False, plan.num_steps
    )
    finish.upsample_first = True
    return [first, finish]


def _run_stage(stage: _Stage, latents, manager, generator, on_x0, emit, cancel, done, total) -> Latents:
    """Denoise one stage through the family, counting steps across stages for progress and previews."""
    family = manager.family
    offset = done["steps"]

    def on_step(step: int, steps: int) -> bool:
        done["steps"] = offset + step
        emit(Progress("denoise", done["steps"] / max(total, 1), f"Step {done['steps']} of {total}"))
        return cancel is not None and cancel.cancelled

    job = denoise_job(
        stage.plan,
        stage.embeds,
        generator,
        sampling=stage.variant.sampling,
        guidance=stage.guidance,
        latents=latents if stage.refine else None,
        refine=stage.refine,
        on_step=on_step,
    )
    shape = sizing.latent_shape(stage.plan.width, stage.plan.height, stage.plan.frames)
    capture = family.capture_denoised(stage.pipe, *shape, on_x0) if on_x0 is not None else nullcontext()
    with capture:
        faults.inject("denoise")
        return family.denoise(stage.pipe, job)


def denoise_job(plan: RenderPlan, embeds, generator: torch.Generator, **options) -> DenoiseJob:
    """The family's denoise job for a plan: its size, sampling, guidance, steps, first frame and sound."""
    values = dict(
        prompt=embeds,
        width=plan.width,
        height=plan.height,
        frames=plan.frames,
        fps=plan.fps,
        sampling=plan.variant.sampling,
        generator=generator,
        guidance=plan.guidance,
        steps=plan.steps,
        image=plan.image,
        audio=plan.audio,
    )
    values.update(options)
    if values.get("refine"):
        values["steps"] = None  # a refine pass runs its own schedule
    return DenoiseJob(**values)


def _write_files(take: Take, decoded: Decoded, latents: Latents, plan: RenderPlan) -> None:
    from safetensors.torch import save_file

    metadata = {
        k: getattr(take, k)
        for k in ("id", "prompt", "seed", "model_set", "variant", "width", "height", "frames", "fps")
    }
    media.write_mp4(take.path("video"), decoded.frames, take.fps, metadata, decoded.audio, decoded.sample_rate)
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


def load_latents(take: Take) -> Latents:
    """A take's stored latents (picture, and sound where it was kept)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(take.path("latents")))
        return Latents(tensors["latents"], tensors.get("audio_latents"))
    except (OSError, SafetensorError, KeyError):
        raise StudioError(f"take {take.id}: its latents file is unreadable, so it cannot be upscaled") from None


def _settings(plan: RenderPlan, stages: list[_Stage], *, prompt_cached: bool) -> dict:
    sampling: Sampling = stages[-1].variant.sampling
    refine = stages[-1].refine
    settings = {
        "steps_override": plan.steps,
        "timesteps": list((sampling.refine_timesteps if refine else sampling.timesteps) or []) or None,
        "sigmas": list((sampling.refine_sigmas if refine else sampling.sigmas) or []) or None,
        "guidance_rescale": sampling.guidance_rescale,
        "decode_timestep": sampling.decode_timestep,
        "decode_noise_scale": sampling.decode_noise_scale,
        "image_cond_noise_scale": sampling.image_cond_noise_scale,
        "prompt_cached": prompt_cached,
        "decoder": plan.variant.sampling.decoder,
        "loras": [lora.record() for lora in plan.loras],
        "stages": [
            {"variant": s.variant.name, "size": [s.plan.width, s.plan.height], "steps": s.steps, "refine": s.refine}
            for s in stages
        ],
    }
    if refine:
        settings["refine_denoise_strength"] = sampling.refine_denoise_strength
    return settings


def _vae_key(manager: PipelineManager) -> str:
    return f"{manager.model_set.name}|{manager.model_set.components['vae'].describe()}"
