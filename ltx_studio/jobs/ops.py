"""What a job does, as values: one dataclass per operation (its kind and parameters). The page, the
API and scripts build them and hand them to `Studio.submit`; `execute` runs them; the queue keeps
their parameters as JSON, by kind. Nothing heavy is imported here (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..render.request import RenderRequest


@dataclass
class Draft:
    """A render of one request; with `upscale`, its latent x2 final follows in the same job. With
    `half_first` the request's size is the final's: the draft renders at half of it, then upscales."""

    request: RenderRequest
    preview: bool = True
    upscale: bool = False
    half_first: bool = False
    kind = "draft"

    def label(self) -> str:
        return self.request.prompt or "(first frame)"


@dataclass
class Compare:
    """The same request with each variant, one seed."""

    request: RenderRequest
    variants: list[str]
    preview: bool = False
    kind = "compare"

    def label(self) -> str:
        return f"{'/'.join(self.variants)}: {self.request.prompt}"


@dataclass
class Upscale:
    """Approve a draft and render its final: `latent` (x2) or `pro` (re-render with Pro)."""

    take_id: str
    mode: str = "latent"
    width: int | None = None
    height: int | None = None
    kind = "upscale"

    def label(self) -> str:
        return f"{self.mode} final of {self.take_id}"


@dataclass
class Extend:
    """Continue a take by `seconds` (before its start with `backward`)."""

    take_id: str
    seconds: float
    prompt: str | None = None
    backward: bool = False
    kind = "extend"

    def label(self) -> str:
        return f"extend {self.take_id} by {self.seconds:g} s"


@dataclass
class Retake:
    """Regenerate seconds [start, end) of a take: `what` is both, video or audio."""

    take_id: str
    start: float
    end: float
    prompt: str | None = None
    what: str = "both"
    seed: int = -1
    kind = "retake"

    def label(self) -> str:
        return f"retake {self.start:g}-{self.end:g} s of {self.take_id}"


@dataclass
class AddSound:
    """A soundtrack for a silent clip: a take id or, with `files`, a video file (kept with the job)."""

    source: str
    prompt: str | None = None
    seed: int = -1
    files: bool = True
    kind = "soundtrack"

    def label(self) -> str:
        return f"sound for {str(self.source).replace(chr(92), '/').rsplit('/', 1)[-1]}"


@dataclass
class Batch:
    """Several renders as one job; each becomes an ordinary take tagged with the batch."""

    requests: list[RenderRequest] = field(default_factory=list)
    title: str = ""
    kind = "batch"

    def label(self) -> str:
        return self.title or f"{len(self.requests)} × {self.requests[0].prompt}"


@dataclass
class FilmRender:
    """Render the shots of a film version that have no take yet, in order, each an ordinary take."""

    film_id: str
    version: int | None = None  # None: its newest
    shots: list[int] = field(default_factory=list)  # what it renders (1-based), as counted when it was queued
    title: str = ""
    kind = "film"

    def label(self) -> str:
        return f"film {self.title or self.film_id} v{self.version}: {len(self.shots)} shot(s)"


@dataclass
class FilmShot:
    """Retake a segment of one shot of a film (`action` "retake": seconds [start, end) of the shot) or extend
    it (`action` "extend": by `seconds`); the film's new version has the new take in that shot's place."""

    film_id: str
    shot: int
    action: str = "retake"
    start: float = 0.0
    end: float = 0.0
    seconds: float = 0.0
    prompt: str | None = None
    seed: int = -1
    kind = "film_shot"

    def label(self) -> str:
        return f"{self.action} shot {self.shot} of film {self.film_id}"


@dataclass
class Finish:
    """A finishing pass (the set's `passes`) on a take id or, with `files`, a video file (kept with the job)."""

    source: str
    pass_name: str
    factor: int | None = None
    prompt: str | None = None
    seed: int = -1
    exr: bool = False
    files: bool = True
    kind = "finish"

    def label(self) -> str:
        times = f" x{self.factor}" if self.factor else ""
        return f"{self.pass_name}{times} on {str(self.source).replace(chr(92), '/').rsplit('/', 1)[-1]}"


def renders(kind: str, params: dict) -> int:
    """How many renders a job of `kind` with these parameters (its row's, or an op's fields) makes:
    what the queue's cap counts."""
    if kind == "batch":
        return max(1, len(params.get("requests") or []))
    if kind == "compare":
        return max(1, len(params.get("variants") or []))
    if kind == "film":
        return max(1, len(params.get("shots") or []))
    if kind == "draft":
        return 2 if params.get("upscale") or params.get("half_first") else 1
    return 1


Operation = Draft | Compare | Upscale | Extend | Retake | AddSound | Batch | FilmRender | FilmShot | Finish
OPERATIONS: dict[str, type] = {
    op.kind: op for op in (Draft, Compare, Upscale, Extend, Retake, AddSound, Batch, FilmRender, FilmShot, Finish)
}
