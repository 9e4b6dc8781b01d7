"""Compare: the same request with each of several variants and one seed, side by side."""

from __future__ import annotations

from dataclasses import replace

from ..core.errors import BadInput
from ..core.events import CancelToken, EventSink
from ..library.takes import Take
from ..models.variants import ModelSet
from .plan import RenderPlan, plan_render
from .renderer import Renderer
from .request import RenderRequest


def check_variants(variants: list[str]) -> list[str]:
    """The variants of a comparison, or BadInput: at least one, each once."""
    if not variants:
        raise BadInput("compare needs at least one variant")
    if len(set(variants)) != len(variants):
        raise BadInput("compare: each variant once, please")
    return list(variants)


def plan_compare(renderer: Renderer, request: RenderRequest, variants: list[str]) -> list[RenderPlan]:
    """One plan per variant, all with the first plan's seed; every plan and variant is checked first."""
    mset: ModelSet = renderer.model_set
    variants = check_variants(variants)
    first = plan_render(replace(request, variant=variants[0]), mset, renderer.lora_folder)
    plans = [first] + [
        plan_render(replace(request, variant=name, seed=first.seed), mset, renderer.lora_folder)
        for name in variants[1:]
    ]
    missing = [name for name in variants if renderer.manager.state(name) == "not downloaded"]
    if missing:
        raise BadInput(
            f"variant {missing[0]!r} is not downloaded: python -m ltx_studio models download {missing[0]} "
            f"--model-set {mset.name}"
        )
    return plans


def compare(
    renderer: Renderer,
    request: RenderRequest,
    variants: list[str],
    *,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
    preview: bool = False,
) -> list[Take]:
    """Render the request with each variant in turn (one seed): a take per variant."""
    plans = plan_compare(renderer, request, variants)
    return [renderer.run(plan, on_event=on_event, cancel=cancel, preview=preview) for plan in plans]
