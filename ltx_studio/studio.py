"""Studio: the one service object the CLI and the UI call. It never imports gradio.

It owns the model set's PipelineManager and the TakeStore and runs one render at a time on the
device. Blocking calls (`render`, `compare`, `upscale`) take an event callback; `*_job` variants run
the same work in a worker thread and hand back a `Job` whose `events()` the UI relays (the
FramePack pattern). Live drafts supersede each other per session: a newer one cancels the older.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import torch

from .core import sizing
from .core.errors import BadInput, Cancelled, StudioError, WeightsMissing
from .core.events import CancelToken, Event, EventSink, Failed, Progress
from .jobs.live import LiveMixin
from .jobs.service import JobsMixin, QueuedJob
from .library.takes import Take, TakeStore
from .models import loras
from .models.manager import PipelineManager, default_model_set_name, is_on_disk, required_components
from .models.variants import ModelSet, load_registry, model_set
from .render.plan import RenderRequest, plan_from_take, plan_render
from .render.story import denoise_job, load_latents, render_take

log = logging.getLogger(__name__)
_END = object()


class Job:
    """Work running in a thread; `events()` yields its events as they happen, then ends.

    A job that fails ends with a `Failed` event (its message is meant for the user); `result`
    holds what the work returned (a Take or a list of them) once `events()` is exhausted.
    """

    def __init__(self, work: Callable[[EventSink, CancelToken], object], name: str = "job"):
        self.cancel_token = CancelToken()
        self.result = None
        self._events: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(work,), name=f"ltx-{name}", daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self.result = work(self._events.put, self.cancel_token)
        except Cancelled:
            self._events.put(Failed("Stopped", cancelled=True))
        except StudioError as exc:
            self._events.put(Failed(str(exc)))
        except Exception as exc:  # the server keeps serving; the user sees one line, the log the rest
            log.exception("render failed")
            self._events.put(Failed(f"Render failed: {type(exc).__name__}: {exc}"))
        finally:
            self._events.put(_END)

    def events(self) -> Iterator[Event]:
        while (event := self._events.get()) is not _END:
            yield event

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class Studio(JobsMixin, LiveMixin):
    """Drafts, comparisons, upscales, live drafts and the takes library over one model set."""

    def __init__(
        self,
        *,
        model_set_name: str | None = None,
        variants_file: str | Path | None = None,
        outputs: str | Path = "outputs",
        budget_bytes: int | None = None,
        manager: PipelineManager | None = None,
        store: TakeStore | None = None,
    ):
        self.variants_file = variants_file
        self.registry = load_registry(variants_file)
        self.model_set = model_set(self.registry, model_set_name or default_model_set_name(self.registry))
        self.store = store or TakeStore(outputs)
        self.lora_folder = loras.default_folder(self.store.root)  # where bare LoRA names are looked up
        self.manager = manager or PipelineManager(self.model_set, budget_bytes=budget_bytes)
        self.store.worker = self.store.worker or self.manager.policy.device  # which device made each take
        self._budget_bytes = budget_bytes
        self._device_lock = threading.Lock()  # one render at a time on the device
        self._live: dict[str, Job] = {}
        self._live_lock = threading.Lock()

    @contextlib.contextmanager
    def _device(self, cancel: CancelToken | None, emit: EventSink | None = None):
        """Hold the device for one render; a cancelled waiter gives up instead of queueing on."""
        if not self._device_lock.acquire(blocking=False):
            if emit is not None:
                emit(Progress("queue", 0.0, "Waiting for the GPU"))
            while not self._device_lock.acquire(timeout=0.05):
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("superseded before it started")
        try:
            if cancel is not None and cancel.cancelled:  # stopped while waiting: start nothing
                raise Cancelled("stopped before it started")
            yield
        finally:
            self._device_lock.release()

    # --- model sets ----------------------------------------------------------------------------

    def available_sets(self) -> list[str]:
        """The sets this machine can run now: the current one, the demo sets (built offline) and
        every set whose default variant's weights are all on disk."""

        def ready(mset) -> bool:
            variant = mset.variants[mset.default_variant]
            return all(is_on_disk(s) for s in [variant.transformer, *required_components(mset)])

        return [name for name, mset in self.registry.items() if name == self.model_set.name or ready(mset)]

    def use_model_set(self, name: str) -> ModelSet:
        """Switch the studio to another model set: waits for the render in progress, then lets the
        old set's models go (they load again if the user comes back). Takes stay where they are."""
        chosen = model_set(self.registry, name)
        if chosen.name == self.model_set.name:
            return chosen
        with self._device(None):
            old = self.manager
            self.manager = PipelineManager(chosen, budget_bytes=self._budget_bytes)
            self.model_set = chosen
            del old
            self.manager.free_memory()
        return chosen

    # --- rendering (blocking) ----------------------------------------------------------------

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
        """Validate a request (BadInput before anything runs), render it, store the take
        (`record` adds to its settings, e.g. the batch it belongs to)."""
        plan = plan_render(request, self.model_set, self.lora_folder)
        return self._render(plan, on_event=on_event, cancel=cancel, preview=preview, kind=kind, record=record)

    def _render(self, plan, *, on_event: EventSink | None, cancel: CancelToken | None, **options) -> Take:
        """Render one plan on the device (waiting for it), retrying once after running out of memory."""
        with self._device(cancel, on_event):
            return self._retrying(
                plan,
                on_event,
                lambda: render_take(
                    plan, manager=self.manager, store=self.store, on_event=on_event, cancel=cancel, **options
                ),
            )

    def _retrying(self, plan, on_event: EventSink | None, work: Callable[[], Take]) -> Take:
        """Run device work; after an out-of-memory error free what we can, step the policy down and retry.

        Each step (VAE tiling, then model CPU offload on a GPU) stays for the rest of the process:
        a card that ran out once is likely to run out again.
        """
        import torch

        while True:
            try:
                return work()
            except torch.OutOfMemoryError:
                pass  # leave the except block first: its traceback still holds the failed activations
            self.manager.free_memory()
            change = self.manager.reduce_memory()
            if change is None:
                raise StudioError(self._oom_message(plan))
            log.warning("out of memory on %sx%sx%s; retrying with %s", plan.width, plan.height, plan.frames, change)
            if on_event is not None:
                on_event(Progress("retry", 0.0, f"Out of memory: retrying with {change}"))

    @staticmethod
    def _oom_message(plan) -> str:
        return (
            f"out of memory rendering {plan.width}x{plan.height}x{plan.frames} with {plan.variant.label}, "
            "even with a lower-memory policy: try a smaller size or fewer frames"
        )

    def compare(
        self,
        request: RenderRequest,
        variants: list[str],
        *,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        preview: bool = False,
    ) -> list[Take]:
        """The same request with each variant and one seed; every plan and variant is checked before any render."""
        if not variants:
            raise BadInput("compare needs at least one variant")
        if len(set(variants)) != len(variants):
            raise BadInput("compare: each variant once, please")
        first = plan_render(replace(request, variant=variants[0]), self.model_set, self.lora_folder)
        plans = [first] + [
            plan_render(replace(request, variant=name, seed=first.seed), self.model_set, self.lora_folder)
            for name in variants[1:]
        ]
        missing = [name for name in variants if self.manager.state(name) == "not downloaded"]
        if missing:
            raise BadInput(
                f"variant {missing[0]!r} is not downloaded: python -m ltx_studio models download {missing[0]} "
                f"--model-set {self.model_set.name}"
            )
        return [self._render(plan, on_event=on_event, cancel=cancel, preview=preview) for plan in plans]

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
        if draft.model_set != self.model_set.name or draft.variant not in self.model_set.variants:
            raise BadInput(
                f"take {take_id} was made with model set {draft.model_set!r}; "
                f"this studio runs {self.model_set.name!r} (switch the model set to {draft.model_set}, "
                f"or start with --model-set {draft.model_set})"
            )
        if mode not in ("latent", "pro"):
            raise BadInput(f"unknown upscale mode {mode!r} (choose from: latent, pro)")
        if mode == "latent" and (width is not None or height is not None):
            raise BadInput("latent upscale is always 2x the draft; width and height go with mode pro")
        if mode == "latent" and draft.kind == "extend":
            raise BadInput(
                f"take {take_id} is an extension: its latents hold only its new part, so it has no 2x latent "
                "upscale; upscale the take before extending it, or use Re-render with Pro (mode pro)"
            )
        limit = self.model_set.variant(draft.variant).max_size
        if mode == "latent" and not sizing.fits((draft.width * 2, draft.height * 2), limit):
            raise BadInput(
                f"this {draft.width}x{draft.height} draft is too large for a 2x upscale (at most "
                f"{max(limit) // 2}x{min(limit) // 2}); use Re-render with Pro (mode pro) instead"
            )
        self.store.approve(draft.id)  # first: an approved take is never pruned while its final renders
        if mode == "latent":
            return self._upscale_latent(draft, on_event, cancel)
        return self._rerender_pro(draft, width, height, on_event, cancel)

    def _upscale_latent(self, draft: Take, on_event, cancel) -> Take:
        import torch

        latents = load_latents(draft)
        # x2 the latents' own size and length (a clip off the grid renders at the nearest size on it, padded)
        height, width = (side * sizing.SIZE_MULTIPLE * 2 for side in latents.video.shape[-2:])
        frames = (latents.video.shape[2] - 1) * 8 + 1
        plan = plan_from_take(draft, self.model_set, self.lora_folder, width=width, height=height, frames=frames)
        emit = on_event or (lambda event: None)

        def work() -> Take:
            started = time.perf_counter()
            emit(Progress("upsample", 0.0, "Upsampling the draft's latents x2"))
            upsampled = self.manager.family.upsample(
                self.manager.upsampler(),
                latents,
                self.model_set.upsample_adain_factor,
                self.model_set.upsample_tone_map_compression_ratio,
                torch.Generator("cpu").manual_seed(draft.seed),
            )
            emit(Progress("upsample", 1.0))
            return render_take(
                plan,
                manager=self.manager,
                store=self.store,
                kind="upscale",
                parent=draft.id,
                start_latents=upsampled,
                timings={"upsample": round(time.perf_counter() - started, 4)},
                on_event=on_event,
                cancel=cancel,
            )

        with self._device(cancel, on_event):
            return self._retrying(plan, on_event, work)

    def _rerender_pro(self, draft: Take, width, height, on_event, cancel) -> Take:
        pro = self.model_set.variant("pro")
        if width is None and height is None:
            width, height = sizing.size_for_aspect(draft.width / draft.height, pro.full_size)
        plan = plan_from_take(
            draft,
            self.model_set,
            self.lora_folder,
            variant="pro",
            width=width,
            height=height,
            guidance=None,
            steps=None,
        )
        return self._render(plan, on_event=on_event, cancel=cancel, kind="pro", parent=draft.id)

    def extend(
        self,
        take_id: str,
        seconds: float,
        *,
        prompt: str | None = None,
        backward: bool = False,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> Take:
        """Continue a take by `seconds` (before its start with `backward`): a new take of the joined clip."""
        from .render.extend import extend_take

        return extend_take(self, take_id, seconds, prompt=prompt, backward=backward, on_event=on_event, cancel=cancel)

    def retake(self, take_id: str, start: float, end: float, *, prompt=None, what="both", seed=-1, on_event=None,
               cancel=None) -> Take:  # fmt: skip
        """Regenerate seconds [start, end) of a take (`what`: both, video or audio); the rest is the source's."""
        from .render.edits import retake_take

        return retake_take(self, take_id, start, end, prompt=prompt, what=what, seed=seed, on_event=on_event,
                           cancel=cancel)  # fmt: skip

    def soundtrack(self, source: str, *, prompt=None, seed=-1, on_event=None, cancel=None, files=True) -> Take:
        """A soundtrack for a silent clip (a take id or, with `files`, a video file): a new take, the same picture."""
        from .render.edits import soundtrack_take

        return soundtrack_take(self, source, prompt=prompt, seed=seed, on_event=on_event, cancel=cancel, files=files)

    # --- rendering (streamed) ----------------------------------------------------------------

    def draft_job(self, request: RenderRequest, *, preview: bool = True, owner: str = "api") -> QueuedJob:
        """A draft as a server job (checked now, queued, followed with `.events()`)."""
        return self.submit_draft(request, preview=preview, owner=owner)

    def compare_job(
        self, request: RenderRequest, variants: list[str], *, preview: bool = False, owner: str = "api"
    ) -> QueuedJob:
        return self.submit_compare(request, variants, preview=preview, owner=owner)

    def extend_job(
        self, take_id: str, seconds: float, *, prompt: str | None = None, backward: bool = False, owner: str = "api"
    ) -> QueuedJob:
        return self.submit_extend(take_id, seconds, prompt=prompt, backward=backward, owner=owner)

    def upscale_job(self, take_id: str, *, mode: str = "latent", width=None, height=None, owner="api") -> QueuedJob:
        return self.submit_upscale(take_id, mode=mode, width=width, height=height, owner=owner)

    def enhance(
        self, prompt: str, *, image=None, seed: int = 10, on_event: EventSink | None = None, cancel=None
    ) -> dict:
        """Rewrite a short idea as the detailed audio-visual caption LTX-2 was trained on (diffusers' enhancer).

        Returns {"prompt": typed, "enhanced": rewritten}; same seed, same text. With a first frame the
        image-to-video system prompt is used. LTX-Video sets have no enhancer (BadInput).
        """
        from .library.media import load_image
        from .render.plan import MAX_PROMPT_CHARS, MAX_SEED, _number

        prompt = (prompt or "").strip()
        if not prompt:
            raise BadInput("enhance needs a prompt: a short idea to expand")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise BadInput(f"prompt is too long: {len(prompt)} characters (at most {MAX_PROMPT_CHARS})")
        seed = _number("seed", seed, int, 0, MAX_SEED)
        if not self.model_set.has_audio:
            raise BadInput(f"prompt enhancement needs an LTX-2 model set; {self.model_set.name!r} is LTX-Video")
        if image is not None and not hasattr(image, "width"):
            image = load_image(image)
        with self._device(cancel, on_event):
            if on_event is not None:
                on_event(Progress("enhance", 0.0, "Writing a detailed prompt"))
            pipe = self.manager.get(self.model_set.default_variant)
            enhanced = self.manager.enhance_prompt(pipe, prompt, image, seed, self.model_set.enhance_tokens)
            if on_event is not None:
                on_event(Progress("enhance", 1.0))
        return {"prompt": prompt, "enhanced": enhanced, "seed": seed, "model_set": self.model_set.name}

    def enhance_job(self, prompt: str, *, image=None, seed: int = 10) -> Job:
        return Job(
            lambda emit, cancel: self.enhance(prompt, image=image, seed=seed, on_event=emit, cancel=cancel), "enhance"
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
        with self._device(None):
            for name in names:
                started = time.perf_counter()
                try:
                    pipe = self.manager.get(name)
                except WeightsMissing:
                    continue
                plan = plan_render(
                    RenderRequest(prompt="warm-up", variant=name, width=64, height=64, frames=9), self.model_set
                )
                embeds, _ = self.manager.prompt_embeds(pipe, plan.prompt, plan.negative_prompt, plan.guidance)
                job = denoise_job(plan, embeds, torch.Generator("cpu").manual_seed(0), on_step=_after_one_step)
                self.manager.family.denoise(pipe, job)
                seconds[name] = round(time.perf_counter() - started, 3)
        return seconds

    def lora_files(self) -> list[str]:
        """The LoRA folder's files, by the names a request may use."""
        return loras.list_files(self.lora_folder)

    def variant_states(self) -> dict[str, str]:
        """Each variant's state: ready (in memory), on disk, or not downloaded."""
        return {name: self.manager.state(name) for name in self.model_set.variants}


def _after_one_step(step: int, steps: int) -> bool:
    """Stop a denoise after its first step: all a warm-up (and a compile) needs."""
    return step >= 1
