"""Studio: the one service object the CLI and the UI call. It never imports gradio.

It owns the model set's PipelineManager and the TakeStore, runs one GPU job at a time, and reports
progress through typed events (see events.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from . import sizing
from .errors import BadInput
from .events import CancelToken, EventSink, Progress
from .manager import PipelineManager
from .render import RenderRequest, plan_from_take, plan_render, render_take
from .takes import Take, TakeStore
from .variants import default_model_set_name, load_registry, model_set


class Studio:
    """Drafts, comparisons, upscales and the takes library over one model set."""

    def __init__(
        self,
        *,
        model_set_name: str | None = None,
        variants_file: str | Path | None = None,
        outputs: str | Path = "outputs",
        budget_bytes: int | None = None,
        manager: PipelineManager | None = None,
    ):
        self.registry = load_registry(variants_file)
        self.model_set = model_set(self.registry, model_set_name or default_model_set_name())
        self.store = TakeStore(outputs)
        self.manager = manager or PipelineManager(self.model_set, budget_bytes=budget_bytes)
        self._gpu = threading.Lock()  # one render at a time on the device

    # --- rendering ---------------------------------------------------------------------------

    def render(
        self,
        request: RenderRequest,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        preview: bool = True,
    ) -> Take:
        """Validate a request (BadInput before anything runs), render it, store the take."""
        plan = plan_render(request, self.model_set)
        with self._gpu:
            return render_take(
                plan, manager=self.manager, store=self.store, on_event=on_event, cancel=cancel, preview=preview
            )

    def compare(
        self,
        request: RenderRequest,
        variants: list[str],
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Take]:
        """The same request with each variant, one seed for all; all plans are checked before any render."""
        if not variants:
            raise BadInput("compare needs at least one variant")
        first = plan_render(request.__class__(**{**request.__dict__, "variant": variants[0]}), self.model_set)
        plans = [first] + [
            plan_render(request.__class__(**{**request.__dict__, "variant": name, "seed": first.seed}), self.model_set)
            for name in variants[1:]
        ]
        takes = []
        for plan in plans:
            if cancel is not None and cancel.cancelled:
                break
            with self._gpu:
                takes.append(
                    render_take(plan, manager=self.manager, store=self.store, on_event=on_event, cancel=cancel)
                )
        return takes

    def upscale(
        self,
        take_id: str,
        *,
        mode: str = "latent",
        width: int | None = None,
        height: int | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> Take:
        """Approve a draft and make its final: `latent` (x2 upsampler + refine) or `pro` (re-render with Pro).

        The new take's parent is the draft; the draft is marked approved.
        """
        draft = self.store.get(take_id)
        if draft.status != "ok":
            raise BadInput(f"take {take_id} has missing files and cannot be upscaled")
        if mode == "latent":
            if width is not None or height is not None:
                raise BadInput("latent upscale is always 2x the draft; --width/--height go with --mode pro")
            take = self._upscale_latent(draft, on_event, cancel)
        elif mode == "pro":
            take = self._rerender_pro(draft, width, height, on_event, cancel)
        else:
            raise BadInput(f"unknown upscale mode {mode!r} (choose from: latent, pro)")
        self.store.approve(draft.id)
        return take

    def _upscale_latent(self, draft: Take, on_event, cancel) -> Take:
        import time

        import torch
        from safetensors.torch import load_file

        plan = plan_from_take(draft, self.model_set, width=draft.width * 2, height=draft.height * 2)
        with self._gpu:
            emit = on_event or (lambda event: None)
            started = time.perf_counter()
            emit(Progress("upsample", 0.0, "Upsampling the draft's latents x2"))
            latents = load_file(str(draft.path("latents")))["latents"]
            upsampler = self.manager.upsampler()
            generator = torch.Generator("cpu").manual_seed(draft.seed)
            upsampled = self.manager.family.upsample(
                upsampler,
                latents,
                self.model_set.upsample_adain_factor,
                self.model_set.upsample_tone_map_compression_ratio,
                generator,
            )
            emit(Progress("upsample", 1.0))
            timings = {"upsample": round(time.perf_counter() - started, 4)}
            return render_take(
                plan,
                manager=self.manager,
                store=self.store,
                kind="upscale",
                parent=draft.id,
                start_latents=upsampled,
                timings=timings,
                on_event=on_event,
                cancel=cancel,
            )

    def _rerender_pro(self, draft: Take, width, height, on_event, cancel) -> Take:
        pro = self.model_set.variant("pro")
        if width is None and height is None:
            width, height = sizing.size_for_aspect(draft.width / draft.height, pro.full_size)
        plan = plan_from_take(draft, self.model_set, variant="pro", width=width, height=height, guidance=None)
        with self._gpu:
            return render_take(
                plan,
                manager=self.manager,
                store=self.store,
                kind="pro",
                parent=draft.id,
                on_event=on_event,
                cancel=cancel,
            )

    # --- library -----------------------------------------------------------------------------

    def takes(self, limit: int | None = None) -> list[Take]:
        return self.store.list(limit)

    def take(self, take_id: str) -> Take:
        return self.store.get(take_id)

    def approve(self, take_id: str, approved: bool = True) -> Take:
        return self.store.approve(take_id, approved)

    def delete(self, take_id: str) -> None:
        self.store.delete(take_id)

    def variant_states(self) -> dict[str, str]:
        """Each variant's state: ready (in memory), on disk, or not downloaded."""
        return {name: self.manager.state(name) for name in self.model_set.variants}
