"""The studio against itself and against bare diffusers on one loaded model set: each comparison
interleaved A/B in one run, every run kept, reported as min/median/max per side and the ratio of medians.

- overhead        the studio's draft (validation included) up to its file writes vs the same work as
                  bare diffusers calls: `pipe.encode_prompt`, one `pipe(...)` with identical arguments
                  and `output_type="latent"`, the studio's uint8 decode (checked before timing: equal
                  arguments, equal latents)
- overhead e2e    the studio's whole draft (mp4, latents, poster, index) vs that bare call + the same mp4 writer
- plain diffusers the studio's whole draft vs diffusers as its docs call it (`output_type="np"`, `export_to_video`,
                  or `encode_video` with the sound for LTX-2)
- switch          a cached variant switch vs a cold load of the same transformer (and bytes loaded)
- prompt cache    a render's text stage with the prompt embedding cached vs encoded
- preview         seconds per denoising step with the live preview on vs off
- batch of 8      eight seeds of one prompt as one batch job through the studio's queue (the prompt
                  encoded once) vs eight separate renders that each encode it (as eight separate runs do)
- batch of 4      four seeds as one batched denoise call (render/seeds.py) vs four single renders of the
                  same seeds, prompt cached on both sides; "equal": each take's latents match its single's
- text kv cache   a render with the text K/V cache vs without; "equal": bit-identical latents
- restart         the first draft's text stage after a restart (the in-memory cache empty) with the prompt
                  embedding on disk vs encoded (the model loads are the same on both sides, left out)
- embedding write what a first draft waits while an LTX-2-sized prompt embedding (0.39 GB) goes to disk:
                  handed to the store's writer thread vs written before the render goes on
- cost vs frames  the same draft at 25, 49, 97 and 121 frames: seconds per frame at 121 vs at 25, and each
                  length's seconds per frame (`per_frame`), so the curve's growth shows
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..jobs.ops import Batch
from .baseline import (
    GPU_TOLERANCE,
    bare_draft,
    bare_latents,
    check_plan,
    differences,
    plain_draft,
    recorded_calls,
    relative_difference,
)
from .measure import interleaved, machine_info
from .rows import Row, StudioSetup
from .throughput import embedding_write_row, frames_row, restart_row, seeds_row, text_kv_row

if TYPE_CHECKING:
    pass

CASES = (
    "overhead", "overhead e2e", "plain diffusers", "switch", "prompt cache", "preview", "batch of 8", "batch of 4",
    "text kv cache", "restart", "embedding write", "cost vs frames",
)  # fmt: skip
BATCH = 8


def studio_bench(args: argparse.Namespace) -> dict:
    """The comparisons asked for (`--cases`, default all) on `--model-set` at `--width`x`--height`x`--frames`."""
    setup = _setup(args)
    try:
        cases = args.cases.split(",") if args.cases else list(CASES)
        same_work = check_same_work(setup) if {"overhead", "overhead e2e"} & set(cases) else None
        builders = {
            "overhead": _overhead_row,
            "overhead e2e": _e2e_row,
            "plain diffusers": _plain_row,
            "switch": _switch_row,
            "prompt cache": _prompt_cache_row,
            "preview": _preview_row,
            "batch of 8": _batch_row,
            "batch of 4": seeds_row,
            "text kv cache": text_kv_row,
            "restart": restart_row,
            "embedding write": embedding_write_row,
            "cost vs frames": frames_row,
        }
        rows = [builders[case](setup) for case in cases]
    finally:
        shutil.rmtree(setup.outputs, ignore_errors=True)
    plan = setup.plan
    return {
        "bench": "studio",
        "model_set": setup.studio.model_set.name,
        "variant": plan.variant.name,
        "size": f"{plan.width}x{plan.height}x{plan.frames}",
        "audio": plan.audio,
        "steps": plan.num_steps,
        "policy": setup.manager.policy.describe(),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "same_work": same_work,
        "machine": machine_info(),
        "rows": [r.to_json() for r in rows],
    }


def _setup(args: argparse.Namespace) -> StudioSetup:
    from ..models.manager import PipelineManager
    from ..models.variants import load_registry, model_set
    from ..render.plan import plan_render
    from ..render.request import RenderRequest
    from ..studio import Studio

    mset = model_set(load_registry(args.variants_file), args.model_set)
    outputs = Path(tempfile.mkdtemp(prefix="ltx-bench-"))
    studio = Studio(
        model_set_name=mset.name, variants_file=args.variants_file, outputs=outputs, manager=PipelineManager(mset)
    )
    request = RenderRequest(
        prompt="a red rocket flies over the sea at dusk",
        variant=args.variant,
        width=args.width,
        height=args.height,
        frames=args.frames,
        seed=1,
    )
    plan = plan_render(request, mset)
    pipe = studio.manager.get(plan.variant.name)
    return StudioSetup(studio, request, plan, pipe, outputs, args.repeat, args.warmup)


def check_same_work(setup: StudioSetup) -> dict:
    """One studio draft and one bare draft with their `pipe(...)` arguments recorded: the arguments and the
    latents must be equal, or the overhead rows would compare different work (a StudioError says where)."""
    import torch

    from ..core.errors import StudioError
    from ..render.story import load_latents

    check_plan(setup.plan)
    manager, family = setup.manager, setup.manager.family
    manager.prompt_cache.clear()
    with recorded_calls(setup.pipe) as studio_calls:
        take = setup.studio.render(setup.request)
    with recorded_calls(setup.pipe) as bare_calls:
        latents = bare_latents(setup.plan, family, setup.pipe, torch.Generator("cpu").manual_seed(setup.plan.seed))
    if len(studio_calls) != 1 or len(bare_calls) != 1:
        raise StudioError(f"the studio made {len(studio_calls)} pipeline calls, the bare baseline {len(bare_calls)}")
    differ = differences(studio_calls[0], bare_calls[0])
    if differ:
        raise StudioError(f"the bare baseline does not do the studio's work: arguments differ in {', '.join(differ)}")
    stored, bare = load_latents(take), [latents.video.float().cpu()]
    if latents.audio is not None:
        bare.append(latents.audio.float().cpu())
    kept = [stored.video] + ([stored.audio] if stored.audio is not None else [])
    apart = max((relative_difference(b, k) for b, k in zip(bare, kept, strict=True)), default=0.0)
    if len(bare) != len(kept) or apart > (0.0 if setup.manager.policy.device == "cpu" else GPU_TOLERANCE):
        raise StudioError(
            f"the bare baseline does not do the studio's work: its latents are {apart:.2%} from the studio's"
        )
    return {"arguments_equal": True, "latents_equal": apart == 0.0, "latents_apart": apart,
            "arguments": sorted(studio_calls[0])}  # fmt: skip


def _studio_draft(setup: StudioSetup, until_write: bool) -> float:
    """Seconds of one studio draft from the call (validation included) to the start of its file writes, or to
    the stored take. The prompt embedding cache is cleared first: the bare call encodes the prompt too."""
    from ..core.events import Progress

    setup.manager.prompt_cache.clear()
    marks: dict[str, float] = {}

    def on_event(event) -> None:
        if isinstance(event, Progress) and event.stage == "write" and "write" not in marks:
            marks["write"] = time.perf_counter()

    started = time.perf_counter()
    setup.studio.render(setup.request, on_event=on_event)
    return (marks["write"] if until_write else time.perf_counter()) - started


def _overhead_row(setup: StudioSetup) -> Row:
    family = setup.manager.family

    def bare() -> None:
        bare_draft(setup.plan, family, setup.pipe)

    samples = setup.compare(lambda: _studio_draft(setup, until_write=True), bare)
    return Row(
        "overhead",
        "studio draft, validation to file writes",
        "encode + pipe(latent) + same decode",
        samples,
        1.03,
        "same arguments and latents (checked); A's preview, events and prompt-cache lookup are its overhead",
    )


def _e2e_row(setup: StudioSetup) -> Row:
    from ..library import media

    family, plan = setup.manager.family, setup.plan

    def bare_e2e() -> None:
        decoded = bare_draft(plan, family, setup.pipe)
        media.write_mp4(setup.outputs / "bare.mp4", decoded.frames, plan.fps, None, decoded.audio, decoded.sample_rate)

    samples = setup.compare(lambda: _studio_draft(setup, until_write=False), bare_e2e)
    return Row(
        "overhead e2e",
        "studio draft (mp4+latents+poster+index)",
        "same bare call + same mp4 writer",
        samples,
        1.05,
        "A writes latents, a poster and the index besides the mp4",
    )


def _plain_row(setup: StudioSetup) -> Row:
    family, plan = setup.manager.family, setup.plan
    writer = "export_to_video" if family.name == "ltxv" else "encode_video"

    def plain() -> None:
        plain_draft(plan, family, setup.pipe, setup.outputs / "plain.mp4")

    samples = setup.compare(lambda: _studio_draft(setup, until_write=False), plain)
    return Row(
        "plain diffusers",
        "studio draft (mp4+latents+poster+index)",
        f'pipe(prompt, "np") + {writer}',
        samples,
        None,
        "B is diffusers as its docs call it: float frames, its post-processing and its writer (not the same work)",
    )


def _switch_row(setup: StudioSetup) -> Row:
    """A cold load of a transformer (evicted first) vs a switch back to a cached one."""
    from ..models.manager import parameter_bytes

    manager, current = setup.manager, setup.plan.variant.name
    other = next(name for name in setup.studio.model_set.variants if name != current)
    loaded = {}

    def cold() -> float:
        manager.evict(other)  # not timed: the load is
        before, started = manager.bytes_loaded, time.perf_counter()
        manager.get(other)
        elapsed = time.perf_counter() - started
        loaded["bytes"] = manager.bytes_loaded - before
        return elapsed

    def cached() -> None:
        manager.get(current)
        manager.get(other)

    samples = setup.compare(cached, cold)
    shared_bytes = sum(parameter_bytes(c) for c in manager.shared().values())
    return Row(
        "switch",
        "cached switch (2 gets)",
        f"cold load of {other}",
        samples,
        None,
        "goal: a cached switch <= 0.2 s on a GPU",
        {"bytes_loaded_per_switch": loaded["bytes"], "shared_bytes_not_reloaded": shared_bytes},
    )


def _prompt_cache_row(setup: StudioSetup) -> Row:
    """The text stage of a render with the prompt embedding cached vs encoded (and both renders' totals)."""
    from ..render.story import render_take

    manager, plan, store = setup.manager, setup.plan, setup.studio.store
    totals = {"cached": [], "encoded": []}

    def with_cache() -> float:
        take = render_take(plan, manager=manager, store=store)
        totals["cached"].append(take.timings["total"])
        return take.timings["text"]

    def without_cache() -> float:
        manager.prompt_cache.clear()
        take = render_take(plan, manager=manager, store=store)
        totals["encoded"].append(take.timings["total"])
        return take.timings["text"]

    samples = setup.compare(with_cache, without_cache)
    totals = {k: round(statistics.median(v), 4) for k, v in totals.items()}
    return Row(
        "prompt cache",
        "text stage, prompt cached",
        "text stage, encoder runs",
        samples,
        1.0,
        "stage times are the studio's own clock, rounded to 0.1 ms",
        {"render_total_seconds": totals},
    )


def _preview_row(setup: StudioSetup) -> Row:
    """Seconds per denoising step with the live preview on vs off."""
    from ..render.story import render_take

    manager, plan, store = setup.manager, setup.plan, setup.studio.store
    steps = plan.num_steps

    def preview_on() -> float:
        return render_take(plan, manager=manager, store=store, preview=True).timings["denoise"] / steps

    def preview_off() -> float:
        return render_take(plan, manager=manager, store=store, preview=False).timings["denoise"] / steps

    samples = setup.compare(preview_on, preview_off)
    return Row("preview", "step with preview", "step without", samples, 1.05, "the denoise stage's time / steps")


def _batch_row(setup: StudioSetup) -> Row:
    """A batch job of BATCH seeds (queued, followed to its end; one encode) vs BATCH separate renders
    that each encode the prompt. Both render the same seeds at the same size; each sample is all eight."""
    from dataclasses import replace

    studio, base = setup.studio, setup.request
    seeds = [1000 + i for i in range(BATCH)]
    requests = [replace(base, seed=seed) for seed in seeds]
    repeat = max(min(setup.repeat, 4), setup.repeat // 5)  # each sample is eight renders

    def batch() -> None:
        studio.manager.prompt_cache.clear()
        takes = studio.wait(studio.submit(Batch(requests), owner="bench").id)
        assert sorted(t.seed for t in takes) == seeds

    def separate() -> None:
        for request in requests:
            studio.manager.prompt_cache.clear()
            studio.render(request, preview=False)

    samples = interleaved(batch, separate, repeat, min(setup.warmup, 1))
    return Row(
        "batch of 8",
        f"one batch job of {BATCH} seeds",
        f"{BATCH} separate renders",
        samples,
        1.0,
        f"each sample renders all {BATCH}; {repeat} samples per side; the gain is the text encoder's share",
    )
