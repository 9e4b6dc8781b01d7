"""Lightricks' public Spaces' API, served by the studio: a script written for a Space runs unchanged
with only the address in `Client(...)` changed.

- `/text_to_video`, `/image_to_video`, `/video_to_video`: the LTX-Video distilled Space
  (`Lightricks/ltx-video-distilled`), one function behind all three, on any model set.
- `/generate_video`: the LTX-2.3 Space (`Lightricks/LTX-2-3`), on LTX-2 model sets (with sound).

Parameter names, order and defaults are the Spaces' own; values arrive as clients send them (ints
or floats, numbers as text, "" or None for an absent file). Each call is an ordinary job of the
studio's queue (owner "space") and its takes land in the take store. Mapping and choices:
the README ("Scripts written for Lightricks' Spaces").
"""

# No `from __future__ import annotations`: gr.api reads the return annotation as a type (a tuple
# gives two outputs, as the Spaces have).
import logging
import math
import random
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

import gradio as gr
from gradio.data_classes import FileData, GradioModel

from ...core import sizing
from ...core.errors import BadInput
from ...jobs.ops import Draft
from ...library.takes import Take
from ...render.plan import MAX_PROMPT_CHARS
from ...render.request import RenderRequest
from ..relay import visible
from .api_inputs import uploaded

if TYPE_CHECKING:
    from ...studio import Studio

log = logging.getLogger(__name__)
OWNER = "space"
SPACE_NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"
DISTILLED_MAX_SEED = 2**32 - 1  # the LTX-Video distilled Space draws random.randint(0, 2**32 - 1)
LTX23_MAX_SEED = 2**31 - 1  # the LTX-2.3 Space draws random.randint(0, 2**31 - 1)
FRAMES_TO_USE = (9, 257)  # the distilled Space's "frames to use" slider (step 8)
LTX23_SIZE = (1536, 1024)  # width, height: the LTX-2.3 Space's defaults, its "high resolution"

Mode = Literal["text-to-video", "image-to-video", "video-to-video"]
DISTILLED_ENDPOINTS: dict[str, tuple[Mode, str]] = {
    "text_to_video": (
        "text-to-video",
        "Make a video from a text prompt (the LTX-Video distilled Space's /text_to_video). Any image or "
        "video given is ignored: use /image_to_video or /video_to_video for those.",
    ),
    "image_to_video": (
        "image-to-video",
        "Make a video that starts from an image (the LTX-Video distilled Space's /image_to_video): the "
        "image is the first frame (fitted to width x height), the prompt describes the motion.",
    ),
    "video_to_video": (
        "video-to-video",
        "Make a video that follows the first frames of an input video (the LTX-Video distilled Space's "
        "/video_to_video): its first ui_frames_to_use frames condition the start, the prompt the rest.",
    ),
}
DISTILLED_ARGS = """
Args:
    prompt: What the video shows and how it moves (at most 2000 characters).
    negative_prompt: What to avoid. Only used when ui_guidance_scale is above 1.
    input_image_filepath: The first frame, uploaded with gradio_client.handle_file (used by /image_to_video only); None or "" for none.
    input_video_filepath: The video to follow, uploaded with gradio_client.handle_file (used by /video_to_video only); None or "" for none.
    height_ui: Height in pixels (Space slider 256..1280, step 32); put on the 32-pixel grid (64 with improve_texture_flag). Over the model's limit gives an error naming it.
    width_ui: Width in pixels (Space slider 256..1280, step 32); same grid and limit as height_ui.
    mode: "text-to-video", "image-to-video" or "video-to-video". Accepted for compatibility and ignored: the endpoint decides.
    duration_ui: Length in seconds (Space slider 0.3..8.5), rendered at the model set's own frame rate (24 fps on the shipped sets) as 8k+1 frames; over the model's limit gives an error naming it.
    ui_frames_to_use: How many frames from the start of the input video to follow (9..257, step 8; /video_to_video only).
    seed_ui: Seed (0..4294967295) when randomize_seed is false; the same seed and settings give the same video.
    randomize_seed: True draws a random seed (returned); false uses seed_ui.
    ui_guidance_scale: Prompt guidance (CFG); 1.0 is the distilled model's own setting.
    improve_texture_flag: True renders at half the size, upsamples the latents x2 and refines (the two-stage recipe: sharper, slower); false renders once at the size asked.

Returns:
    The video as the Space's video output ({"video": mp4 file, "subtitles": None}; gradio_client gives the mp4's local path in result[0]["video"]) and the seed used (int).
"""


class SpaceVideo(GradioModel):
    """A video output as a Gradio 5 Space sends it: gradio_client reads `result[0]["video"]`."""

    video: FileData
    subtitles: FileData | None = None


def add_space_endpoints(studio: "Studio") -> None:
    """The Spaces' endpoints: /text_to_video, /image_to_video, /video_to_video and /generate_video."""
    for api_name, (mode, summary) in DISTILLED_ENDPOINTS.items():
        gr.api(_distilled_endpoint(studio, api_name, mode, summary), api_name=api_name, concurrency_limit=None)
    gr.api(_ltx23_endpoint(studio), api_name="generate_video", concurrency_limit=None)


def _distilled_endpoint(studio: "Studio", api_name: str, endpoint_mode: Mode, summary: str):
    """One of the distilled Space's three endpoints: its signature, this endpoint's mode and docstring."""

    def endpoint(
        prompt: str,
        negative_prompt: str = SPACE_NEGATIVE_PROMPT,
        input_image_filepath: FileData | str | None = None,
        input_video_filepath: FileData | str | None = None,
        height_ui: float = 512,
        width_ui: float = 704,
        mode: Mode = endpoint_mode,
        duration_ui: float = 2.0,
        ui_frames_to_use: float = 9,
        seed_ui: float = 42,
        randomize_seed: bool = True,
        ui_guidance_scale: float = 1.0,
        improve_texture_flag: bool = True,
    ) -> tuple[SpaceVideo, int]:
        def run() -> tuple[SpaceVideo, int]:
            seed = _seed(seed_ui, "seed_ui", 42, randomize_seed, DISTILLED_MAX_SEED)
            request = RenderRequest(
                prompt=_text(prompt),
                negative_prompt=SPACE_NEGATIVE_PROMPT if negative_prompt is None else str(negative_prompt),
                seed=seed,
                width=_whole(width_ui, "width_ui", 704),
                height=_whole(height_ui, "height_ui", 512),
                seconds=_decimal(duration_ui, "duration_ui", 2.0),
                guidance=_decimal(ui_guidance_scale, "ui_guidance_scale", 1.0),
            )
            if endpoint_mode == "image-to-video":
                request.image = _file(input_image_filepath)
            two_stage = _flag(improve_texture_flag, True)
            if endpoint_mode == "video-to-video" and (video := _file(input_video_filepath)) is not None:
                request.video, request.video_frames = video, _frames_to_use(ui_frames_to_use)
            take = _render(studio, request, two_stage=two_stage)
            return SpaceVideo(video=FileData(path=str(take.path("video")))), take.seed

        return visible(run)

    endpoint.__name__ = endpoint.__qualname__ = api_name
    endpoint.__doc__ = summary + "\n" + DISTILLED_ARGS  # MCP reads the tool's and each argument's description here
    return endpoint


def _ltx23_endpoint(studio: "Studio"):
    def generate_video(
        input_image: FileData | str | None = None,
        prompt: str = "",
        duration: float = 3.0,
        enhance_prompt: bool = True,
        seed: float = 42,
        randomize_seed: bool = True,
        height: float = LTX23_SIZE[1],
        width: float = LTX23_SIZE[0],
    ) -> tuple[FileData, int]:
        """Make a video with sound from a prompt and an optional first image (the LTX-2.3 Space's /generate_video). Needs an LTX-2 model set.

        Args:
            input_image: The first frame, uploaded with gradio_client.handle_file; None or "" for text-to-video.
            prompt: What the video shows and sounds like (at most 2000 characters); may be empty with an input_image.
            duration: Length in seconds (the Space allows about 1..10), at 24 fps as 8k+1 frames; over the model's limit gives an error naming it.
            enhance_prompt: True first rewrites the prompt as a detailed audio-visual caption (the take keeps the typed prompt too).
            seed: Seed (0..2147483647) when randomize_seed is false; the same seed and settings give the same video.
            randomize_seed: True draws a random seed (returned); false uses seed.
            height: Height in pixels, put on the 32-pixel grid. The default 1024x1536 is the Space's high resolution: where the model's limit is lower it becomes the model's full size at 3:2; an explicit size over the limit gives an error naming it.
            width: Width in pixels, as height.

        Returns:
            The mp4 (video with its soundtrack; gradio_client gives its local path) and the seed used (int).
        """

        def run() -> tuple[FileData, int]:
            mset = studio.model_set
            if mset.family != "ltx2":
                others = [n for n in studio.available_sets() if studio.registry[n].family == "ltx2"]
                raise BadInput(
                    f"/generate_video is the LTX-2.3 Space's endpoint and needs an LTX-2 model set; this studio runs "
                    f"{mset.name!r} ({mset.label}): switch the model set to {' or '.join(others) or 'ltx2'}"
                )
            used_seed = _seed(seed, "seed", 42, randomize_seed, LTX23_MAX_SEED)
            typed = _text(prompt)
            image = _file(input_image)
            width_asked, height_asked = _whole(width, "width", LTX23_SIZE[0]), _whole(height, "height", LTX23_SIZE[1])
            request = RenderRequest(
                prompt=typed,
                image=image,
                seed=used_seed,
                width=width_asked,
                height=height_asked,
                seconds=_decimal(duration, "duration", 3.0),
            )
            if (width_asked, height_asked) == LTX23_SIZE:
                request = _fit_space_default(studio, request)
            studio.check(Draft(request))  # a bad request fails before the enhancer runs
            if typed and _flag(enhance_prompt, True):
                request = _enhanced(studio, request)
            take = studio.wait(studio.submit(Draft(request, preview=False), owner=OWNER).id)[-1]
            return FileData(path=str(take.path("video"))), take.seed

        return visible(run)

    return generate_video


# --- rendering -----------------------------------------------------------------------------------


def _enhanced(studio: "Studio", request: RenderRequest) -> RenderRequest:
    """The request with its prompt rewritten by the set's enhancer (the typed one kept as typed_prompt).

    Where the enhancer cannot run (e.g. a card too small to hold the text encoder) the typed prompt
    renders as typed rather than failing the call (enhance_prompt is on by default); the take then
    has no typed_prompt."""
    try:
        enhanced = studio.enhance(request.prompt, image=request.image, seed=request.seed)["enhanced"].strip()
    except BadInput as exc:
        log.warning("prompt enhancement skipped for a Space call: %s", exc)
        return request
    if not enhanced:
        return request
    return replace(request, prompt=enhanced[:MAX_PROMPT_CHARS], typed_prompt=request.prompt)


def _render(studio: "Studio", request: RenderRequest, *, two_stage: bool) -> Take:
    """One job: a draft at the size asked, or (`two_stage`) a half-size draft and its latent x2 final.
    Returns the job's last take."""
    return studio.wait(studio.submit(Draft(request, preview=False, half_first=two_stage), owner=OWNER).id)[-1]


def _fit_space_default(studio: "Studio", request: RenderRequest) -> RenderRequest:
    """The LTX-2.3 Space's default 1536x1024 where the variant allows it; else its full size at 3:2."""
    mset = studio.model_set
    variant = mset.variant(request.variant or mset.default_variant)
    if sizing.fits(LTX23_SIZE, variant.max_size):
        return request
    width, height = sizing.size_for_aspect(LTX23_SIZE[0] / LTX23_SIZE[1], variant.full_size)
    return replace(request, width=width, height=height)


def _frames_to_use(frames_to_use) -> int:
    """The distilled Space's "frames to use" of the input video: 8k+1, 9..257."""
    low, high = FRAMES_TO_USE
    return min(max(sizing.snap_frames(_whole(frames_to_use, "ui_frames_to_use", low)), low), high)


# --- values as clients send them ----------------------------------------------------------------


def _given(value) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _decimal(value, name: str, default: float) -> float:
    """A number sent as int, float or text; None or "" gives the Space's default."""
    if not _given(value):
        return float(default)
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise BadInput(f"{name} must be a number, got {str(value)[:40]!r}")
    return number


def _whole(value, name: str, default: int) -> int:
    return round(_decimal(value, name, default))


def _flag(value, default: bool) -> bool:
    """A checkbox sent as a bool, 0/1 or text ("true", "false")."""
    if not _given(value):
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)


def _seed(value, name: str, default: int, randomize, maximum: int) -> int:
    """The seed the Space would use: a random one with `randomize`, else the one sent."""
    if _flag(randomize, True):
        return random.randint(0, maximum)
    return _whole(value, name, default)


def _text(value) -> str:
    return "" if value is None else str(value)


def _file(value: FileData | dict | str | None) -> str | None:
    """An uploaded file's path; None or "" (or a file with no path) for none."""
    if not _given(value):
        return None
    if isinstance(value, dict | FileData) and not _given(value.get("path") if isinstance(value, dict) else value.path):
        return None
    return uploaded(value)
