"""One render, start to finish: load, encode, prepare what it holds, denoise (with live previews), decode,
write, store.

`render_take` runs a `RenderPlan` (plan.py: `plan_render` validates and snaps a request) through the
manager's pipeline and the family adapter and stores a `Take`; a `TakeSpec` says what the render makes
of it besides (an upscale's start latents, an edit's held tokens and join, the take's kind and parent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..core import faults, sizing
from ..core.errors import Cancelled, StudioError
from ..core.events import CancelToken, EventSink, Preview, Progress, TakeDone
from ..library import media, sound
from ..library.takes import Take, TakeStore, new_take_id
from ..models.families.base import Decoded, DenoiseJob, Latents
from ..models.families.text_kv import text_kv_cache
from ..models.families.tiles import tiled
from ..models.manager import PipelineManager
from ..models.placement import step_cache_config
from ..models.preview import calibration_for
from ..models.variants import ModelSet, Sampling, Variant
from .hold import Hold
from .plan import RenderPlan
from .take_files import write_take_files


@dataclass
class TakeSpec:
    """What a render makes of its plan besides the plan itself.

    `kind` and `parent` go into the take; `record` adds to its settings; `hold` is what stays clean
    while the rest denoises (a retake, a soundtrack for a clip; a plan's own soundtrack makes one);
    `join` turns the decoded clip into the take's clip (an extension joins it to its source);
    `start_latents` are refined instead of starting from noise (upscale stage 2); `timings` are
    stages already timed (the upsample); `copy` is (an mp4, its frame count, whether it comes first) whose
    frames the joined clip holds unchanged at its start or end: they are written by copying that file's packets,
    not encoded again (library/join.py), so an extension chain loses no generation."""

    kind: str = "draft"
    parent: str | None = None
    record: dict | None = None
    hold: Hold | None = None
    join: Callable[[Decoded], Decoded] | None = None
    start_latents: Latents | None = None
    timings: dict[str, float] = field(default_factory=dict)
    copy: tuple[Path, int, bool] | None = None
    fps: int | None = None  # the take plays at this rate, not the plan's (slow motion)
    unit: bool = False  # decode the picture to float too (Decoded.unit: an HDR pass)
    extras: Callable[[Path, Decoded], dict[str, str]] | None = None  # writes more files: {what: name} in settings


def render_take(
    plan: RenderPlan,
    spec: TakeSpec | None = None,
    *,
    manager: PipelineManager,
    store: TakeStore,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    preview: bool = True,
) -> Take:
    """Render a plan and store it as a take (see `TakeSpec` for what else it makes)."""
    spec = spec or TakeSpec()
    if spec.hold is None and plan.soundtrack is not None:  # audio-to-video: the sound is given
        spec = _following_soundtrack(plan, spec)
    run = _Run(manager, on_event or (lambda event: None), cancel, dict(spec.timings))
    stages, to_rgb = run.load(plan, spec, preview)  # 1. load (a cache hit costs nothing)
    plan = run.encode_prompt(plan, stages)  # 2. encode the prompt for each stage (cached)
    run.prepare(plan, stages, spec)  # 3. read the video it follows, encode what it holds (an edit's)
    latents = run.denoise(stages, spec, to_rgb)  # 4. denoise every stage, streaming previews
    decoded = run.decode(plan, stages, spec, latents)  # 5. decode (and join)
    take = run.store(plan, stages, spec, decoded, latents, store)  # 6. write aside, move into the store
    run.emit(TakeDone(take))
    return take


class _Run:
    """The steps of one render, sharing its event sink, cancel token and stage clock."""

    def __init__(self, manager: PipelineManager, emit: EventSink, cancel: CancelToken | None, timings: dict):
        self.manager, self.family, self.emit, self.cancel = manager, manager.family, emit, cancel
        self.timings = timings
        self.started = time.perf_counter()
        self.generator: torch.Generator | None = None

    def clock(self, stage: str) -> None:
        if self.manager.policy.device.startswith("cuda"):
            torch.cuda.synchronize()  # stage times must not bleed into the next stage
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - self.started, 4)
        self.emit(Progress(stage, 1.0))
        self.started = now

    def check(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled("render stopped")

    def load(self, plan: RenderPlan, spec: TakeSpec, preview: bool):
        manager = self.manager
        self.emit(Progress("load", 0.0, f"Loading {plan.variant.label}"))
        pipe = manager.get(plan.variant.name)
        single = spec.hold is not None and spec.hold.single_stage
        stages = _stages(plan, manager.model_set, refine=spec.start_latents is not None, single=single)
        for stage in stages:  # Pro's refine stage may run another transformer: all are loaded (cached) now
            stage.pipe = pipe if stage.transformer is plan.variant else manager.get(stage.transformer.name)
        for stage in stages[1:]:  # a refine pass's own LoRAs fit, or one line now, before any denoising
            if stage.loras != stages[0].loras:
                manager.apply_loras([stage.pipe], stage.loras)
        manager.apply_loras([stage.pipe for stage in stages], stages[0].loras)  # exactly these; none: all off
        to_rgb = calibration_for(self.family, pipe, _vae_key(manager)) if preview else None  # cached on disk
        self.clock("load")
        self.check()
        return stages, to_rgb

    def encode_prompt(self, plan: RenderPlan, stages: list[_Stage]) -> RenderPlan:
        self.emit(Progress("text", 0.0, "Encoding the prompt"))
        for stage in stages:  # cached by text encoder + prompt + negative prompt
            stage.embeds, stage.prompt_cached = self.manager.prompt_embeds(
                stage.pipe, plan.prompt, plan.negative_prompt, stage.guidance
            )
        if plan.auto_length is not None:  # LTX-2.5 reads the length off the prompt
            frames = self.family.predict_frames(stages[0].pipe, stages[0].embeds, plan.fps, *plan.auto_length)
            plan = replace(plan, frames=frames, snapped={**plan.snapped, "frames": {"asked": "auto", "used": frames}})
            for stage in stages:
                stage.plan = replace(stage.plan, frames=frames)
        self.clock("text")
        self.generator = torch.Generator("cpu").manual_seed(plan.seed)
        return plan

    def prepare(self, plan: RenderPlan, stages: list[_Stage], spec: TakeSpec) -> None:
        """Ready what the first stage follows or holds, as a stage of its own before any "denoise" event:
        a source video's frames read (a file's are decoded in the job), the held picture and sound encoded.
        An edit spends seconds here, and the page must not say "Denoising 0 %" meanwhile. A render that
        follows and holds nothing (a plain draft) has no such stage."""
        hold, first = spec.hold, stages[0]
        videos = [(what, v) for what, v in (("source", plan.video), ("reference", plan.reference)) if v is not None]
        parts = len(videos) + (hold is not None)
        for done, (what, video) in enumerate(videos):
            self.emit(Progress("prepare", done / parts, f"Reading the {what} video"))
            video.frames  # noqa: B018 (decoded once here, kept by the video for every stage)
            self.check()
        if hold is not None:
            sound = hold.holds_sound and self.family.has_audio  # LTX-Video holds no sound
            held = " and ".join(name for name, holds in (("frames", hold.holds_picture), ("sound", sound)) if holds)
            self.emit(Progress("prepare", len(videos) / parts, f"Encoding the held {held or 'latents'}"))
            if hold.holds_picture:  # its VAE encode tiles as a decode would
                self.manager.prepare_decode(first.plan.width, first.plan.height)
            first.lock = hold.lock(self.family, first.pipe, first.plan)  # its latents are kept for later stages
            self.check()
        if parts:
            self.clock("prepare")

    def denoise(self, stages: list[_Stage], spec: TakeSpec, to_rgb) -> Latents:
        """Both stages of a two-stage variant, streaming the denoised estimate of each step."""
        manager, family, generator = self.manager, self.family, self.generator
        total = sum(stage.steps for stage in stages)
        self.emit(Progress("denoise", 0.0, f"Denoising ({total} steps)"))
        done = {"steps": 0, "previews": 0}

        def on_x0(x0):
            done["previews"] += 1
            self.emit(Preview(min(done["previews"], total), total, to_rgb.image(x0)))

        latents, hold = spec.start_latents, spec.hold
        for stage in stages:
            if stage.upsample_first:
                self.emit(Progress("upsample", 0.0, "Upsampling the first stage x2"))
                mset = manager.model_set
                latents = family.upsample(
                    manager.upsampler(), latents, mset.upsample_adain_factor,
                    mset.upsample_tone_map_compression_ratio, generator,
                )  # fmt: skip
            if stage.loras != stages[0].loras:  # the refine pass's own LoRA (the distilled one) joins
                manager.apply_loras([stage.pipe], stage.loras)
            lock = stage.lock  # the first stage's was made by `prepare`
            if hold is not None and lock is None:
                if hold.holds_picture:  # its VAE encode tiles as a decode would
                    manager.prepare_decode(stage.plan.width, stage.plan.height)
                lock = hold.lock(family, stage.pipe, stage.plan)
            on_step = _step_counter(self.emit, self.cancel, done, total)
            latents = _run_stage(stage, latents, manager, generator, on_x0 if to_rgb else None, on_step, lock)
            self.check()
        self.clock("denoise")
        return latents

    def decode(self, plan: RenderPlan, stages: list[_Stage], spec: TakeSpec, latents: Latents) -> Decoded:
        sampling, unit = plan.variant.sampling, {"unit": True} if spec.unit else {}

        def one(make_sound: bool) -> Decoded:
            decoded = self.family.decode(stages[-1].pipe, latents, sampling, self.generator, audio=make_sound, **unit)
            if spec.join is not None:
                decoded = replace(spec.join(decoded), decoder=decoded.decoder)  # (a join makes a new clip)
            return decoded

        return self._decoding(plan, one)

    def decode_batch(self, plan: RenderPlan, stages: list[_Stage], latents: Latents, generators: list) -> list[Decoded]:
        """Seeds of one call (render/seeds.py) decoded together, item i with `generators[i]`."""
        pipe, sampling = stages[-1].pipe, plan.variant.sampling
        return self._decoding(plan, lambda sound: self.family.decode_batch(pipe, latents, sampling, generators, sound))

    def _decoding(self, plan: RenderPlan, decode: Callable[[bool], Any]) -> Any:
        """The decode stage around `decode(make_sound)`: its progress, VAE tiling for large outputs, its clock."""
        self.emit(Progress("decode", 0.0, "Decoding"))
        faults.inject("decode")
        self.manager.prepare_decode(plan.width, plan.height)
        decoded = decode(plan.audio and plan.soundtrack is None)  # a given soundtrack is not decoded again
        self.clock("decode")
        self.check()
        return decoded

    def store(
        self, plan, stages, spec: TakeSpec, decoded: Decoded, latents: Latents, store: TakeStore, created: str = ""
    ) -> Take:
        """The take's files staged and added to the store (`created`: its creation time, else when it is added)."""
        self.emit(Progress("write", 0.0, "Writing the video"))
        take = _take(plan, stages, spec, decoded, self.manager.model_set.name)
        take.created = created
        staged = None
        try:
            staged = store.stage()
            take.folder = str(staged)
            write_take_files(take, decoded, latents, plan, spec.copy)
            if spec.extras is not None:
                take.settings["files"] = spec.extras(staged, decoded)
            self.clock("write")
            take.timings = self.timings
            take.timings["total"] = round(sum(v for k, v in self.timings.items() if k != "total"), 4)
            return store.add(take, staged)
        except BaseException as exc:
            full = media.disk_full(exc, store.root)  # measured before the partial files are removed
            if staged is not None:
                store.discard(staged)  # nothing half-written stays behind; earlier takes are untouched
            if full:
                raise StudioError(
                    f"the disk holding {store.root} is full: free some space and render again; "
                    "earlier takes are untouched"
                ) from None
            raise


def _take(plan: RenderPlan, stages: list[_Stage], spec: TakeSpec, decoded: Decoded, model_set: str) -> Take:
    """The take's record (its files are written next)."""
    frames = decoded.frames
    return Take(
        id=new_take_id(),
        kind=spec.kind,
        prompt=plan.prompt,
        negative_prompt=plan.negative_prompt,
        model_set=model_set,
        variant=plan.variant.name,
        seed=plan.seed,
        width=int(frames.shape[2]),  # a soundtrack for a clip keeps the clip's own size
        height=int(frames.shape[1]),
        frames=int(frames.shape[0]),
        fps=spec.fps or plan.fps,
        steps=sum(stage.steps for stage in stages),
        guidance=plan.guidance,
        parent=spec.parent,
        image="first_frame.png" if plan.source_image is not None else None,
        snapped=plan.snapped,
        settings={
            **_settings(plan, stages, prompt_cached=all(s.prompt_cached for s in stages)),
            **({"decoder": decoded.decoder} if decoded.decoder else {}),
            **(spec.record or {}),
        },
        audio=decoded.audio is not None,
        sample_rate=decoded.sample_rate,
        typed_prompt=plan.typed_prompt,
    )


@dataclass
class _Stage:
    """One denoising pass of a render: its size, variant (schedule and guidance), steps, the transformer
    it runs on and that transformer's LoRAs (and, once loaded, its pipe)."""

    plan: RenderPlan  # the plan at this stage's size
    variant: Variant
    guidance: float
    refine: bool
    upsample_first: bool  # the previous stage's latents go through the x2 upsampler first
    steps: int
    transformer: Variant | None = None  # whose transformer runs it (default: `variant`'s)
    loras: tuple = ()
    pipe: object = None
    embeds: object = None
    prompt_cached: bool = False
    lock: object = None  # the held latents (models/families/lock.py), once made

    def __post_init__(self) -> None:
        self.transformer = self.transformer or self.variant
        self.loras = self.loras or self.plan.loras


def _stages(plan: RenderPlan, model_set: ModelSet, *, refine: bool, single: bool = False) -> list[_Stage]:
    """The passes a plan runs: one; or, for a two-stage variant, half size + upsample + refine;
    or, refining given latents (upscale), the refine pass alone. A refine pass runs with the variant's
    `refine_variant` (Pro refines with the distilled transformer), at that variant's own guidance."""
    sampling = plan.variant.sampling
    if not refine and (not sampling.two_stage or single):  # `single`: a held picture is at the plan's size
        return [_Stage(plan, plan.variant, plan.guidance, False, False, plan.num_steps)]
    finisher = model_set.variants[sampling.refine_variant] if sampling.refine_variant else plan.variant
    finish_guidance = plan.guidance if finisher is plan.variant else finisher.sampling.guidance
    finish = _Stage(plan, finisher, finish_guidance, True, False, finisher.sampling.refine_schedule()[3])
    if sampling.refine_lora:  # Lightricks' recipe: the variant's own (dev) transformer plus the distilled LoRA
        finish.transformer, finish.loras = plan.variant, (*plan.loras, *refine_loras(plan.variant, model_set))
    if refine:
        return [finish]
    first = _Stage(
        plan.at_size(plan.width // 2, plan.height // 2), plan.variant, plan.guidance, False, False, plan.num_steps
    )
    finish.upsample_first = True
    return [first, finish]


def refine_loras(variant: Variant, model_set: ModelSet) -> tuple:
    """The distilled LoRA a variant's refine pass adds to its own transformer, read (once per process),
    only when a refine pass runs: a one-stage render of the same variant never touches the file."""
    from ..models import loras
    from ..models.set_loras import set_lora

    what = f"{variant.label}'s refine pass (the distilled LoRA)"
    path = set_lora(model_set, variant.sampling.refine_lora, what, tiny_name="distilled-lora", seed=77)
    return loras.choose([(path, variant.sampling.refine_lora_weight)], None)


def _step_counter(emit: EventSink, cancel: CancelToken | None, done: dict, total: int):
    """A stage's step callback: progress counted across stages; True asks the family to stop."""
    offset = done["steps"]

    def on_step(step: int, steps: int) -> bool:
        done["steps"] = offset + step
        emit(Progress("denoise", done["steps"] / max(total, 1), f"Step {done['steps']} of {total}"))
        return cancel is not None and cancel.cancelled

    return on_step


def _run_stage(stage: _Stage, latents, manager, generator, on_x0, on_step, lock=None) -> Latents:
    """Denoise one stage through the family."""
    family = manager.family
    job = denoise_job(
        stage.plan,
        stage.embeds,
        generator,
        sampling=stage.variant.sampling,
        guidance=stage.guidance,
        latents=latents if stage.refine else None,
        refine=stage.refine,
        on_step=on_step,
        lock=lock,
    )
    shape = sizing.latent_shape(stage.plan.width, stage.plan.height, stage.plan.frames)
    items = len(generator) if isinstance(generator, list) else 1  # seeds in one call (render/seeds.py)
    capture = family.capture_denoised(stage.pipe, *shape, on_x0, items=items) if on_x0 else nullcontext()
    plan, policy, transformer = stage.plan, manager.policy, stage.pipe.transformer
    tiles = policy.denoise_tiles_for(plan.width, plan.height, plan.frames, guided=stage.guidance > 1)
    cache = step_cache_config(policy.step_cache) if policy.step_cache else None
    spread = tiled(transformer, *shape, step_cache=cache) if tiles > 1 else nullcontext()
    # Exact, but it holds the text's K/V per block: not beside seeds in one call (the text repeated per seed),
    # nor under group offload (a reused layer would skip its offload hook) or torch.compile (a recompile).
    kv = policy.text_kv_cache and not policy.compile and policy.offload != "group" and not isinstance(generator, list)
    with capture, spread, text_kv_cache(transformer, kv):
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
        source_image=plan.source_image,
        audio=plan.audio,
        conditions=plan.conditions(),
        reference=plan.reference_condition(),
        cross_timestep=plan.cross_timestep,
    )
    values.update(options)
    if values.get("refine"):
        values["steps"] = None  # a refine pass runs its own schedule
    return DenoiseJob(**values)


def load_latents(take: Take) -> Latents:
    """A take's stored latents (picture, and sound where it was kept)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(take.path("latents")))
        return Latents(tensors["latents"], tensors.get("audio_latents"))
    except (OSError, SafetensorError, KeyError):
        raise StudioError(f"take {take.id}: its latents file is unreadable, so it cannot be upscaled") from None


def own_latents(take: Take | None) -> Latents | None:
    """A take's stored latents where they are the whole clip's, else None (then the picture is encoded)."""
    if take is None or take.kind == "extend":  # an extension keeps its new render's latents, not the clip's
        return None
    try:
        return load_latents(take)
    except StudioError:
        return None


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
        "camera": {"name": plan.camera, "lora": plan.loras[0].name} if plan.camera else None,
        "stages": [
            {"variant": s.variant.name, "size": [s.plan.width, s.plan.height], "steps": s.steps, "refine": s.refine}
            | (
                {"transformer": s.transformer.name, "lora": plan.variant.sampling.refine_lora}
                if s.loras != plan.loras
                else {}
            )
            for s in stages
        ],
    }
    if refine:
        settings["refine_denoise_strength"] = sampling.refine_denoise_strength
    if plan.keyframes:
        settings["keyframes"] = [
            {
                "name": k.name,
                "seconds": k.seconds,
                "frame": k.frame,
                "strength": k.strength,
                "file": f"keyframe-{i}.png",
            }
            for i, k in enumerate(plan.keyframes)
        ]
    if plan.video is not None:
        settings["video"] = plan.video.record()
    if plan.reference is not None:
        settings["reference"] = plan.reference.record()
    if plan.soundtrack is not None:
        settings["soundtrack"] = plan.soundtrack.record(plan.frames / plan.fps)
    return settings


def _following_soundtrack(plan: RenderPlan, spec: TakeSpec) -> TakeSpec:
    """Audio-to-video: hold the soundtrack clean, and give the take the soundtrack itself (not a
    decoded copy), cut or padded to the clip's length."""
    track, join = plan.soundtrack, spec.join

    def with_soundtrack(decoded: Decoded) -> Decoded:
        if join is not None:
            decoded = join(decoded)
        samples = round(len(decoded.frames) / plan.fps * track.rate)
        return Decoded(decoded.frames, media.fit_waveform(sound.channels(track.waveform, 2), samples), track.rate)

    return replace(spec, hold=Hold(waveform=track.waveform, rate=track.rate), join=with_soundtrack)


def _vae_key(manager: PipelineManager) -> str:
    return f"{manager.model_set.name}|{manager.model_set.components['vae'].describe()}"
