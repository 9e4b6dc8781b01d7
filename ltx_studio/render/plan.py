"""Planning a render: a loose `RenderRequest` becomes a `RenderPlan` whose numbers are on LTX's
grids and within the variant's limits (or BadInput with one clear line). Nothing loads a model here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from ..core import sizing
from ..core.errors import BadInput
from ..library import media
from ..library.sound import Soundtrack, read_soundtrack
from ..library.takes import Take
from ..models import loras
from ..models.families import get_family
from ..models.variants import ModelSet, Variant
from .conditions import Condition, Keyframe, SourceVideo, plan_keyframes, read_video
from .request import RenderRequest

MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1
MAX_SIDE_ASKED = 8192
AUTO_MAX_SECONDS = 20.0  # the duration head's own default upper bound
SOUNDTRACK_MARGIN_S = 1.0  # decoded past the clip's end: the audio latents' last step and its STFT window reach there


MAX_FPS = 120  # the highest rate a render runs at (a frame-rate pass's x2/x4 included)


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
    keyframes: tuple[Keyframe, ...] = ()
    video: SourceVideo | None = None
    loras: tuple[loras.LoraChoice, ...] = ()  # resolved and read; applied to the pipeline by the manager
    reference: SourceVideo | None = None  # IC-LoRA control video (its frames fitted at each stage's size)
    camera: str | None = None  # the camera move; its LoRA is the first of `loras`
    soundtrack: Soundtrack | None = None  # held clean while the picture denoises; the mp4 carries it as given
    cross_timestep: str = "own-scale-other-gate"  # LTX-2: the set's audio/video cross-attention rule

    def reference_condition(self) -> Condition | None:
        if self.reference is None:
            return None
        frames = [media.fit_image(f, self.width, self.height) for f in self.reference.frames[: self.frames]]
        return Condition(frames, 0, self.reference.strength)

    def conditions(self) -> list[Condition]:
        """The keyframes and the source video, fitted to this plan's size, in the family's terms."""
        found = [
            Condition(media.fit_image(k.image, self.width, self.height), k.index, k.strength, source=k.image)
            for k in self.keyframes
        ]
        if self.video is not None:
            frames = [media.fit_image(f, self.width, self.height) for f in self.video.frames[: self.frames]]
            found.append(Condition(frames, 0, self.video.strength))
        return found

    @property
    def num_steps(self) -> int:
        return self.steps or self.variant.sampling.num_steps

    def at_size(self, width: int, height: int) -> RenderPlan:
        """The same plan at another size, its first frame re-fitted from the original."""
        image = media.fit_image(self.source_image, width, height) if self.source_image is not None else None
        return replace(self, width=width, height=height, image=image)


def choose_seed(seed) -> int:
    """The seed a render uses: the one given (checked), or a random one for -1."""
    seed = check_number("seed", seed, int, -1, MAX_SEED)
    return secrets.randbelow(MAX_SEED + 1) if seed == -1 else seed


def check_number(name: str, value, kind: type, low: float, high: float):
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
    if not prompt and image is None and not request.keyframes and request.video is None:
        raise BadInput("prompt is empty: describe the video (or give a first frame)")
    negative = model_set.negative_prompt if request.negative_prompt is None else request.negative_prompt.strip()
    if len(negative) > MAX_PROMPT_CHARS:
        raise BadInput(f"negative prompt is too long: {len(negative)} characters (at most {MAX_PROMPT_CHARS})")

    seed = choose_seed(request.seed)
    fps = check_number("fps", request.fps if request.fps is not None else sampling.fps, int, 1, MAX_FPS)
    steps = None if request.steps is None else check_number("steps", request.steps, int, 1, 200)
    guidance = check_number(
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

    soundtrack = _soundtrack(request, model_set)
    video = None
    if request.video is not None:
        strength = check_number("video strength", request.video_strength, float, 0, 1)
        most = variant.max_frames
        if request.video_frames is not None:
            most = min(most, check_number("video frames", request.video_frames, int, 1, 100_000))
        video = read_video(request.video, fps, most, strength, cover=(width, height))
    frames, auto_length = _plan_frames(request, model_set, variant, fps, video, soundtrack, snapped)
    if video is not None:  # decoded (in the job) only as far as the clip
        video = video.first(frames)
    if soundtrack is not None:  # decoded (in the job) only as far as the clip, and the mel window past its end
        soundtrack = soundtrack.cut(frames / fps + SOUNDTRACK_MARGIN_S)

    keyframes = plan_keyframes(request.keyframes, get_family(model_set.family), frames, fps)
    chosen, camera = _plan_loras(request, model_set, lora_folder)
    reference = None
    if request.reference is not None:
        if model_set.family != "ltx2":
            raise BadInput("a reference video (IC-LoRA control) needs an LTX-2 model set")
        if not chosen:
            raise BadInput("a reference video steers the picture through an IC-LoRA: add one with --lora")
        strength = check_number("reference strength", request.reference_strength, float, 0, 1)
        reference = read_video(request.reference, fps, frames, strength, cover=(width, height))
    if keyframes:
        snapped["keyframes"] = [{"asked": round(k.seconds * fps), "used": k.frame} for k in keyframes]
    fitted = media.fit_image(image, width, height) if image is not None else None
    source = media.bounded(image) if image is not None else None
    audio = (bool(request.audio) or soundtrack is not None) and model_set.has_audio
    typed = (request.typed_prompt or "").strip()[:MAX_PROMPT_CHARS] or None
    return RenderPlan(
        prompt, negative, variant, seed, width, height, frames, fps, steps, guidance, fitted, snapped, source, audio,
        typed, auto_length, keyframes, video, chosen, reference, camera, soundtrack, model_set.cross_timestep,
    )  # fmt: skip


def _plan_frames(request, model_set, variant, fps, video, soundtrack, snapped) -> tuple[int, tuple | None]:
    """The clip's frame count (snapped, within the variant's limit) and, for "auto", the range the
    duration head may choose from."""
    auto_length = None
    if isinstance(request.seconds, str) and request.seconds.strip().lower() == "auto" and request.frames is None:
        if not model_set.auto_duration:
            raise BadInput(f'length "auto" needs a model set with a duration head (LTX-2.5); {model_set.name} has none')
        if request.keyframes or video:
            raise BadInput('length "auto" cannot place keyframes or follow a video: give the seconds')
        auto_length = (1.0, min(AUTO_MAX_SECONDS, sizing.seconds_for_frames(variant.max_frames, fps)))
        asked = variant.draft_frames  # until the duration head has read the prompt
    elif request.frames is not None:
        asked = check_number("frames", request.frames, int, 1, 100_000)
    elif request.seconds is not None and soundtrack is not None:  # sizing's one rule for a clip and its track
        seconds = check_number("seconds", request.seconds, float, 0.01, 3600)
        asked = sizing.frames_for_soundtrack(soundtrack.seconds, fps, variant.max_frames, seconds)
    elif request.seconds is not None:
        asked = sizing.frames_for_seconds(check_number("seconds", request.seconds, float, 0.01, 3600), fps)
    elif video is not None:
        asked = video.count  # the clip follows the video's length
    elif soundtrack is not None:  # the clip holds the whole soundtrack (rounded up to 8k+1), up to the limit
        asked = sizing.frames_for_soundtrack(soundtrack.seconds, fps, variant.max_frames)
    else:
        asked = variant.draft_frames
    frames = _snap(snapped, "frames", asked, sizing.snap_frames(asked))
    if frames > variant.max_frames:
        limit = sizing.seconds_for_frames(variant.max_frames, fps)
        raise BadInput(
            f"{frames} frames is over {variant.label}'s limit of {variant.max_frames} ({limit:.1f} s at {fps} fps)"
        )

    return frames, auto_length


def _plan_loras(request: RenderRequest, model_set: ModelSet, lora_folder: Path | None):
    """The LoRAs to apply (read and checked), the camera move's first; and the camera move's name."""
    chosen = loras.choose(request.loras, lora_folder)
    camera = None
    if request.camera:
        from ..models.camera import camera_lora

        camera = request.camera.strip().lower()
        [move] = loras.choose([(camera_lora(model_set, camera), 1.0)], None)
        move = (replace(move, name=str(model_set.cameras[camera])),)  # named by the set's source, not a cache path
        if len(chosen) >= loras.MAX_LORAS:
            raise BadInput(f"too many LoRAs with the camera move: at most {loras.MAX_LORAS - 1} besides it")
        chosen = (*move, *(c for c in chosen if c.file.sha256 != move[0].file.sha256))
    return chosen, camera


def sets_with_sound() -> str:
    """The shipped model sets that make sound, for messages that need one."""
    from ..models.variants import load_registry

    return ", ".join(name for name, s in load_registry().items() if s.has_audio)


def _soundtrack(request: RenderRequest, model_set: ModelSet) -> Soundtrack | None:
    """The request's soundtrack, read (audio-to-video needs a model set with sound), or None."""
    if request.soundtrack is None or request.soundtrack == "":
        return None
    if not model_set.has_audio:
        raise BadInput(
            f"model set {model_set.name} ({model_set.label}) has no audio model, so it cannot follow a soundtrack: "
            f"use one that has ({sets_with_sound()})"
        )
    if not request.audio:
        raise BadInput("a soundtrack is the clip's sound: turn sound on (drop --no-audio), or leave the soundtrack out")
    if isinstance(request.soundtrack, Soundtrack):
        return request.soundtrack
    start = check_number("audio start", request.soundtrack_start or 0.0, float, 0, 24 * 3600)
    return read_soundtrack(request.soundtrack, start)


def _plan_size(request: RenderRequest, variant: Variant, image: Image.Image | None) -> tuple[float, float]:
    """Width and height as asked (before snapping): explicit, a preset, or the draft size in the image's aspect."""
    aspect = image.width / image.height if image is not None else None
    if request.resolution and request.resolution not in sizing.RESOLUTIONS:
        raise BadInput(f"unknown resolution {request.resolution!r} (choose from: {', '.join(sizing.RESOLUTIONS)})")
    width, height = request.width, request.height
    if width is not None:
        width = check_number("width", width, int, 1, MAX_SIDE_ASKED)
    if height is not None:
        height = check_number("height", height, int, 1, MAX_SIDE_ASKED)
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
        loras=[
            (lora["name"], lora["weight"])
            for lora in take.settings.get("loras", [])
            if lora["name"] != (take.settings.get("camera") or {}).get("lora")
        ],
        camera=(take.settings.get("camera") or {}).get("name"),
        keyframes=[
            {"image": Path(take.folder) / k["file"], "seconds": k["seconds"], "strength": k["strength"]}
            for k in take.settings.get("keyframes") or []
            if k.get("file") and (Path(take.folder) / k["file"]).exists()
        ],
    )
    if "soundtrack" not in changes:  # read only when it is used
        request.soundtrack = _kept_soundtrack(take)
    return plan_render(replace(request, **changes), model_set, lora_folder)


SOUNDTRACK_FILE = "soundtrack.wav"  # an audio-to-video take keeps the sound it followed, as used


def _kept_soundtrack(take: Take) -> Soundtrack | None:
    """The soundtrack an audio-to-video take followed (its kept copy, named as the original), or None."""
    record = take.settings.get("soundtrack")
    path = Path(take.folder) / SOUNDTRACK_FILE
    if not record or not path.exists():
        return None
    kept = read_soundtrack(path)
    full = record["seconds"] if not record.get("cut") else record["seconds"] + 1.0  # it was cut: keep saying so
    return Soundtrack(
        None, kept.rate, record["file"], record["sha256"], record.get("start", 0.0), full,
        path=path, info=kept.info, seconds=kept.seconds,
    )  # fmt: skip
