"""Throughput rows of the studio bench (bench/studio.py): seeds in one call, the text K/V cache, prompt
embeddings on disk after a restart, and what a frame costs as clips grow. Each is A/B on the same work in
one interleaved run; where outputs must match, the row says whether they did (`equal`)."""

from __future__ import annotations

from dataclasses import replace

from .measure import interleaved
from .rows import Row, StudioSetup

SEEDS = 4
LENGTHS = (25, 49, 97, 121)


def seeds_row(setup: StudioSetup) -> Row:
    """SEEDS seeds as one batched call vs SEEDS single renders of the same seeds (the prompt cached on both
    sides, so the difference is the denoise and per-call overhead); each sample renders all of them."""
    import torch

    from ..render.seeds import render_seeds
    from ..render.story import TakeSpec, load_latents

    renderer = setup.studio.renderer
    plans = [replace(setup.plan, seed=2000 + i) for i in range(SEEDS)]
    made: dict[str, list] = {"one": [], "single": []}

    def one_call() -> None:
        made["one"] = render_seeds(renderer, plans, [TakeSpec() for _ in plans], preview=False)

    def singles() -> None:
        made["single"] = [renderer.run(plan, TakeSpec(), preview=False) for plan in plans]

    repeat = max(min(setup.repeat, 4), setup.repeat // 4)
    samples = interleaved(one_call, singles, repeat, min(setup.warmup, 1))
    apart = 0.0
    for a, b in zip(made["one"], made["single"], strict=True):
        la, lb = load_latents(a), load_latents(b)
        apart = max(apart, float((la.video - lb.video).abs().max()))
        if la.audio is not None:
            apart = max(apart, float((la.audio - lb.audio).abs().max()))
    tolerance = 1e-5 if setup.manager.policy.device == "cpu" else 2e-2
    return Row(
        "batch of 4", f"one call of {SEEDS} seeds", f"{SEEDS} single renders", samples, 1 / 1.5,
        f"each sample renders all {SEEDS}; goal: 1.5x (CPU demo); latents apart at most {apart:.2e}",
        {"equal": apart <= tolerance and torch.isfinite(torch.tensor(apart)).item(), "latents_apart": apart},
    )  # fmt: skip


def text_kv_row(setup: StudioSetup) -> Row:
    """The same render with the text K/V cache on and off."""
    import torch

    from ..render.story import TakeSpec, load_latents

    renderer, manager = setup.studio.renderer, setup.manager
    policy = manager.policy
    made = {}

    def render(on: bool):
        def run() -> float:
            manager.policy = replace(policy, text_kv_cache=on)
            try:
                take = renderer.run(setup.plan, TakeSpec(), preview=False)
            finally:
                manager.policy = policy
            made[on] = load_latents(take)
            return take.timings["denoise"]

        return run

    samples = interleaved(render(True), render(False), setup.repeat, setup.warmup)
    equal = torch.equal(made[True].video, made[False].video) and (
        made[True].audio is None or torch.equal(made[True].audio, made[False].audio)
    )
    return Row("text kv cache", "denoise, text K/V cached", "denoise, recomputed", samples, 1.0,
               "the denoise stage's time", {"equal": equal})  # fmt: skip


def restart_row(setup: StudioSetup) -> Row:
    """The text stage of the first draft after a restart (nothing in memory): the embedding read from disk vs
    encoded by the text encoder."""

    manager, plan = setup.manager, setup.plan
    store = manager.embed_store
    pipe = setup.pipe

    def timed(disk: bool):
        def run() -> float:
            import time

            manager.prompt_cache.clear()
            manager.embed_store = store if disk else None
            try:
                started = time.perf_counter()
                manager.prompt_embeds(pipe, plan.prompt, plan.negative_prompt, plan.guidance)
                return time.perf_counter() - started
            finally:
                manager.embed_store = store

        return run

    manager.prompt_embeds(pipe, plan.prompt, plan.negative_prompt, plan.guidance)  # on disk once
    if store is not None:
        store.flush()  # (written by the store's thread: read from disk below, not from its queue)
    samples = interleaved(timed(True), timed(False), setup.repeat, setup.warmup)
    return Row("restart", "text stage, embedding on disk", "text stage, encoder runs", samples, 1.0,
               "the in-memory cache emptied before each sample, as after a restart")  # fmt: skip


def embedding_write_row(setup: StudioSetup) -> Row:
    """What a first draft waits while its prompt embedding goes to disk, on an entry of LTX-2's size (Gemma 3
    12B's 49 stacked states, 1024 tokens: 0.39 GB of bf16): handed to the store's writer thread vs written
    before the render goes on. Both sides write the same file; A's writing finishes untimed."""
    import tempfile
    import time
    from pathlib import Path

    import torch

    from ..models.embed_store import EmbeddingStore
    from ..models.families.base import PromptEmbeds

    embeds = PromptEmbeds(torch.randn(1, 1024, 3840 * 49, dtype=torch.bfloat16), torch.ones(1, 1024, dtype=torch.long))
    with tempfile.TemporaryDirectory() as folder:
        store, count = EmbeddingStore(Path(folder)), [0]

        def put(wait: bool):
            def run() -> float:
                count[0] += 1
                started = time.perf_counter()
                store.put(("bench", "gemma-3-12b", f"prompt {count[0]}", None), embeds)
                if wait:
                    store.flush()
                waited = time.perf_counter() - started
                store.flush()
                return waited

            return run

        samples = interleaved(put(False), put(True), setup.repeat, setup.warmup)
    return Row("embedding write", "handed to the writer thread", "written before the render goes on", samples,
               None, "a 0.39 GB LTX-2-sized entry; the seconds a first draft waits for it")  # fmt: skip


def frames_row(setup: StudioSetup) -> Row:
    """Seconds per frame of the same draft at each of LENGTHS frames: the longest vs the shortest as A/B,
    every length's median in `per_frame`."""
    import statistics

    from ..render.story import TakeSpec

    renderer = setup.studio.renderer
    per_frame: dict[int, list[float]] = {n: [] for n in LENGTHS}

    def at(frames: int):
        plan = replace(setup.plan, frames=frames)

        def run() -> float:
            take = renderer.run(plan, TakeSpec(), preview=False)
            seconds = take.timings["total"] / frames
            per_frame[frames].append(seconds)
            return seconds

        return run

    for middle in LENGTHS[1:-1]:  # the lengths between, measured alike for the curve
        interleaved(at(middle), at(middle), max(1, setup.repeat // 2), 0)
    samples = interleaved(at(LENGTHS[-1]), at(LENGTHS[0]), setup.repeat, setup.warmup)
    curve = {str(n): round(statistics.median(v), 5) for n, v in per_frame.items() if v}
    return Row("cost vs frames", f"seconds a frame at {LENGTHS[-1]}", f"seconds a frame at {LENGTHS[0]}", samples,
               None, "per_frame: each length's median seconds a frame", {"per_frame": curve})  # fmt: skip


def arch_rows(args, studio, request, plan) -> list[dict]:
    """The batch and cache rows on an `--arch` bench's built models (the first case, the baseline levers):
    what a GPU run reports beside the lever sweep."""
    from pathlib import Path

    pipe = studio.manager.get(plan.variant.name)
    setup = StudioSetup(studio, request, plan, pipe, Path(studio.store.root), args.repeat, args.warmup)
    return [row.to_json() for row in (seeds_row(setup), text_kv_row(setup))]
