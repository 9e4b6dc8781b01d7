"""Approve a draft and make its final: `latent` (the x2 latent upsampler, then a short refine pass
at the higher size: the multi-scale recipe the LTX authors ship) or `pro` (re-render with Pro at
full size, same seed and settings). The new take's parent is the draft; the draft is approved."""

from __future__ import annotations

import time

import torch

from ..core import sizing
from ..core.errors import BadInput
from ..core.events import CancelToken, EventSink, Progress
from ..library.takes import Take
from .fit import check_fits
from .renderer import Renderer
from .story import TakeSpec, load_latents, render_take

MODES = ("latent", "pro")


def check_mode(mode: str, width=None, height=None) -> str:
    """The upscale mode, or BadInput: latent (always 2x) or pro (any size)."""
    if mode not in MODES:
        raise BadInput(f"unknown upscale mode {mode!r} (choose from: {', '.join(MODES)})")
    if mode == "latent" and (width is not None or height is not None):
        raise BadInput("latent upscale is always 2x the draft; width and height go with mode pro")
    return mode


def check_upscale(renderer: Renderer, take_id: str, mode: str, width=None, height=None) -> Take:
    """The draft to upscale, or BadInput with one line (before anything is queued or loaded)."""
    mode = check_mode(mode, width, height)
    draft = renderer.own_take(take_id, "upscaled")
    if mode == "latent" and draft.kind == "extend":
        raise BadInput(
            f"take {take_id} is an extension: its latents hold only its new part, so it has no 2x latent "
            "upscale; upscale the take before extending it, or use Re-render with Pro (mode pro)"
        )
    limit = renderer.model_set.variant(draft.variant).max_size
    if mode == "latent" and not sizing.fits((draft.width * 2, draft.height * 2), limit):
        raise BadInput(
            f"this {draft.width}x{draft.height} draft is too large for a 2x upscale (at most "
            f"{max(limit) // 2}x{min(limit) // 2}); use Re-render with Pro (mode pro) instead"
        )
    if mode == "latent":  # the final's size against the memory plan, before anything is queued
        variant = renderer.model_set.variant(draft.variant)
        guided = variant.sampling.guidance > 1
        check_fits(renderer.manager.policy, draft.width * 2, draft.height * 2, draft.frames, draft.fps, guided=guided)
    return draft


def upscale(
    renderer: Renderer,
    take_id: str,
    *,
    mode: str = "latent",
    width: int | None = None,
    height: int | None = None,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> Take:
    """Approve a draft and render its final (see the module's docstring)."""
    draft = check_upscale(renderer, take_id, mode, width, height)
    renderer.store.approve(draft.id)  # first: an approved take is never pruned while its final renders
    if mode == "latent":
        return _upscale_latent(renderer, draft, on_event, cancel)
    return _rerender_pro(renderer, draft, width, height, on_event, cancel)


def _upscale_latent(renderer: Renderer, draft: Take, on_event: EventSink | None, cancel) -> Take:
    latents = load_latents(draft)
    # x2 the latents' own size and length (a clip off the grid renders at the nearest size on it, padded)
    height, width = (side * sizing.SIZE_MULTIPLE * 2 for side in latents.video.shape[-2:])
    frames = (latents.video.shape[2] - 1) * 8 + 1
    plan = renderer.plan_from_take(draft, width=width, height=height, frames=frames)
    emit = on_event or (lambda event: None)
    mset, manager = renderer.model_set, renderer.manager

    def work() -> Take:
        started = time.perf_counter()
        emit(Progress("upsample", 0.0, "Upsampling the draft's latents x2"))
        upsampled = manager.family.upsample(
            manager.upsampler(), latents, mset.upsample_adain_factor, mset.upsample_tone_map_compression_ratio,
            torch.Generator("cpu").manual_seed(draft.seed),
        )  # fmt: skip
        emit(Progress("upsample", 1.0))
        spec = TakeSpec(
            kind="upscale",
            parent=draft.id,
            start_latents=upsampled,
            timings={"upsample": round(time.perf_counter() - started, 4)},
        )
        return render_take(plan, spec, manager=manager, store=renderer.store, on_event=on_event, cancel=cancel)

    return renderer.run_work(plan, on_event, cancel, work)


def _rerender_pro(renderer: Renderer, draft: Take, width, height, on_event, cancel) -> Take:
    pro = renderer.model_set.variant("pro")
    if width is None and height is None:
        width, height = sizing.size_for_aspect(draft.width / draft.height, pro.full_size)
    plan = renderer.plan_from_take(draft, variant="pro", width=width, height=height, guidance=None, steps=None)
    return renderer.run(plan, TakeSpec(kind="pro", parent=draft.id), on_event=on_event, cancel=cancel)
