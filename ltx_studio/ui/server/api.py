"""The typed API endpoints for gradio_client and MCP agents: /draft, /upscale, /compare, /extend,
/retake, /soundtrack, /batch, /film and /film_export (api_film.py), /finish (api_finish.py), /takes, /jobs
and /cancel.

They are plain typed functions (gr.api), their parameters named after the RenderRequest fields, so a
script drives the studio with the same words the page uses. Each render is a job in the studio's
queue. Each takes the studio first; `add_endpoints` registers it with the studio bound (`bind`).
Their docstrings are what an MCP agent reads (`python app.py --mcp`): the first paragraph
becomes the tool's description, `Args:` its parameters' descriptions.

Owners (core/owners.py): a caller that sends an `X-Studio-Key` header owns its jobs and takes as
"key:DIGEST" (the key itself is never stored); without one, under --auth the signed-in user; else
"api", the one name every keyless caller on the loopback shares. /jobs and /takes list what the
caller may see (under --auth its own; an admin, or anyone without --auth, everyone's); /cancel
stops only the caller's own jobs (an admin's: any).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

import gradio as gr
from gradio.data_classes import FileData

from ...jobs.ops import AddSound, Batch, Compare, Draft, Extend, Retake, Upscale
from ...render.request import RenderRequest
from ..relay import signed_in, visible
from .api_film import film, film_export
from .api_finish import finish, passes
from .api_inputs import api_owner, record, safe_loras, uploaded

if TYPE_CHECKING:
    from ...studio import Studio


def add_endpoints(studio: Studio) -> None:
    """Register the typed endpoints over `studio`: /takes, then the renders, each a function below whose
    name is its api_name (and its MCP tool's name), and which returns video(s) and record(s)."""
    gr.api(bind(takes, studio), api_name="takes", concurrency_limit=None)
    gr.api(bind(jobs, studio), api_name="jobs", concurrency_limit=None)
    gr.api(bind(cancel, studio), api_name="cancel", concurrency_limit=None)
    gr.api(bind(passes, studio), api_name="passes", concurrency_limit=None)
    for fn in (draft, upscale, compare, extend, retake, soundtrack, batch, film, film_export, finish):  # each waits
        gr.api(bind(fn, studio), api_name=fn.__name__, concurrency_limit=None)


def bind(endpoint: Callable, studio: Studio) -> Callable:
    """`endpoint` with its first parameter, the studio, filled in. gr.api reads the rest as the endpoint's
    own: its name (the MCP tool's), docstring, parameters with their defaults, and type hints.

    Not a functools.partial: gradio reads type hints off plain functions only (a partial has none, and
    gr.api refuses it). `studio`'s hint is left out: its type is imported for type checking only.
    """

    @functools.wraps(endpoint)
    def bound(*args, **kwargs):
        return endpoint(studio, *args, **kwargs)

    signature = inspect.signature(endpoint)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    bound.__annotations__ = {name: hint for name, hint in endpoint.__annotations__.items() if name != "studio"}
    return bound


def draft(
    studio: Studio,
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
    camera: str | None = None,
    soundtrack: FileData | None = None,
    audio_start: float = 0.0,
    request: gr.Request = None,
) -> tuple[FileData, dict]:
    """Render a draft video take from a text prompt (optionally a first frame) and keep it in the studio.

    Drafts are small and quick (seconds on a GPU); approve a good one with `upscale`. Sizes snap to
    the model's grid (multiples of 32, frames 8k+1) and are limited by the variant (see the error).

    Args:
        prompt: what happens in the video, one or two detailed sentences (at most 2000 characters).
        negative_prompt: what to avoid; empty for the model set's default.
        image: optional first frame (an image file or URL): the video starts from it.
        variant: "fast", "distilled" or "pro"; empty for the model set's default.
        seed: -1 for a random seed (the one used comes back in the record); same seed, same take.
        width: pixels, e.g. 768; empty for the variant's draft size.
        height: pixels, e.g. 512; empty for the variant's draft size.
        resolution: a preset instead of width/height: "540p", "720p" or "1080p".
        seconds: duration in seconds (e.g. 2.0), or "auto" on LTX-2.5 sets; empty for the default.
        frames: frame count instead of seconds (snapped to 8k+1).
        fps: frames per second; empty for the variant's (24 or 25).
        steps: denoising steps; empty for the variant's own.
        guidance: classifier-free guidance scale; empty for the variant's own.
        audio: LTX-2 sets make a soundtrack; false gives a silent mp4.
        keyframes: images the clip passes through: [{"image": file, "seconds": 1.5, "strength": 1.0}].
        video: a source clip to restyle (video-to-video).
        video_strength: how closely to follow `video`, 0 to 1.
        loras: [{"lora": name, "weight": 1.0}]: a file of the studio's LoRA folder (as the page lists it) or
            a Hub id its model set names (an IC-LoRA, a camera move's); never a path.
        reference: an IC-LoRA control video (depth, pose or edges) for LTX-2 sets, with an IC-LoRA in `loras`.
        reference_strength: how strongly the reference applies, 0 to 1.
        camera: a camera move for LTX-2 sets: dolly-in, dolly-out, dolly-left, dolly-right, jib-up, jib-down
            or static (a camera-control LoRA); empty for none.
        soundtrack: LTX-2 audio-to-video: an audio file (wav, mp3, m4a, flac) or a video with sound; the
            picture follows it (speech moves lips, a beat moves the picture) and the mp4 carries it as
            given. Without seconds/frames the clip lasts as long as the sound (up to the variant's limit).
        audio_start: seconds into the soundtrack to start from.

    Returns:
        the mp4 (URL) and the take's record: id (for upscale/extend), seed, width, height, frames, fps,
        variant, timings in seconds.
    """
    given = {k: v for k, v in locals().items() if k not in ("studio", "request")}  # first: only parameters yet
    asked = visible(lambda: draft_request(studio, **given))  # a malformed field is one line, like any bad input
    take = visible(
        lambda: studio.wait(studio.submit(Draft(asked, preview=False), owner=api_owner(studio, request)).id)[0]
    )
    return FileData(path=str(take.path("video"))), record(take)


def draft_request(
    studio, image, variant, resolution, keyframes, video, loras, reference, camera, soundtrack, audio_start, **same
) -> RenderRequest:
    """/draft's parameters as a RenderRequest. Those in `same` are its fields by the same names (prompt,
    negative_prompt, seed, width, height, seconds, frames, fps, steps, guidance, audio, video_strength,
    reference_strength); files must be uploads of the request, LoRAs are what the studio offers
    (`safe_loras`), an empty choice is the default, and audio_start is soundtrack_start."""
    return RenderRequest(
        **same,
        image=uploaded(image),
        variant=variant or None,
        resolution=resolution or None,
        keyframes=[{**k, "image": uploaded(k.get("image"))} for k in keyframes or []],
        video=uploaded(video),
        loras=safe_loras(studio, loras),
        reference=uploaded(reference),
        camera=camera or None,
        soundtrack=uploaded(soundtrack),
        soundtrack_start=audio_start or 0.0,
    )


def upscale(
    studio: Studio,
    take_id: str,
    mode: str = "latent",
    width: int | None = None,
    height: int | None = None,
    request: gr.Request = None,
) -> tuple[FileData, dict]:
    """Approve a draft take and render its final at full resolution; the draft's composition is kept.

    Args:
        take_id: the draft's id, from a record's "id" (e.g. "20261126-003015-a1b2c3").
        mode: "latent" (the draft's latents upsampled x2 and refined: twice the draft's width and height)
            or "pro" (re-rendered with the Pro variant, same seed and prompt, at width x height).
        width: pixels, for mode "pro" only; empty for Pro's full size at the draft's aspect.
        height: pixels, for mode "pro" only.

    Returns:
        the final's mp4 (URL) and its record (its "parent" is the draft's id).
    """
    take = visible(
        lambda: studio.wait(
            studio.submit(Upscale(take_id, mode=mode, width=width, height=height), owner=api_owner(studio, request)).id
        )[-1]
    )
    return FileData(path=str(take.path("video"))), record(take)


def compare(
    studio: Studio,
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
    request: gr.Request = None,
) -> tuple[list[FileData], list[dict]]:
    """Render one prompt with several variants and one seed, to compare them side by side.

    Args:
        prompt: what happens in the video.
        variants: which to render, e.g. ["fast", "distilled", "pro"]; empty for all of the model set's.
        negative_prompt: what to avoid; empty for the default.
        image: optional first frame (an image file or URL).
        seed: -1 for random; every variant uses the same seed.
        width: pixels; empty for the draft size.
        height: pixels; empty for the draft size.
        seconds: duration in seconds; empty for the default.
        frames: frame count instead of seconds.
        audio: false for silent mp4s (LTX-2 sets).
        loras: [{"lora": name, "weight": 1.0}], as for /draft.

    Returns:
        one mp4 (URL) per variant and their records, in the order asked.
    """
    asked = visible(
        lambda: RenderRequest(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=uploaded(image),
            seed=seed,
            width=width,
            height=height,
            seconds=seconds,
            frames=frames,
            audio=audio,
            loras=safe_loras(studio, loras),
        )
    )
    chosen = list(variants or studio.model_set.variants)
    takes = visible(lambda: studio.wait(studio.submit(Compare(asked, chosen), owner=api_owner(studio, request)).id))
    return [FileData(path=str(t.path("video"))) for t in takes], [record(t) for t in takes]


def extend(
    studio: Studio,
    take_id: str,
    seconds: float = 2.0,
    prompt: str | None = None,
    backward: bool = False,
    request: gr.Request = None,
) -> tuple[FileData, dict]:
    """Extend a take: render what happens next (or before, with `backward`) and join it to the take.

    Args:
        take_id: the take to continue, from a record's "id".
        seconds: how much longer, in seconds (e.g. 2.0); repeat to go past 10 s.
        prompt: what happens next; empty to keep the take's prompt.
        backward: true to extend before the take's first frame.

    Returns:
        the joined clip's mp4 (URL) and its record (a new take whose parent is the source).
    """
    op = Extend(take_id, seconds, prompt=prompt or None, backward=backward)
    job = visible(lambda: studio.submit(op, owner=api_owner(studio, request)))
    take = visible(lambda: studio.wait(job.id)[-1])
    return FileData(path=str(take.path("video"))), record(take)


def retake(
    studio: Studio,
    take_id: str,
    start: float,
    end: float,
    prompt: str | None = None,
    what: str = "both",
    seed: int = -1,
    request: gr.Request = None,
) -> tuple[FileData, dict]:
    """Regenerate one segment of a take; outside it the picture and sound stay the take's own.

    Args:
        take_id: the take to retake, from a record's "id".
        start: segment start in seconds (snapped to whole latent frames of 8 frames; the record says where).
        end: segment end in seconds.
        prompt: what happens in the segment; empty to keep the take's prompt.
        what: "both" (picture and sound), "video" or "audio" (LTX-Video takes: video only).
        seed: -1 for a random seed.

    Returns:
        the new clip's mp4 (URL) and its record (a new take whose parent is the source; settings.retake
        has the range used and what was retaken).
    """
    op = Retake(take_id, start, end, prompt=prompt or None, what=what, seed=seed)
    job = visible(lambda: studio.submit(op, owner=api_owner(studio, request)))
    take = visible(lambda: studio.wait(job.id)[-1])
    return FileData(path=str(take.path("video"))), record(take)


def soundtrack(
    studio: Studio,
    take_id: str | None = None,
    video: FileData | None = None,
    prompt: str | None = None,
    seed: int = -1,
    request: gr.Request = None,
) -> tuple[FileData, dict]:
    """Give a silent clip its sound (video-to-audio, LTX-2 sets): the picture stays, a sound is made for it.

    Args:
        take_id: a take to add sound to (e.g. an LTX-Video take); or give `video`.
        video: a video file uploaded with the request (any silent clip).
        prompt: what it should sound like; empty for the take's prompt.
        seed: -1 for a random seed.

    Returns:
        the mp4 with its new sound (URL) and its record (parent: the source take).
    """
    if not take_id and video is None:
        raise gr.Error("give a take_id or a video", print_exception=False)
    if take_id:  # a take id only: a path on the server is never read
        op = AddSound(take_id, prompt=prompt or None, seed=seed, files=False)
        job = visible(lambda: studio.submit(op, owner=api_owner(studio, request)))
    else:
        upload = visible(lambda: uploaded(video))
        job = visible(
            lambda: studio.submit(AddSound(upload, prompt=prompt or None, seed=seed), owner=api_owner(studio, request))
        )
    take = visible(lambda: studio.wait(job.id)[-1])
    return FileData(path=str(take.path("video"))), record(take)


def batch(
    studio: Studio,
    prompts: str,
    seeds: int = 1,
    negative_prompt: str | None = None,
    variant: str | None = None,
    seed: int = -1,
    width: int | None = None,
    height: int | None = None,
    seconds: float | None = None,
    frames: int | None = None,
    audio: bool = True,
    request: gr.Request = None,
) -> tuple[list[FileData], list[dict], list[str]]:
    """Render many variations as one job: several seeds of one prompt, and/or a list of prompts.

    Args:
        prompts: one prompt, or one prompt per line, or CSV text with a header naming prompt, seed and
            seconds columns (first frames go with /draft, as uploads).
        seeds: takes per prompt, 1 to 16, each with its own seed (seed, seed+1, ... when seed is set).
        negative_prompt: what to avoid; empty for the default.
        variant: "fast", "distilled" or "pro"; empty for the default.
        seed: the first seed; -1 for random seeds.
        width: pixels; empty for the draft size.
        height: pixels; empty for the draft size.
        seconds: duration of each take in seconds; empty for the default.
        frames: frame count instead of seconds.
        audio: false for silent mp4s (LTX-2 sets).

    Returns:
        the takes' mp4s (URLs), their records (each tagged with its batch), and a line per row that
        was skipped (e.g. "row 3: seed must be a whole number").
    """
    from ...render.prompts import read_prompts

    rows, problems = visible(lambda: read_prompts(prompts or "", files=False))  # no paths on the server here
    if not rows:
        raise gr.Error(problems[0] if problems else "batch needs at least one prompt", print_exception=False)
    base = RenderRequest(
        negative_prompt=negative_prompt,
        variant=variant or None,
        seed=seed,
        width=width,
        height=height,
        seconds=seconds,
        frames=frames,
        audio=audio,
    )
    requests, refused = visible(lambda: studio.prepare_batch(base, rows, int(seeds)))
    problems += refused
    if not requests:
        raise gr.Error("no row of the batch can render: " + "; ".join(problems)[:300], print_exception=False)
    job = visible(lambda: studio.submit(Batch(requests), owner=api_owner(studio, request)))
    takes = visible(lambda: studio.wait(job.id))
    return [FileData(path=str(t.path("video"))) for t in takes], [record(t) for t in takes], problems


def takes(studio: Studio, take_id: str | None = None, limit: int = 20, request: gr.Request = None) -> list[dict]:
    """List the studio's takes, newest first, or one take by id.

    Args:
        take_id: one take's id; empty to list the newest takes.
        limit: how many takes to list (1 to 200).

    Returns:
        take records: id, kind (draft, upscale, pro, extend...), prompt, seed, width, height, frames, fps,
        variant, parent (the draft a final came from), approved, timings, and its files' names.
    """
    shown = studio.listed_owner(api_owner(studio, request), signed_in(request))
    if take_id:
        take = visible(lambda: studio.take(take_id))
        if shown not in (None, take.owner):  # not this caller's to see: as if it were not there
            raise gr.Error(f"no take with id {take_id[:80]!r}", print_exception=False)
        return [record(take)]
    return [record(t) for t in studio.takes(max(1, min(int(limit or 20), 200)), owner=shown)]


def jobs(studio: Studio, limit: int = 20, request: gr.Request = None) -> list[dict]:
    """List the studio's queue: running and queued jobs first, then the newest finished ones.

    Args:
        limit: how many jobs to list (1 to 200).

    Returns:
        job records: id (for cancel), kind, state (queued, running, done, failed, cancelled), label,
        progress (0 to 1), stage, take_ids, error, and "yours": whether this caller may cancel it.
    """
    who = api_owner(studio, request)
    shown = studio.listed_owner(who, signed_in(request))
    listed = studio.job_list(limit=max(1, min(int(limit or 20), 200)), owner=shown)
    keep = ("id", "kind", "state", "label", "progress", "stage", "take_ids", "error", "created")
    return [{**{k: job.to_json()[k] for k in keep}, "yours": studio.may_act(who, job.owner)} for job in listed]


def cancel(studio: Studio, job_id: str, request: gr.Request = None) -> dict:
    """Cancel a queued job (it never runs) or stop a running one after its current step: your own jobs only.

    Args:
        job_id: the job's id, from /jobs (e.g. "job-20261126-003015-a1b2c3").

    Returns:
        the job's id and state ("cancelled", or "running" while it stops).
    """
    record = visible(lambda: studio.cancel(job_id, owner=api_owner(studio, request)))
    return {"id": record.id, "state": record.state}
