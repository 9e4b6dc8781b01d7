"""Model sets and variants, read from a TOML registry (data, not code).

The shipped registry is `variants.toml` beside this file; `load_registry(user_file)` lets sets in a
user's file replace the shipped sets of the same name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.errors import BadInput
from .passes import Pass, parse_passes

TINY_REPOS = ("tiny:ltxv", "tiny:ltx2")
SOUND_FAMILIES = ("ltx2",)
# Only prompt enhancement needs a processor; LTX-2.5 adds a dedicated enhancer, a duration head
# (length "auto") and a diffusion video decoder. A set runs without them; what needs one says so.
OPTIONAL_COMPONENTS = ("processor", "prompt_enhancer", "duration_head", "diffusion_decoder")
DECODERS = ("vae", "diffusion")
VARIANT_NAMES = ("fast", "distilled", "pro")
CAMERA_MOVES = ("dolly-in", "dolly-out", "dolly-left", "dolly-right", "jib-up", "jib-down", "static")
# Components a set may name; which ones a family needs is the family's `shared` (checked at parse time).
SHARED_COMPONENTS = (
    "text_encoder",
    "tokenizer",
    "processor",
    "connectors",
    "vae",
    "audio_vae",
    "vocoder",
    "scheduler",
    "prompt_enhancer",
    "duration_head",
    "diffusion_decoder",
)
FAMILY_COMPONENTS = {
    "ltxv": ("text_encoder", "tokenizer", "vae", "scheduler"),
    "ltx2": SHARED_COMPONENTS,  # every kind there is: LTX-2.5 adds the last three
}


@dataclass(frozen=True)
class Source:
    """Where one component comes from: a Hub repo id, a local folder, or `tiny:<family>`."""

    repo: str
    subfolder: str | None = None
    file: str | None = None
    config: str | None = None

    def describe(self) -> str:
        parts = [self.repo]
        if self.subfolder:
            parts.append(self.subfolder)
        if self.file:
            parts.append(self.file)
        return "/".join(parts)


@dataclass(frozen=True)
class Sampling:
    """Sampling defaults of a variant (stage 1) and of its refine pass (stage 2, for upscale)."""

    steps: int | None = None
    timesteps: tuple[float, ...] | None = None
    guidance: float = 1.0
    guidance_rescale: float = 0.0
    decode_timestep: float = 0.0
    decode_noise_scale: float | None = None
    image_cond_noise_scale: float = 0.0
    fps: int = 24
    refine_steps: int | None = None
    refine_timesteps: tuple[float, ...] | None = None
    refine_denoise_strength: float = 0.999
    image_crf: int = 29  # first frames are H.264-compressed like the video the model was trained on; 0: off
    # LTX-2: sigma schedules (instead of timesteps) and the guidance of both streams. The neutral
    # values are the defaults: the diffusers call's own defaults are CFG 3, STG 1, audio CFG 7.
    sigmas: tuple[float, ...] | None = None
    refine_sigmas: tuple[float, ...] | None = None
    stg_scale: float = 0.0
    stg_blocks: tuple[int, ...] = ()
    modality_scale: float = 1.0
    audio_guidance: float = 1.0
    audio_stg_scale: float = 0.0
    audio_modality_scale: float = 1.0
    audio_guidance_rescale: float = 0.0
    # Two-stage renders: stage 1 at half size, latent upsample x2, then the refine pass (with
    # `refine_variant`'s transformer when given, e.g. Pro's distilled refine).
    two_stage: bool = False
    refine_variant: str | None = None
    # Lightricks' two-stage recipe refines with the dev transformer plus the distilled LoRA (ltx_pipelines
    # ti2vid_two_stages.py: stage_2_model_ledger = the ledger with_additional_loras(distilled_lora)). Where
    # a set publishes that LoRA, it is named here ("OWNER/REPO/FILE", or "tiny:" on demo sets) and the
    # variant's own transformer refines with it, on `refine_variant`'s schedule and guidance.
    refine_lora: str | None = None
    refine_lora_weight: float = 0.8  # ltx_pipelines' README runs its two-stage CLI with `--distilled-lora FILE 0.8`
    decoder: str = "vae"  # "diffusion": LTX-2.5's diffusion video decoder (the set names `diffusion_decoder`)

    @property
    def num_steps(self) -> int:
        if self.sigmas:
            return len(self.sigmas)
        return len(self.timesteps) if self.timesteps else int(self.steps or 0)

    def refine_schedule(self) -> tuple[list[float] | None, int, float, int]:
        """(timesteps or None, steps, denoise strength, steps that actually run) of the refine pass.

        A partial denoise keeps int(steps * strength) steps of the schedule (LTXConditionPipeline.get_timesteps).
        """
        timesteps = list(self.refine_timesteps) if self.refine_timesteps else None
        steps = len(timesteps) if timesteps else (self.refine_steps or 10)
        if self.refine_sigmas:  # a sigma schedule starts part-way: it runs every step it lists
            return None, len(self.refine_sigmas), 1.0, len(self.refine_sigmas)
        strength = self.refine_denoise_strength
        return timesteps, steps, strength, max(1, min(steps, int(steps * strength)))


@dataclass(frozen=True)
class Variant:
    """One of Fast / Distilled / Pro: a transformer plus its sampling settings and limits."""

    name: str
    label: str
    model_set: str
    transformer: Source
    sampling: Sampling
    draft_size: tuple[int, int]
    full_size: tuple[int, int]
    max_size: tuple[int, int]
    draft_frames: int
    max_frames: int

    @property
    def key(self) -> str:
        return f"{self.model_set}/{self.name}"


@dataclass(frozen=True)
class ModelSet:
    """A family plus three variants sharing one text encoder, tokenizer, VAE and scheduler."""

    name: str
    family: str
    label: str
    default_variant: str
    negative_prompt: str
    components: dict[str, Source]
    upsampler: Source | None
    upsample_adain_factor: float
    upsample_tone_map_compression_ratio: float
    live_variant: str = "fast"
    live_size: tuple[int, int] = (512, 320)
    live_frames: int = 25
    enhance_tokens: int | None = None  # cap on the enhancer's new tokens (None: diffusers' default, 512/600)
    variants: dict[str, Variant] = field(default_factory=dict)
    cameras: dict[str, str] = field(default_factory=dict)  # camera move -> its LoRA ("owner/repo/file" or tiny:)
    ic_loras: tuple[str, ...] = ()  # the IC-LoRAs (depth, pose, edges...) made for the set: "owner/repo/file"
    subject_lora: str | None = None  # the IC-LoRA that keeps a reference sheet's subjects ("owner/repo/file" or tiny:)
    passes: dict[str, Pass] = field(default_factory=dict)  # finishing passes by name (models/passes.py)
    # LTX-2: which timestep modulates the audio/video cross-attention (models/families/cross_timestep.py)
    cross_timestep: str = "own-scale-other-gate"

    @property
    def has_audio(self) -> bool:
        """Whether the set's family makes a soundtrack with the picture (LTX-2)."""
        return self.family in SOUND_FAMILIES

    @property
    def auto_duration(self) -> bool:
        """Whether the set can pick a clip's length from the prompt (LTX-2.5's duration head)."""
        return "duration_head" in self.components

    @property
    def is_demo(self) -> bool:
        return all(s.repo.startswith("tiny:") for s in self.components.values())

    def variant(self, name: str) -> Variant:
        """The variant called `name`, or a clear error naming the ones there are."""
        if name not in self.variants:
            known = ", ".join(self.variants)
            raise BadInput(f"unknown variant {name!r} in model set {self.name!r} (choose from: {known})")
        return self.variants[name]


class _Table:
    """Typed reads from one TOML table, with errors that name the file and the key."""

    def __init__(self, data: Any, where: str, origin: str):
        if not isinstance(data, dict):
            raise BadInput(f"{origin}: {where} must be a table")
        self.data, self.where, self.origin = data, where, origin

    def _fail(self, key: str, what: str) -> BadInput:
        return BadInput(f"{self.origin}: {self.where}.{key} {what}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = True):
        if key not in self.data:
            if default is not ... or not required:
                return None if default is ... else default
            raise self._fail(key, "is missing")
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self._fail(key, f"must be {names}, not {type(value).__name__}")
        return value

    def numbers(self, key: str, length: int | None = None, *, required: bool = True) -> tuple | None:
        value = self.get(key, list, required=required)
        if value is None:
            return None
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise self._fail(key, "must be a non-empty list of numbers")
        if length is not None and len(value) != length:
            raise self._fail(key, f"must have {length} numbers")
        return tuple(value)

    def size(self, key: str) -> tuple[int, int]:
        width, height = self.numbers(key, 2)
        if not all(isinstance(v, int) and v > 0 for v in (width, height)):
            raise self._fail(key, "must be two positive integers [width, height]")
        return int(width), int(height)

    def source(self, key: str, *, required: bool = True) -> Source | None:
        raw = self.get(key, dict, required=required)
        if raw is None:
            return None
        table = _Table(raw, f"{self.where}.{key}", self.origin)
        return Source(
            repo=table.get("repo", str),
            subfolder=table.get("subfolder", str, None),
            file=table.get("file", str, None),
            config=table.get("config", str, None),
        )


def _check_sampling(sampling: Sampling, table: _Table) -> None:
    """Numbers a render would choke on, caught while reading the file."""

    def fail(what: str):
        raise BadInput(f"{table.origin}: {table.where} {what}")

    for key in ("steps", "refine_steps"):
        value = getattr(sampling, key)
        if value is not None and not 1 <= value <= 200:
            fail(f"{key} must be between 1 and 200")
    for key, top in (("timesteps", 1000), ("refine_timesteps", 1000), ("sigmas", 1), ("refine_sigmas", 1)):
        values = getattr(sampling, key)
        if values and (any(not 0 <= v <= top for v in values) or list(values) != sorted(values, reverse=True)):
            fail(f"{key} must descend within 0..{top}")
    if not 0 < sampling.refine_denoise_strength <= 1:
        fail("refine_denoise_strength must be in (0, 1]")
    if not 1 <= sampling.fps <= 120:
        fail("fps must be between 1 and 120")
    if not 0 <= sampling.image_crf <= 51:
        fail("image_crf must be between 0 and 51")
    if sampling.decoder not in DECODERS:
        fail(f"decoder must be one of: {', '.join(DECODERS)}")


def _parse_variant(set_name: str, name: str, table: _Table) -> Variant:
    steps = table.get("steps", int, None)
    timesteps = table.numbers("timesteps", required=False)
    sigmas = table.numbers("sigmas", required=False)
    if steps is None and timesteps is None and sigmas is None:
        raise BadInput(f"{table.origin}: {table.where} needs steps, timesteps or sigmas")
    sampling = Sampling(
        steps=steps,
        timesteps=timesteps,
        guidance=table.get("guidance", float, 1.0),
        guidance_rescale=table.get("guidance_rescale", float, 0.0),
        decode_timestep=table.get("decode_timestep", float, 0.0),
        decode_noise_scale=table.get("decode_noise_scale", float, None),
        image_cond_noise_scale=table.get("image_cond_noise_scale", float, 0.0),
        fps=table.get("fps", int, 24),
        refine_steps=table.get("refine_steps", int, None),
        refine_timesteps=table.numbers("refine_timesteps", required=False),
        refine_denoise_strength=table.get("refine_denoise_strength", float, 0.999),
        image_crf=table.get("image_crf", int, 29),
        sigmas=sigmas,
        refine_sigmas=table.numbers("refine_sigmas", required=False),
        stg_scale=table.get("stg_scale", float, 0.0),
        stg_blocks=tuple(int(b) for b in table.numbers("stg_blocks", required=False) or ()),
        modality_scale=table.get("modality_scale", float, 1.0),
        audio_guidance=table.get("audio_guidance", float, 1.0),
        audio_stg_scale=table.get("audio_stg_scale", float, 0.0),
        audio_modality_scale=table.get("audio_modality_scale", float, 1.0),
        audio_guidance_rescale=table.get("audio_guidance_rescale", float, 0.0),
        two_stage=table.get("two_stage", bool, False),
        refine_variant=table.get("refine_variant", str, None),
        refine_lora=table.get("refine_lora", str, None),
        refine_lora_weight=table.get("refine_lora_weight", float, 0.8),
        decoder=table.get("decoder", str, "vae"),
    )
    _check_sampling(sampling, table)
    if (sampling.stg_scale or sampling.audio_stg_scale) and not sampling.stg_blocks:
        raise BadInput(f"{table.origin}: {table.where} has stg_scale but no stg_blocks")
    transformer = table.source("transformer")
    if transformer.file and not transformer.file.endswith(".safetensors"):
        raise BadInput(
            f"{table.origin}: {table.where}.transformer.file must be a .safetensors file (pickle can run code)"
        )
    if transformer.file and not transformer.config:
        raise BadInput(f"{table.origin}: {table.where}.transformer has a file but no config (ltxv-2b or ltxv-13b)")
    if transformer.repo.startswith("tiny:") and transformer.repo not in TINY_REPOS:
        raise BadInput(f"{table.origin}: {table.where}.transformer: unknown tiny set {transformer.repo!r}")
    draft_frames, max_frames = table.get("draft_frames", int), table.get("max_frames", int)
    for key, frames in (("draft_frames", draft_frames), ("max_frames", max_frames)):
        if frames < 9 or (frames - 1) % 8:
            raise BadInput(f"{table.origin}: {table.where}.{key} must be 8k+1 (9, 17, ..., 121, 257)")
    return Variant(
        name=name,
        label=table.get("label", str, name.title()),
        model_set=set_name,
        transformer=transformer,
        sampling=sampling,
        draft_size=table.size("draft_size"),
        full_size=table.size("full_size"),
        max_size=table.size("max_size"),
        draft_frames=draft_frames,
        max_frames=max_frames,
    )


def _parse_set(name: str, table: _Table) -> ModelSet:
    family = table.get("family", str)
    if family not in FAMILY_COMPONENTS:
        raise BadInput(f"{table.origin}: {table.where}.family {family!r} is not one of: {', '.join(FAMILY_COMPONENTS)}")
    variants_table = _Table(table.get("variants", dict), f"{table.where}.variants", table.origin)
    variants = {}
    for variant_name, raw in variants_table.data.items():
        variants[variant_name] = _parse_variant(
            name, variant_name, _Table(raw, f"{variants_table.where}.{variant_name}", table.origin)
        )
    if not variants:
        raise BadInput(f"{table.origin}: {table.where}.variants is empty")
    default_variant = table.get("default_variant", str, next(iter(variants)))
    if default_variant not in variants:
        raise BadInput(f"{table.origin}: {table.where}.default_variant {default_variant!r} is not one of its variants")
    for variant in variants.values():
        refine = variant.sampling.refine_variant
        if refine is not None and refine not in variants:
            raise BadInput(
                f"{table.origin}: {table.where}.variants.{variant.name}.refine_variant {refine!r} is not one of its variants"
            )
    for variant in variants.values():
        if variant.sampling.decoder == "diffusion" and "diffusion_decoder" not in table.data:
            raise BadInput(
                f"{table.origin}: {table.where}.variants.{variant.name} decodes with the diffusion decoder "
                "but the set names no diffusion_decoder"
            )
    upsampler = table.source("upsampler", required=False)
    if upsampler is not None and upsampler.file and not upsampler.file.endswith(".safetensors"):
        raise BadInput(
            f"{table.origin}: {table.where}.upsampler.file must be a .safetensors file (pickle can run code)"
        )
    live_variant = table.get("live_variant", str, default_variant)
    if live_variant not in variants:
        raise BadInput(f"{table.origin}: {table.where}.live_variant {live_variant!r} is not one of its variants")
    return ModelSet(
        name=name,
        family=family,
        label=table.get("label", str, name),
        default_variant=default_variant,
        negative_prompt=table.get("negative_prompt", str, ""),
        components={
            key: source
            for key in FAMILY_COMPONENTS[family]
            if (source := table.source(key, required=key not in OPTIONAL_COMPONENTS)) is not None
        },
        upsampler=upsampler,  # a diffusers folder, or a Lightricks single file (its architecture in its metadata)
        upsample_adain_factor=table.get("upsample_adain_factor", float, 0.0),  # diffusers' and the reference's default
        upsample_tone_map_compression_ratio=table.get("upsample_tone_map_compression_ratio", float, 0.0),
        live_variant=live_variant,
        live_size=table.size("live_size") if "live_size" in table.data else (512, 320),
        live_frames=table.get("live_frames", int, 25),
        enhance_tokens=table.get("enhance_tokens", int, None),
        variants=variants,
        cameras=_cameras(table),
        ic_loras=_ic_loras(table),
        subject_lora=_subject_lora(table),
        passes=parse_passes(table.data.get("passes"), table.where, table.origin, variants),
        cross_timestep=_cross_timestep(table),
    )


CROSS_TIMESTEP_RULES = ("own", "other", "own-scale-other-gate")  # families/cross_timestep.py says each


def _cross_timestep(table: _Table) -> str:
    rule = table.get("cross_timestep", str, "own-scale-other-gate")
    if rule not in CROSS_TIMESTEP_RULES:
        raise BadInput(
            f"{table.origin}: {table.where}.cross_timestep {rule!r} is not a rule (one of: {', '.join(CROSS_TIMESTEP_RULES)})"
        )
    return rule


def _ic_loras(table: _Table) -> tuple[str, ...]:
    """A set's IC-LoRAs: Hub files "owner/repo/file.safetensors"."""
    names = table.get("ic_loras", list, [])
    if not all(isinstance(n, str) and n.count("/") >= 2 and n.endswith(".safetensors") for n in names):
        raise BadInput(f"{table.origin}: {table.where}.ic_loras must list Hub files (owner/repo/file.safetensors)")
    return tuple(names)


def _subject_lora(table: _Table) -> str | None:
    """A set's reference-sheet IC-LoRA: a Hub file "owner/repo/file.safetensors", or tiny: on a demo set."""
    name = table.get("subject_lora", str, None)
    if name and not (name.startswith("tiny:") or (name.count("/") >= 2 and name.endswith(".safetensors"))):
        raise BadInput(f"{table.origin}: {table.where}.subject_lora must be a Hub file (owner/repo/file.safetensors)")
    return name or None


def _cameras(table: _Table) -> dict[str, str]:
    """A set's camera moves: {name: LoRA}, names from CAMERA_MOVES."""
    cameras = table.data.get("cameras", {})
    if not isinstance(cameras, dict) or not all(isinstance(v, str) and v for v in cameras.values()):
        raise BadInput(f"{table.origin}: {table.where}.cameras must map camera moves to LoRA names")
    unknown = [name for name in cameras if name not in CAMERA_MOVES]
    if unknown:
        raise BadInput(
            f"{table.origin}: {table.where}.cameras: unknown move {unknown[0]!r} (moves: {', '.join(CAMERA_MOVES)})"
        )
    return dict(cameras)


def parse_registry(text: str, origin: str) -> dict[str, ModelSet]:
    """Parse registry TOML text into model sets; `origin` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{origin}: not valid TOML ({exc})") from None
    sets = _Table(data.get("sets", {}), "sets", origin)
    return {name: _parse_set(name, _Table(raw, f"sets.{name}", origin)) for name, raw in sets.data.items()}


def load_registry(user_file: str | Path | None = None) -> dict[str, ModelSet]:
    """The shipped model sets, with any sets from `user_file` replacing those of the same name."""
    shipped = resources.files(__package__).joinpath("variants.toml").read_text(encoding="utf-8")
    registry = parse_registry(shipped, "variants.toml")
    if user_file is not None:
        path = Path(user_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read variants file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        registry.update(parse_registry(text, str(path)))
    return registry


def model_set(registry: dict[str, ModelSet], name: str) -> ModelSet:
    """The set called `name`, or a clear error naming the ones there are."""
    if name not in registry:
        raise BadInput(f"unknown model set {name!r} (choose from: {', '.join(registry)})")
    return registry[name]
