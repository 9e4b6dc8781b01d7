"""The studio against itself and against bare diffusers on one loaded model set: each comparison
interleaved A/B in one run and reported as a ratio of medians, with the peak RSS.

- overhead   the studio's draft path vs a bare `LTXConditionPipeline` call with identical arguments
- switch     a cached variant switch vs a cold load of the same transformer (and bytes loaded)
- prompt     a render with a cached prompt embedding vs one that runs the text encoder
- preview    seconds per denoising step with the live preview on vs off
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .measure import interleaved, machine_info

if TYPE_CHECKING:
    from ..manager import PipelineManager
    from ..render import RenderPlan
    from ..takes import TakeStore
    from ..variants import ModelSet


@dataclass
class Row:
    """One comparison: median seconds of A and B, their ratio, a goal and peak memory."""

    case: str
    a_label: str
    a: float
    b_label: str
    b: float
    goal: str = ""
    peak_rss_mb: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.a / self.b if self.b else float("inf")

    def to_json(self) -> dict:
        return {
            "case": self.case,
            "a": {"label": self.a_label, "seconds": self.a},
            "b": {"label": self.b_label, "seconds": self.b},
            "ratio": round(self.ratio, 4),
            "goal": self.goal,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            **self.extra,
        }


@dataclass
class StudioSetup:
    """What every comparison runs on: one model set, its manager and loaded pipeline, one planned draft."""

    mset: ModelSet
    manager: PipelineManager
    plan: RenderPlan
    pipe: Any
    store: TakeStore
    outputs: Path
    repeat: int
    warmup: int

    def compare(self, a, b) -> tuple[float, float, float]:
        """Median seconds of A and B, interleaved, and the peak RSS in MB."""
        return interleaved(a, b, self.repeat, self.warmup)


def studio_bench(args: argparse.Namespace) -> dict:
    """Every comparison on the `--model-set` at `--width`x`--height`x`--frames`: the figures, JSON-ready."""
    setup = _setup(args)
    rows = [*_overhead_rows(setup), _switch_row(setup), _prompt_cache_row(setup), _preview_row(setup)]
    plan = setup.plan
    return {
        "bench": "studio",
        "model_set": setup.mset.name,
        "variant": plan.variant.name,
        "size": f"{plan.width}x{plan.height}x{plan.frames}",
        "steps": plan.num_steps,
        "policy": setup.manager.policy.describe(),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "machine": machine_info(),
        "rows": [r.to_json() for r in rows],
    }


def _setup(args: argparse.Namespace) -> StudioSetup:
    from ..manager import PipelineManager
    from ..render import RenderRequest, plan_render
    from ..takes import TakeStore
    from ..variants import load_registry, model_set

    mset = model_set(load_registry(args.variants_file), args.model_set)
    manager = PipelineManager(mset)
    outputs = Path(tempfile.mkdtemp(prefix="ltx-bench-"))
    store = TakeStore(outputs)
    request = RenderRequest(
        prompt="a red rocket flies over the sea at dusk",
        width=args.width,
        height=args.height,
        frames=args.frames,
        seed=1,
    )
    plan = plan_render(request, mset)
    pipe = manager.get(plan.variant.name)
    return StudioSetup(mset, manager, plan, pipe, store, outputs, args.repeat, args.warmup)


def _bare_call(setup: StudioSetup):
    """The same work as one plain LTXConditionPipeline call: frames as floats in 0..1."""
    import torch

    plan, sampling = setup.plan, setup.plan.variant.sampling
    return setup.pipe(
        prompt=plan.prompt,
        width=plan.width,
        height=plan.height,
        num_frames=plan.frames,
        frame_rate=plan.fps,
        timesteps=list(sampling.timesteps) if sampling.timesteps else None,
        num_inference_steps=sampling.num_steps,
        guidance_scale=plan.guidance,
        image_cond_noise_scale=sampling.image_cond_noise_scale,
        decode_timestep=sampling.decode_timestep,
        decode_noise_scale=sampling.decode_noise_scale,
        generator=torch.Generator("cpu").manual_seed(plan.seed),
        output_type="np",
        max_sequence_length=256,
    ).frames[0]


def _overhead_rows(setup: StudioSetup) -> list[Row]:
    """The studio's draft vs the bare call: compute only, then end to end with the files written."""
    from ..render import render_take

    manager, plan, store = setup.manager, setup.plan, setup.store

    def studio_compute() -> float:
        manager.prompt_cache.clear()  # the bare call encodes the prompt too
        take = render_take(plan, manager=manager, store=store)
        return take.timings["total"] - take.timings["write"]

    def bare():
        return _bare_call(setup)

    a, b, rss = setup.compare(studio_compute, bare)
    compute = Row("overhead", "studio draft (no file writes)", a, "bare diffusers call", b, "<= 1.03", rss)

    def studio_e2e() -> None:
        manager.prompt_cache.clear()
        render_take(plan, manager=manager, store=store)

    def bare_e2e() -> None:
        import numpy as np

        from .. import media

        frames = (np.clip(bare(), 0, 1) * 255).round().astype(np.uint8)
        media.write_mp4(setup.outputs / "bare.mp4", frames, plan.fps)

    a, b, rss = setup.compare(studio_e2e, bare_e2e)
    e2e = Row("overhead e2e", "studio draft (mp4+latents+poster+index)", a, "bare call + mp4 write", b, "", rss)
    return [compute, e2e]


def _switch_row(setup: StudioSetup) -> Row:
    """A cold load of a transformer (evicted first) vs a switch back to a cached one."""
    from ..manager import parameter_bytes

    manager, current = setup.manager, setup.plan.variant.name
    other = next(name for name in setup.mset.variants if name != current)
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

    a, b, rss = setup.compare(cached, cold)
    shared_bytes = sum(parameter_bytes(c) for c in manager.shared().values())
    return Row(
        "switch",
        "cached switch (2 gets)",
        a,
        f"cold load of {other}",
        b,
        "<= 0.2 s on a GPU",
        rss,
        {"bytes_loaded_per_switch": loaded["bytes"], "shared_bytes_not_reloaded": shared_bytes},
    )


def _prompt_cache_row(setup: StudioSetup) -> Row:
    """The text stage of a render with the prompt embedding cached vs encoded (and both renders' totals)."""
    from ..render import render_take

    manager, plan, store = setup.manager, setup.plan, setup.store
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

    a, b, rss = setup.compare(with_cache, without_cache)
    totals = {k: round(statistics.median(v), 4) for k, v in totals.items()}
    return Row(
        "prompt cache",
        "text stage, prompt cached",
        a,
        "text stage, encoder runs",
        b,
        "< 1",
        rss,
        {"render_total_seconds": totals},
    )


def _preview_row(setup: StudioSetup) -> Row:
    """Seconds per denoising step with the live preview on vs off."""
    from ..render import render_take

    manager, plan, store = setup.manager, setup.plan, setup.store
    steps = plan.num_steps

    def preview_on() -> float:
        return render_take(plan, manager=manager, store=store, preview=True).timings["denoise"] / steps

    def preview_off() -> float:
        return render_take(plan, manager=manager, store=store, preview=False).timings["denoise"] / steps

    a, b, rss = setup.compare(preview_on, preview_off)
    return Row("preview", "step with preview", a, "step without", b, "<= 1.05", rss)
