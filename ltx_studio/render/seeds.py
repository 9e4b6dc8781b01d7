"""Seeds of one prompt and one size as one batched denoise call (`render_seeds`): each item's starting noise
is drawn by a generator of its own, seeded as its single render's is, so each take's latents are its single
render's (within fp32 rounding on the CPU: a batched matmul may sum in another order). The prompt is encoded
once, the models load once, and on a GPU one call of N small drafts keeps the card busier than N calls.
Each item is then decoded and written as an ordinary take, with its own seed, sound and files.

`groups` cuts a batch's rows into such calls: consecutive rows whose plans differ only by seed, at most as
many as the memory plan fits in one call (and MAX_PER_CALL). Plans that follow or hold anything (a first
frame, keyframes, a source or reference video, a soundtrack, an automatic length) render one by one."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import torch

from ..core.errors import StudioError
from ..core.events import CancelToken, EventSink, TakeDone
from ..library.takes import Take, created_at
from ..models.families.base import Latents
from .plan import RenderPlan
from .renderer import Renderer
from .story import TakeSpec, _Run

MAX_PER_CALL = 8
# Items are decoded two at a time (one VAE call each, fewer where the memory plan says so) while two writer
# threads encode the chunk before: the writes of one chunk overlap the decode of the next. Measured on the
# 2-core CPU, 4 seeds at 384x256x25: chunks of 2 with 2 writers 0.48-0.56 of 4 single renders; all 4 in
# one decode 0.71-0.83 (the writes then queue up behind it); one at a time 0.72-0.73.
DECODE_CHUNK = 2
WRITERS = 2


def batchable(plan: RenderPlan) -> bool:
    """Whether a plan can share a denoise call with other seeds of itself: it follows and holds nothing."""
    return (
        plan.image is None
        and not plan.keyframes
        and plan.video is None
        and plan.reference is None
        and plan.soundtrack is None
        and plan.auto_length is None
        and not plan.conditions()
    )


def same_but_seed(a: RenderPlan, b: RenderPlan) -> bool:
    return replace(a, seed=b.seed, snapped=b.snapped) == b


def per_call(renderer: Renderer, plan: RenderPlan) -> int:
    """How many seeds of `plan` one call holds whole under the memory plan (not in tiles: a tiled denoise
    runs one call's tiles one after another), at least 1, at most MAX_PER_CALL; LTX-2 sets only (the family
    that repeats the prompt per seed: families/ltx2_seeds.py `seeds_basics`)."""
    if renderer.model_set.family != "ltx2":
        return 1
    policy, guided = renderer.manager.policy, plan.guidance > 1
    for count in range(MAX_PER_CALL, 1, -1):
        if policy.denoise_tiles_for(plan.width, plan.height, plan.frames, guided=guided, batch=count) == 1:
            return count
    return 1


def groups(renderer: Renderer, plans: list[RenderPlan]) -> list[list[int]]:
    """The rows (indices into `plans`) each call renders, in order."""
    found: list[list[int]] = []
    for index, plan in enumerate(plans):
        last = found[-1] if found else None
        if (
            last is not None
            and batchable(plan)
            and per_call(renderer, plan) > 1
            and same_but_seed(plans[last[0]], plan)
            and len(last) < per_call(renderer, plan)
        ):
            last.append(index)
        else:
            found.append([index])
    return found


def render_seeds(
    renderer: Renderer,
    plans: list[RenderPlan],
    specs: list[TakeSpec],
    *,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    preview: bool = True,
    on_failure: Callable[[int, StudioError], None] | None = None,
) -> list[Take]:
    """Render plans that differ only by seed as one denoise call; each becomes its own take (its spec's
    record added). Cancelling stops the call: the items already handed to the writers land whole, no
    others. An item that cannot be decoded or written (a full disk) goes to `on_failure` (its index) and
    the others are still written; without `on_failure` it is raised."""
    if len(plans) == 1:
        return [renderer.run(plans[0], specs[0], on_event=on_event, cancel=cancel, preview=preview)]
    first, manager = plans[0], renderer.manager
    written: dict[int, Take] = {}  # kept across an out-of-memory retry of the call: never written twice

    def work() -> list[Take]:
        run = _Run(manager, on_event or (lambda event: None), cancel, {})
        stages, to_rgb = run.load(first, TakeSpec(), preview)
        run.encode_prompt(first, stages)
        generators = [torch.Generator("cpu").manual_seed(plan.seed) for plan in plans]
        run.generator = generators  # one per item: each draws the noise its single render draws
        latents = run.denoise(stages, TakeSpec(), to_rgb)
        # Each take's timings are its share of the call: the shared stages (load, text, denoise) and its
        # chunk's decode split evenly, its own write whole; the call's own seconds are in its record.
        call = dict(run.timings)
        shared, pending = {stage: round(seconds / len(plans), 4) for stage, seconds in call.items()}, []
        # Items are decoded in chunks (one VAE call and one vocoder call each; DECODE_CHUNK), and each item's
        # files are written (H.264 and AAC encoding, on the CPU) by the writers while the next chunk decodes;
        # each write has its clock, and the takes are announced in order once all are written.
        todo = [i for i in range(len(plans)) if i not in written]
        together = (
            1
            if any(s.join is not None or s.unit for s in specs)
            else manager.policy.decodes_together(first.width, first.height, first.frames, min(DECODE_CHUNK, len(todo)))
        )
        writer = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="seeds-write")
        try:
            stamp = None  # each take's creation time, in the seeds' order (two writers index them in any order)
            for chunk in (todo[k : k + together] for k in range(0, len(todo), together)):
                run.started = time.perf_counter()  # (each item's timings: `shared` and its decode's seconds)
                for i, item, decoding in decode_items(run, stages, plans, specs, latents, generators, chunk, failed):
                    said = {"seeds": seeds, "index": i, "call_seconds": call}
                    spec = replace(specs[i], record={**(specs[i].record or {}), "seeds_call": said})
                    stamp = _after(stamp)
                    store = _Run(manager, run.emit, None, {**shared, "decode": decoding})
                    # In this thread's context: a job's owner (library/takes.taken_by) is a context variable.
                    here = contextvars.copy_context()
                    write = here.run, _write, store, plans[i], stages, spec, item, latents.item(i), stamp
                    pending.append((i, writer.submit(*write)))
        finally:  # every write handed over ends, and each that landed is kept, whatever stopped the loop
            writer.shutdown(wait=True)
            troubles = []
            for i, done in pending:
                if done.exception() is None:
                    written[i] = done.result()
                    run.emit(TakeDone(written[i]))
                else:
                    troubles.append((i, done.exception()))
        for i, exc in troubles:
            if not isinstance(exc, StudioError):
                raise exc
            failed(i, exc)
        return [written[i] for i in sorted(written)]

    def failed(index: int, exc: StudioError) -> None:
        if on_failure is None:
            raise exc
        on_failure(index, exc)

    def _write(store: _Run, plan, stages, spec, decoded, mine, created: datetime) -> Take:
        store.started = time.perf_counter()
        return store.store(plan, stages, spec, decoded, mine, renderer.store, created=created_at(created))

    seeds = [p.seed for p in plans]

    return renderer.run_work(first, on_event, cancel, work)


def decode_items(run: _Run, stages, plans, specs, latents: Latents, generators, chunk: list[int], failed):
    """(index, Decoded, its decode's seconds) for the chunk's items: together in one call (each its share of
    it), or one at a time, each as its single render decodes it, when the chunk is one item or failed
    together (an item's error; out of memory for the chunk: nothing is stepped down for what one at a time
    still holds). Failures go to `failed`."""
    if len(chunk) > 1:
        audio = latents.audio[chunk] if latents.audio is not None else None
        together = Latents(latents.video[chunk], audio)
        try:
            run.timings.pop("decode", None)
            decoded = run.decode_batch(plans[chunk[0]], stages, together, [generators[i] for i in chunk])
            share = round(run.timings["decode"] / len(chunk), 4)
            return [(i, item, share) for i, item in zip(chunk, decoded, strict=True)]
        except StudioError:
            pass
        except torch.OutOfMemoryError:
            pass  # leave the except block first: its traceback still holds the chunk's activations
        run.manager.free_memory()
    found = []
    for i in chunk:
        run.generator = generators[i]
        run.timings.pop("decode", None)  # each item's own decode time
        try:
            decoded = run.decode(plans[i], stages, specs[i], latents.item(i))
            found.append((i, decoded, run.timings["decode"]))
        except StudioError as exc:
            failed(i, exc)
    return found


def _after(stamp: datetime | None) -> datetime:
    """Now, or a millisecond after `stamp` if now is not later (a take's `created` has milliseconds)."""
    now = datetime.now(UTC)
    return now if stamp is None or now - stamp >= timedelta(milliseconds=1) else stamp + timedelta(milliseconds=1)
