"""An operation as the queue keeps it: JSON parameters by kind, every input file copied into the job's
folder (so a restart can run it again), and back. Rows written by earlier versions read the same."""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

from ..core.errors import StudioError
from ..library.sound import Soundtrack, write_wav
from ..render.request import RenderRequest
from .ops import OPERATIONS, AddSound, Batch, Compare, Draft, FilmRender, Finish, Operation
from .queue import keep_file, read_kept


def to_params(op: Operation, folder: Path) -> dict:
    """The operation's parameters as JSON can hold them, each file kept in `folder`."""
    params = {f.name: getattr(op, f.name) for f in fields(op) if f.name != "title" or isinstance(op, FilmRender)}
    if isinstance(op, AddSound | Finish) and op.files and Path(str(op.source)).is_file():  # a file, not a take id
        params["source"] = keep_file(op.source, folder, "source")
    if isinstance(op, Draft | Compare):
        params["request"] = _request(op.request, folder, 0)
        params["count"] = (2 if op.upscale else 1) if isinstance(op, Draft) else len(op.variants)
    if isinstance(op, Batch):
        params["requests"] = [_request(r, folder, i) for i, r in enumerate(op.requests)]
        params["count"] = len(op.requests)
    if isinstance(op, FilmRender):
        params["count"] = len(op.shots)  # the runner's "2/4 · denoise 40%"
    return params


def from_params(kind: str, params: dict) -> Operation:
    """The operation a queued row describes."""
    op = OPERATIONS.get(kind)
    if op is None:
        raise StudioError(f"unknown job kind {kind!r} (this version runs: {', '.join(OPERATIONS)})")
    known = {f.name for f in fields(op)}
    values = {k: v for k, v in params.items() if k in known}
    if "request" in values:
        values["request"] = _thaw(values["request"])
    if "requests" in values:
        values["requests"] = [_thaw(r) for r in values["requests"]]
    return op(**values)


def _request(req: RenderRequest, folder: Path, n: int) -> dict:
    data = {f.name: getattr(req, f.name) for f in fields(RenderRequest)}
    data["image"] = keep_file(req.image, folder, f"{n}-image")
    data["video"] = keep_file(req.video, folder, f"{n}-video")
    data["reference"] = keep_file(req.reference, folder, f"{n}-reference")
    track = req.soundtrack
    if isinstance(track, Soundtrack) and track.path is not None:  # a file, probed: the job keeps the file
        data["soundtrack_start"] = track.start
        track = track.path
    elif isinstance(track, Soundtrack):  # made in memory: kept as a wav
        (folder / f"{n}-soundtrack").mkdir(exist_ok=True)
        track = write_wav(folder / f"{n}-soundtrack" / f"{Path(track.name).stem}.wav", track.waveform, track.rate)
        data["soundtrack_start"] = 0.0  # the wav holds the track from its start as used
    data["soundtrack"] = keep_file(track, folder, f"{n}-soundtrack")
    data["keyframes"] = [
        {**dict(k), "image": keep_file(k.get("image"), folder, f"{n}-keyframe-{i}")}
        for i, k in enumerate(req.keyframes or [])
    ]
    data["loras"] = [asdict(x) if is_dataclass(x) else x for x in req.loras or []]
    return data


def _thaw(data: dict | RenderRequest) -> RenderRequest:
    if isinstance(data, RenderRequest):
        return data
    known = {f.name for f in fields(RenderRequest)}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("video", "reference"):
        values[name] = read_kept(values.get(name))
    return RenderRequest(**values)
