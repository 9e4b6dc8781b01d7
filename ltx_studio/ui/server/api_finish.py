"""The /finish endpoint: a finishing pass (the model set's `passes`) on a take or an uploaded clip, as a job."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
from gradio.data_classes import FileData

from ...jobs.ops import Finish
from ..relay import visible
from .api_inputs import api_owner, record, uploaded

if TYPE_CHECKING:
    from ...studio import Studio


def finish(
    studio: Studio,
    pass_name: str,
    take_id: str | None = None,
    video: FileData | None = None,
    factor: int | None = None,
    prompt: str | None = None,
    exr: bool = False,
    seed: int = -1,
    request: gr.Request = None,
) -> tuple[FileData, FileData | None, FileData | None, dict]:
    """Run a finishing pass on a take or an uploaded clip: a higher frame rate, slow motion, HDR, a repair
    (deblur, restore...), a clean plate or an alpha matte. /passes lists the passes of the model set in use.
    The new take's parent is the take.

    Args:
        pass_name: the pass, e.g. frame-rate, slow-motion, hdr, deblur, clean-plate, alpha.
        take_id: the take to finish; or give `video`.
        video: a video file uploaded with the request.
        factor: frame-rate and slow-motion passes: 2 or 4 (default 2).
        prompt: what the clip shows (default: the take's); a clean plate needs one (the scene without what it removes).
        exr: hdr: OpenEXR frames too (a zip), for grading.
        seed: -1 for a random seed.

    Returns:
        the new take's mp4 (URL); its master where the pass makes one (hdr: the HLG HEVC mp4; alpha: the ProRes
        4444 .mov), else empty; the EXR frames as a zip when asked, else empty; and the take's record.
    """
    options = {"factor": factor or None, "prompt": prompt or None, "seed": seed, "exr": bool(exr)}
    if not take_id and video is None:
        raise gr.Error("give a take_id or a video", print_exception=False)
    if take_id:  # a take id only: a path on the server is never read
        op = Finish(take_id, pass_name, files=False, **options)
    else:
        op = Finish(visible(lambda: uploaded(video)), pass_name, **options)
    job = visible(lambda: studio.submit(op, owner=api_owner(studio, request)))
    take = visible(lambda: studio.wait(job.id)[-1])
    files = take.settings.get("files", {})
    master = files.get("hdr") or files.get("alpha")
    return (
        FileData(path=str(take.path("video"))),
        FileData(path=str(Path(take.folder) / master)) if master else None,
        FileData(path=str(Path(take.folder) / files["exr_zip"])) if "exr_zip" in files else None,
        record(take),
    )


def passes(studio: Studio) -> list[dict]:
    """List the finishing passes of the model set in use: what /finish takes as pass_name.

    Returns:
        one record per pass: pass (its name), kind (temporal, ic or hdr), about (what it is for), factors
        (the frame-rate factors it takes), prompt (optional, required or none).
    """
    return [
        {"pass": p.name, "kind": p.kind, "about": p.about, "factors": list(p.factors), "prompt": p.prompt}
        for p in studio.model_set.passes.values()
    ]
