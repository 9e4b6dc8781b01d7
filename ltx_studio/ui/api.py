"""The typed API endpoints for gradio_client: /draft, /upscale, /compare and /extend.

They are plain typed functions (gr.api), their parameters named after the RenderRequest fields, so a
script drives the studio with the same words the page uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import gradio.utils as gradio_utils
from gradio.data_classes import FileData

from ..render import RenderRequest
from ..takes import Take
from .relay import visible

if TYPE_CHECKING:
    from ..studio import Studio


def record(take: Take) -> dict:
    """The take's record as the API returns it (without its folder: a path on the server)."""
    data = take.to_json()
    data.pop("folder", None)
    return data


def add_endpoints(studio: Studio) -> None:
    """Typed endpoints for gradio_client: /draft, /upscale, /compare. Each returns video(s) and record(s)."""

    def draft(
        prompt: str,
        negative_prompt: str | None = None,
        image: FileData | None = None,
        variant: str | None = None,
        seed: int = -1,
        width: int | None = None,
        height: int | None = None,
        resolution: str | None = None,
        seconds: float | str | None = None,
        frames: int | None = None,
        fps: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        audio: bool = True,
        keyframes: list[dict] | None = None,
        video: FileData | None = None,
        video_strength: float = 1.0,
        loras: list[dict] | None = None,
        reference: FileData | None = None,
        reference_strength: float = 1.0,
    ) -> tuple[FileData, dict]:
        """Render a draft take. Returns the mp4 and the take's record (id, seed, size, timings, ...).

        `seconds` may be "auto" on LTX-2.5 sets (the duration head picks the length); `audio` false
        gives a silent mp4 on LTX-2 sets. `keyframes`: [{image (handle_file), seconds, strength}];
        `video`: a clip to restyle (video-to-video) at `video_strength`; `loras`: [{"lora": name, path or
        Hub id, "weight": w}] (a name is a file of the studio's LoRA folder)."""
        request = RenderRequest(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=uploaded(image),
            variant=variant or None,
            seed=seed,
            width=width,
            height=height,
            resolution=resolution or None,
            seconds=seconds,
            frames=frames,
            fps=fps,
            steps=steps,
            guidance=guidance,
            audio=audio,
            keyframes=[{**k, "image": uploaded(k.get("image"))} for k in keyframes or []],
            video=uploaded(video),
            video_strength=video_strength,
            loras=loras or [],
            reference=uploaded(reference),
            reference_strength=reference_strength,
        )
        take = visible(lambda: studio.wait(studio.submit_draft(request, preview=False, owner="api").id)[0])
        return FileData(path=str(take.path("video"))), record(take)

    def upscale(
        take_id: str, mode: str = "latent", width: int | None = None, height: int | None = None
    ) -> tuple[FileData, dict]:
        """Approve a draft and make its final (mode latent: x2 + refine; mode pro: re-render with Pro)."""
        take = visible(
            lambda: studio.wait(studio.submit_upscale(take_id, mode=mode, width=width, height=height, owner="api").id)[
                -1
            ]
        )
        return FileData(path=str(take.path("video"))), record(take)

    def compare(
        prompt: str,
        variants: list[str] | None = None,
        negative_prompt: str | None = None,
        image: FileData | None = None,
        seed: int = -1,
        width: int | None = None,
        height: int | None = None,
        seconds: float | str | None = None,
        frames: int | None = None,
        audio: bool = True,
        loras: list[dict] | None = None,
    ) -> tuple[list[FileData], list[dict]]:
        """Render one prompt with several variants (default all) and one seed. Returns mp4s and records."""
        request = RenderRequest(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=uploaded(image),
            seed=seed,
            width=width,
            height=height,
            seconds=seconds,
            frames=frames,
            audio=audio,
            loras=loras or [],
        )
        chosen = list(variants or studio.model_set.variants)
        takes = visible(lambda: studio.wait(studio.submit_compare(request, chosen, owner="api").id))
        return [FileData(path=str(t.path("video"))) for t in takes], [record(t) for t in takes]

    def extend(
        take_id: str, seconds: float = 2.0, prompt: str | None = None, backward: bool = False
    ) -> tuple[FileData, dict]:
        """Continue a take by `seconds` (before its start with `backward`): the joined clip as a new take."""
        job = visible(lambda: studio.submit_extend(take_id, seconds, prompt=prompt or None, backward=backward))
        take = visible(lambda: studio.wait(job.id)[-1])
        return FileData(path=str(take.path("video"))), record(take)

    for fn in (draft, upscale, compare, extend):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=None)  # each waits for its job in the studio's queue


def uploaded(file: FileData | dict | str | None) -> str | None:
    """The path of a file uploaded with an API request; never a path that names any other file.

    gr.api hands the request's value through as given, so a client could name /etc/passwd: only
    files inside Gradio's upload folder are accepted, and the message does not say whether a path exists.
    """
    if file is None:
        return None
    path = file.get("path") if isinstance(file, dict) else getattr(file, "path", None) or str(file)
    upload = Path(gradio_utils.get_upload_folder()).resolve()
    if not path or not Path(path).resolve().is_relative_to(upload):
        raise gr.Error("each image or video must be a file uploaded with the request (gradio_client.handle_file)")
    return str(Path(path).resolve())
