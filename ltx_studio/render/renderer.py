"""The Renderer: one model set, its PipelineManager and the take store, and one render at a time on
the device (a lock a cancelled waiter gives up), with the out-of-memory ladder around every render.

Every recipe (compare, upscale, extend, retake, soundtrack, enhance) is given a Renderer; the job
runner and the worker processes make one each. It never imports the Studio.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..core.errors import BadInput, Cancelled, StudioError, WeightsMissing
from ..core.events import CancelToken, EventSink, Progress
from ..library.takes import Take, TakeStore
from ..models import loras
from ..models.checkpoints import from_environment, with_checkpoints
from ..models.embed_store import EmbeddingStore
from ..models.manager import PipelineManager, default_model_set_name, is_on_disk, required_components
from ..models.variants import ModelSet, load_registry, model_set
from .fit import check_fits
from .plan import RenderPlan, plan_from_take, plan_render
from .request import RenderRequest
from .story import TakeSpec, denoise_job, render_take

log = logging.getLogger(__name__)


EMBEDDINGS = "cache/embeddings"  # under the outputs folder


class Renderer:
    """Renders plans of one model set into takes, one at a time on the device."""

    def __init__(
        self,
        *,
        model_set_name: str | None = None,
        variants_file: str | Path | None = None,
        outputs: str | Path = "outputs",
        budget_bytes: int | None = None,
        manager: PipelineManager | None = None,
        store: TakeStore | None = None,
        checkpoints: list[str] | None = None,
    ):
        self.variants_file = variants_file
        self.registry = load_registry(variants_file)
        chosen = model_set(self.registry, model_set_name or default_model_set_name(self.registry))
        # Single files a person already has, as the set's transformers (models/checkpoints.py), for the set
        # they were given for, also after switching away and back; a worker process reads them from the
        # environment the app exported (there a demo set ignores them rather than refusing to start).
        if checkpoints is None:
            for_set, specs = from_environment()
            self._checkpoints = (for_set or (None if chosen.is_demo else chosen.name), specs)
        else:
            self._checkpoints = (chosen.name, list(checkpoints))
        self.model_set = self._with_checkpoints(chosen)
        self.store = store or TakeStore(outputs)
        self.lora_folder = loras.default_folder(self.store.root)  # where bare LoRA names are looked up
        self.manager = manager or PipelineManager(self.model_set, budget_bytes=budget_bytes)
        # Prompt embeddings on disk beside the takes: a restart, another worker or node on these outputs reuses them.
        self.manager.embed_store = EmbeddingStore(self.store.root / EMBEDDINGS)
        self.store.worker = self.store.worker or self.manager.policy.device  # which device made each take
        self.device_lock = threading.Lock()  # one render at a time on the device
        self._budget_bytes = budget_bytes

    # --- the device ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def device(self, cancel: CancelToken | None, emit: EventSink | None = None) -> Iterator[None]:
        """Hold the device for one render; a cancelled waiter gives up instead of queueing on."""
        if not self.device_lock.acquire(blocking=False):
            if emit is not None:
                emit(Progress("queue", 0.0, "Waiting for the GPU"))
            while not self.device_lock.acquire(timeout=0.05):
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("superseded before it started")
        try:
            if cancel is not None and cancel.cancelled:  # stopped while waiting: start nothing
                raise Cancelled("stopped before it started")
            yield
        finally:
            self.device_lock.release()

    def run_work(self, plan: RenderPlan, on_event: EventSink | None, cancel, work: Callable[[], Take]) -> Take:
        """Run device work for a plan, holding the device; after an out-of-memory error free what we
        can, step the memory policy down and retry. Each step (VAE tiling, then model CPU offload on a
        GPU) stays for the rest of the process: a card that ran out once is likely to run out again."""
        with self.device(cancel, on_event):
            while True:
                try:
                    return work()
                except torch.OutOfMemoryError:
                    pass  # leave the except block first: its traceback still holds the failed activations
                self.manager.free_memory()
                change = self.manager.reduce_memory()
                if change is None:
                    raise StudioError(
                        f"out of memory rendering {plan.width}x{plan.height}x{plan.frames} with {plan.variant.label}, "
                        "even with a lower-memory policy: try a smaller size or fewer frames"
                    )
                log.warning("out of memory on %sx%sx%s; retrying with %s", plan.width, plan.height, plan.frames, change)
                if on_event is not None:
                    on_event(Progress("retry", 0.0, f"Out of memory: retrying with {change}"))

    # --- rendering -----------------------------------------------------------------------------

    def plan(self, request: RenderRequest) -> RenderPlan:
        """A request checked and snapped against this model set and the memory plan (BadInput before anything runs)."""
        plan = plan_render(request, self.model_set, self.lora_folder)
        check_fits(self.manager.policy, plan.width, plan.height, plan.frames, plan.fps, guided=plan.guidance > 1)
        return plan

    def plan_from_take(self, take: Take, **changes) -> RenderPlan:
        """A take's own plan again, with `changes` (another size, variant, prompt...), checked against the memory plan."""
        plan = plan_from_take(take, self.model_set, self.lora_folder, **changes)
        check_fits(self.manager.policy, plan.width, plan.height, plan.frames, plan.fps, guided=plan.guidance > 1)
        return plan

    def run(
        self,
        plan: RenderPlan,
        spec: TakeSpec | None = None,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        preview: bool = True,
    ) -> Take:
        """Render one plan on the device (waiting for it) and store the take."""
        return self.run_work(
            plan,
            on_event,
            cancel,
            lambda: render_take(
                plan, spec, manager=self.manager, store=self.store, on_event=on_event, cancel=cancel, preview=preview
            ),
        )

    def render(
        self,
        request: RenderRequest,
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        preview: bool = True,
        kind: str = "draft",
        record: dict | None = None,
    ) -> Take:
        """Check a request, render it and store the take (`record` adds to its settings, e.g. its batch)."""
        spec = TakeSpec(kind=kind, record=record)
        return self.run(self.plan(request), spec, on_event=on_event, cancel=cancel, preview=preview)

    def own_take(self, take_id: str, verb: str) -> Take:
        """A take this model set can work on (its files whole, made with this set), or BadInput naming why."""
        take = self.store.get(take_id)
        if take.status != "ok":
            raise BadInput(f"take {take_id} has missing files and cannot be {verb}")
        if take.model_set != self.model_set.name or take.variant not in self.model_set.variants:
            raise BadInput(
                f"take {take_id} was made with model set {take.model_set!r}; this studio runs "
                f"{self.model_set.name!r} (switch the model set to {take.model_set}, or start with "
                f"--model-set {take.model_set})"
            )
        return take

    # --- the model set -------------------------------------------------------------------------

    def _with_checkpoints(self, mset: ModelSet) -> ModelSet:
        """`mset` with the single-file checkpoints given for it (models/checkpoints.py), if any."""
        for_set, specs = self._checkpoints
        return with_checkpoints(mset, specs) if specs and mset.name == for_set else mset

    def available_sets(self) -> list[str]:
        """The sets this machine can run now: the current one, the demo sets (built offline) and
        every set whose default variant's weights are all on disk."""

        def ready(mset: ModelSet) -> bool:
            variant = mset.variants[mset.default_variant]
            return all(is_on_disk(s) for s in [variant.transformer, *required_components(mset)])

        sets = self.registry.items()
        return [name for name, mset in sets if name == self.model_set.name or ready(self._with_checkpoints(mset))]

    def use_model_set(self, name: str) -> ModelSet:
        """Switch to another model set: waits for the render in progress, then lets the old set's
        models go (they load again if the user comes back). Takes stay where they are."""
        chosen = self._with_checkpoints(model_set(self.registry, name))
        if chosen.name == self.model_set.name:
            return chosen
        with self.device(None):
            old = self.manager
            self.manager = PipelineManager(chosen, budget_bytes=self._budget_bytes)
            self.manager.embed_store = old.embed_store
            self.model_set = chosen
            del old
            self.manager.free_memory()
        return chosen

    def variant_states(self) -> dict[str, str]:
        """Each variant's state: ready (in memory), on disk, or not downloaded."""
        return {name: self.manager.state(name) for name in self.model_set.variants}

    def warm_up(self, variants: list[str] | None = None) -> dict[str, float]:
        """Load the variants drafts start with and run each once through the real denoise path, holding the device.

        Done once per process (in the background when the app starts), so the first draft pays
        neither the load nor a compiled transformer's compile: the warm-up calls the transformer
        exactly as a draft does (same batch for guidance, same argument kinds), at a tiny size, and
        dynamic shapes make that one compile serve every size and frame count. Nothing is stored.
        Returns seconds per variant; a variant whose weights are missing is skipped.
        """
        names = variants or list(dict.fromkeys([self.model_set.live_variant, self.model_set.default_variant]))
        seconds = {}
        with self.device(None):
            for name in names:
                started = time.perf_counter()
                try:
                    pipe = self.manager.get(name)
                except WeightsMissing:
                    continue
                plan = self.plan(RenderRequest(prompt="warm-up", variant=name, width=64, height=64, frames=9))
                embeds, _ = self.manager.prompt_embeds(pipe, plan.prompt, plan.negative_prompt, plan.guidance)
                job = denoise_job(plan, embeds, torch.Generator("cpu").manual_seed(0), on_step=_after_one_step)
                self.manager.family.denoise(pipe, job)
                seconds[name] = round(time.perf_counter() - started, 3)
        return seconds


def _after_one_step(step: int, steps: int) -> bool:
    """Stop a denoise after its first step: all a warm-up (and a compile) needs."""
    return step >= 1
