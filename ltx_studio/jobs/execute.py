"""One job run through the recipes: `execute(renderer, op, ...)` is the only place that maps an
operation to the render recipe that does it. The runner's workers (this process, a process per GPU,
Ray actors) all call it; takes a job made before an interruption are not made again. Each take a
job makes records the job's owner (library/takes.py `taken_by`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from ..core import sizing
from ..core.errors import StudioError
from ..core.events import CancelToken, EventSink, Progress
from ..library.takes import Take, taken_by
from ..render import seeds
from ..render.compare import compare
from ..render.extend import extend
from ..render.film_render import FilmMaker
from ..render.finish import finish
from ..render.renderer import Renderer
from ..render.request import RenderRequest
from ..render.retake import retake
from ..render.soundtrack import soundtrack
from ..render.story import TakeSpec
from ..render.upscale import upscale
from .ops import AddSound, Batch, Compare, Draft, Extend, FilmRender, FilmShot, Finish, Operation, Retake, Upscale


def execute(
    renderer: Renderer,
    op: Operation,
    emit: EventSink,
    cancel: CancelToken,
    *,
    job_id: str = "",
    done: Sequence[str] = (),
    parallel_final: int = 0,
    owner: str = "",
) -> list[Take]:
    """Run an operation; `done` are the takes it made before an interruption (kept, not made again);
    the takes it makes are `owner`'s (the job's)."""
    with taken_by(owner):
        return _run(renderer, op, emit, cancel, job_id=job_id, done=done, parallel_final=parallel_final)


def _run(renderer, op, emit, cancel, *, job_id, done, parallel_final) -> list[Take]:
    """`execute` without its owner: the one map from an operation to its recipe."""
    events = {"on_event": emit, "cancel": cancel}
    if isinstance(op, Draft):
        op = half_first(renderer, op)
        draft = renderer.store.get(done[0]) if done else renderer.render(op.request, preview=op.preview, **events)
        if op.upscale:
            return [draft, upscale(renderer, draft.id, mode="latent", **events)]
        return [draft]
    if isinstance(op, Compare):
        return compare(renderer, op.request, op.variants[len(done) :], preview=op.preview, **events)
    if isinstance(op, Upscale) and parallel_final >= 2:
        from .parallel import run_final  # one final across N GPUs (unverified; see parallel.py)

        return [run_final(renderer, op.take_id, op.mode, parallel_final, emit, cancel, op.width, op.height)]
    if isinstance(op, Upscale):
        return [upscale(renderer, op.take_id, mode=op.mode, width=op.width, height=op.height, **events)]
    if isinstance(op, Extend):
        return [extend(renderer, op.take_id, op.seconds, prompt=op.prompt, backward=op.backward, **events)]
    if isinstance(op, Retake):
        return [retake(renderer, op.take_id, op.start, op.end, prompt=op.prompt, what=op.what, seed=op.seed, **events)]
    if isinstance(op, AddSound):
        return [soundtrack(renderer, op.source, prompt=op.prompt, seed=op.seed, files=op.files, **events)]
    if isinstance(op, Finish):
        options = {"factor": op.factor, "prompt": op.prompt, "seed": op.seed, "exr": op.exr, "files": op.files}
        return [finish(renderer, op.source, op.pass_name, **options, **events)]
    if isinstance(op, Batch):
        takes, failures = run_batch(renderer, op.requests, emit, cancel, job_id=job_id, done=done)
        if failures and not takes and not done:
            raise StudioError("; ".join(failures))
        if failures:
            emit(Progress("note", 1.0, "; ".join(failures)))  # the runner keeps it with the job
        return takes
    if isinstance(op, FilmRender):  # shots already made (recorded in the version, or in `done`) are kept
        return FilmMaker(renderer).render(op.film_id, op.version, done=list(done), **events)
    if isinstance(op, FilmShot):
        return [film_shot(renderer, op, done, events)]
    raise StudioError(f"unknown job kind {getattr(op, 'kind', type(op).__name__)!r}")


def film_shot(renderer: Renderer, op: FilmShot, done: Sequence[str], events: dict) -> Take:
    """A retake or an extension of one shot, then the film's new version with it (a take made before an
    interruption is not made again; a film that has it already is not revised again)."""
    maker = FilmMaker(renderer)
    source = maker.shot_take(op.film_id, op.shot) if not done else None
    if done:
        take = renderer.store.get(done[-1])
    elif op.action == "extend":
        take = extend(renderer, source, op.seconds, prompt=op.prompt, **events)
    else:
        take = retake(renderer, source, op.start, op.end, prompt=op.prompt, seed=op.seed, **events)
    if maker.store.get(op.film_id).record["shots"][op.shot - 1]["take"] != take.id:
        maker.edits.use_take(op.film_id, op.shot, take.id)
    return take


def half_first(renderer: Renderer, op: Draft) -> Draft:
    """A draft whose request's size is its final's: checked as asked (a size over the limit names it), then
    rendered at half of it with its latent x2 final (the Spaces' two-stage calls)."""
    if not op.half_first:
        return op
    plan = renderer.plan(op.request)
    half = replace(op.request, width=sizing.snap_side(plan.width / 2), height=sizing.snap_side(plan.height / 2))
    return replace(op, request=half, half_first=False, upscale=True)


def run_batch(
    renderer: Renderer,
    requests: list[RenderRequest],
    emit: EventSink,
    cancel: CancelToken,
    *,
    job_id: str = "",
    done: Sequence[str] = (),
) -> tuple[list[Take], list[str]]:
    """Each render of a batch in turn, each take tagged with the batch; one row's trouble does not stop
    the rest. Returns the takes and a line per row that failed. Rows made before an interruption are skipped.
    Consecutive rows that differ only by seed share one denoise call (render/seeds.py), as many as fit."""
    job_id = job_id or f"batch-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    made = set()
    for take_id in done:
        try:
            made.add(renderer.store.get(take_id).settings.get("batch", {}).get("index"))
        except StudioError:
            continue
    takes, failures, rows, plans = [], [], [], []

    def failed(index: int, exc: StudioError) -> None:
        failures.append(f"row {index + 1}: {exc}")
        emit(Progress("batch", (index + 1) / len(requests), failures[-1]))

    for index, request in enumerate(requests):
        if index in made:
            continue
        try:
            plans.append(renderer.plan(request))
            rows.append(index)
        except StudioError as exc:
            failed(index, exc)
    for call in seeds.groups(renderer, plans):
        specs = [TakeSpec(record={"batch": {"id": job_id, "index": rows[i], "count": len(requests)}}) for i in call]
        try:
            takes += seeds.render_seeds(
                renderer, [plans[i] for i in call], specs, on_event=emit, cancel=cancel,
                on_failure=lambda item, exc, call=call: failed(rows[call[item]], exc),
            )  # fmt: skip
        except StudioError as exc:  # (a stop is not one: it ends the job)
            for i in call:
                failed(rows[i], exc)
    return takes, failures
