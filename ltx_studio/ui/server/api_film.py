"""The film endpoints: /film (make or re-render a film and render it as one job of the queue) and
/film_export (a rendered film as one mp4 and an .otio edit). Their files come with the request as
uploads (the soundtrack, each cut's reference image): a film named over the API never names a file
on the server, and its shots' LoRAs are checked at the door like /draft's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
from gradio.data_classes import FileData

from ...jobs.ops import FilmRender
from ...render.film import SHOT_KEYS, film_from
from ..relay import visible
from .api_inputs import api_owner, safe_loras, uploaded

if TYPE_CHECKING:
    from ...studio import Studio


def film(
    studio: Studio,
    shots: list[dict] | None = None,
    soundtrack: FileData | None = None,
    references: list[FileData] | None = None,
    title: str = "",
    fps: int | None = None,
    variant: str | None = None,
    resolution: str | None = None,
    width: int | None = None,
    height: int | None = None,
    film_id: str | None = None,
    rerender: list[int] | None = None,
    stale: bool = False,
    request: gr.Request = None,
) -> tuple[FileData, dict]:
    """Make a film of shots against one soundtrack and render it (one job, shot by shot), or render
    again some shots of a film made before; returns the film as one mp4 and its record.

    Args:
        shots: the shots in order, each {"prompt", "seconds", "begins": "cut" or "continue", and optionally
            "reference": N (the Nth of `references` as its first frame), "camera", "seed", "variant",
            "negative_prompt", "loras"}. The first shot is a cut. Leave empty with `film_id`.
        soundtrack: one song for the whole film (an upload): each shot follows its own slice of it.
        references: images uploaded with the request, named by the shots' "reference" (1-based).
        title: the film's name.
        fps: frames per second; empty for the set's.
        variant: "fast", "distilled" or "pro"; empty for the default.
        resolution: a preset (540p, 720p, 1080p), or give width and height; empty for the draft size.
        width: pixels, with height.
        height: pixels, with width.
        film_id: a film made before, to render again (with `rerender` and/or `stale`).
        rerender: the shots (1-based) of `film_id` to render again; the others keep their takes.
        stale: also render again every shot that continues a shot that changed.

    Returns:
        the film's mp4 (URL; the soundtrack encoded once over it) and its record: id, version, seconds,
        frames, fps, and per shot its take, start and length in seconds, how it begins and whether it is stale.
    """
    owner = api_owner(studio, request)
    if film_id:
        made = visible(
            lambda: studio.rerender_film(film_id, [int(n) for n in rerender or []], stale=stale, owner=owner)
        )
    else:
        data = visible(lambda: _shot_list(studio, shots, soundtrack, references))
        data.update({k: v for k, v in dict(title=title, fps=fps, variant=variant, resolution=resolution,
                                           width=width, height=height).items() if v not in (None, "")})  # fmt: skip
        made = visible(lambda: studio.make_film(film_from(data, _uploads(), "the film"), owner=owner))
    job = visible(lambda: studio.submit(FilmRender(made["id"], made["version"]), owner=owner))
    visible(lambda: studio.wait(job.id))
    written = visible(lambda: studio.export_film(made["id"], version=made["version"]))
    return FileData(path=written["mp4"]), studio.film(made["id"], made["version"])


def film_export(
    studio: Studio, film_id: str, version: int | None = None, request: gr.Request = None
) -> tuple[FileData, FileData, dict]:
    """A rendered film as one mp4 (the shots joined frame-exactly, the sound encoded once) and an
    OpenTimelineIO edit (.otio) whose clips reference each shot's mp4 and the soundtrack.

    Args:
        film_id: the film's id (from /film's record).
        version: which version; empty for the newest.

    Returns:
        the mp4 (URL), the .otio (URL) and the film's record.
    """
    owner = api_owner(studio, request)
    found = visible(lambda: studio.film(film_id, version))
    if not studio.may_act(owner, studio.films.store.get(found["id"], found["version"]).owner):
        raise gr.Error(f"no film with id {film_id[:80]!r}", print_exception=False)
    written = visible(lambda: studio.export_film(found["id"], version=found["version"]))
    return FileData(path=written["mp4"]), FileData(path=written["otio"]), found


def _uploads() -> Path:
    """The one folder a film's files may come from over the API (they are named by absolute paths in it)."""
    import gradio.utils as gradio_utils

    return Path(gradio_utils.get_upload_folder()).resolve()


def _shot_list(studio: Studio, shots, soundtrack, references) -> dict:
    """A shot list's data from an API request: its files the uploads, its LoRAs checked at the door."""
    if not isinstance(shots, list) or not shots:
        raise gr.Error("a film needs shots: a list of {prompt, seconds, begins}")
    images = [uploaded(item) for item in references or []]
    listed = []
    for number, shot in enumerate(shots, 1):
        if not isinstance(shot, dict):
            raise gr.Error(f"shot {number}: expected an object with a prompt and seconds")
        shot = {k: v for k, v in shot.items() if k in SHOT_KEYS or k == "reference"}
        if shot.get("reference") not in (None, ""):
            index = shot["reference"]
            if not isinstance(index, int) or not 1 <= index <= len(images):
                raise gr.Error(
                    f"shot {number}: reference must be 1 to {len(images)}, the images uploaded as references"
                )
            shot["reference"] = images[index - 1]
        if shot.get("loras"):
            shot["loras"] = [f"{name}:{weight}" for name, weight in safe_loras(studio, shot["loras"])]
        listed.append(shot)
    data = {"shots": listed}
    if soundtrack is not None:
        data["soundtrack"] = uploaded(soundtrack)
    return data
