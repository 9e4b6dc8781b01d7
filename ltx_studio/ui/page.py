"""The studio's page: Gradio Blocks layout and wiring, and serving it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import gradio as gr

from .. import sizing
from ..errors import StudioError
from ..render import RenderRequest
from . import api
from .relay import TABLE_HEADERS, Shared, table_row, take_markdown, visible

log = logging.getLogger(__name__)
LIVE_DEBOUNCE_S = 0.8
QUEUE_SIZE = 16
MAX_UPLOAD = "32mb"  # first frames; their pixels are capped again when read (media.MAX_IMAGE_PIXELS)
ASSETS = Path(__file__).resolve().parents[2] / "assets"
CSS = """
#banner {border-left: 4px solid #e0a800; padding: 6px 12px; background: rgba(224,168,0,.08)}
#preview img {image-rendering: auto; width: 100%; object-fit: contain}
.take-info p {margin: 2px 0}
"""


def build(studio) -> gr.Blocks:
    """The studio's page: Studio, Compare and Takes tabs, plus the typed API endpoints."""
    mset = studio.model_set
    shared = Shared.of(studio)
    sessions = shared.sessions
    variants = shared.variants
    default = shared.default
    resolutions = shared.resolutions

    def variant_choices() -> list[tuple[str, str]]:
        states = studio.variant_states()
        return [(f"{v.label} · {states[name]}", name) for name, v in variants.items()]

    def frames_note(seconds: float, fps: float) -> str:
        frames = sizing.frames_for_seconds(seconds or 0.1, fps or default.sampling.fps)
        return f"{frames} frames · {sizing.seconds_for_frames(frames, fps or 24):.2f} s at {int(fps or 24)} fps"

    def request_from(prompt, negative, image, variant, seed, randomize, resolution, seconds, fps, steps, guidance):
        spec = variants.get(variant or mset.default_variant, default)
        return RenderRequest(
            prompt=prompt or "",
            negative_prompt=negative if negative else None,
            image=image or None,
            variant=variant or None,
            seed=-1 if randomize or seed is None else int(seed),
            resolution=None if resolution in (None, "draft") else resolution,
            seconds=seconds,
            fps=int(fps) if fps else None,
            steps=None if not steps or int(steps) == spec.sampling.num_steps else int(steps),
            guidance=None if guidance is None or float(guidance) == spec.sampling.guidance else float(guidance),
        )

    with gr.Blocks(title="LTX Studio") as page:
        gr.Markdown(f"# LTX Studio\nModel set **{mset.name}**: {mset.label} · {studio.manager.policy.describe()}")
        if mset.is_demo:
            gr.Markdown(
                "**Demo mode: the output is noise.** These are tiny random models built on this machine so every "
                "feature works without a GPU or downloads. For real video on an NVIDIA GPU: install a CUDA build of "
                "torch, run `python -m ltx_studio models download fast --model-set ltxv`, then "
                "`python app.py --model-set ltxv`.",
                elem_id="banner",
            )
        with gr.Tabs() as tabs:
            # ---------------------------------------------------------------- Studio tab
            with gr.Tab("Studio", id="studio"):
                with gr.Row():
                    with gr.Column(scale=5):
                        prompt = gr.Textbox(
                            label="Prompt",
                            lines=3,
                            elem_id="prompt",
                            placeholder="A cat walks along a sunlit wall, the camera follows slowly",
                        )
                        with gr.Row():
                            draft_btn = gr.Button("Draft", variant="primary", elem_id="draft", scale=3)
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
                        live = gr.Checkbox(
                            value=False,
                            label="Live mode: draft as I type (Fast variant, small size, 0.8 s after the last keystroke)",
                            elem_id="live",
                            container=False,
                        )
                        image = gr.Image(
                            label="First frame (optional)", type="filepath", elem_id="first-frame", height=200
                        )
                        examples = sorted(str(p) for p in (ASSETS / "first-frames").glob("*.[pj][np]g"))
                        if examples:
                            gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Example first frames")
                        variant = gr.Radio(
                            choices=variant_choices(), value=mset.default_variant, label="Variant", elem_id="variant"
                        )
                        with gr.Row():
                            resolution = gr.Dropdown(choices=resolutions, value="draft", label="Resolution")
                            seconds = gr.Slider(
                                0.4,
                                shared.max_seconds,
                                value=round((default.draft_frames - 1) / default.sampling.fps, 1),
                                step=0.1,
                                label="Duration (s)",
                            )
                        frames_info = gr.Markdown(
                            frames_note((default.draft_frames - 1) / default.sampling.fps, default.sampling.fps)
                        )
                        with gr.Row():
                            fps = gr.Number(
                                value=default.sampling.fps, label="fps", precision=0, minimum=1, maximum=120
                            )
                            seed = gr.Number(value=-1, label="Seed", precision=0, elem_id="seed")
                            randomize = gr.Checkbox(value=True, label="Randomize seed")
                        with gr.Accordion("Advanced", open=False):
                            negative = gr.Textbox(value=mset.negative_prompt, label="Negative prompt", lines=2)
                            steps = gr.Number(value=default.sampling.num_steps, label="Steps", precision=0, minimum=1)
                            guidance = gr.Number(value=default.sampling.guidance, label="Guidance", minimum=0)
                    with gr.Column(scale=6):
                        preview = gr.Image(
                            label="Live preview (denoised estimate)",
                            elem_id="preview",
                            interactive=False,
                            height=220,
                            format="png",
                        )
                        video = gr.Video(label="Take", elem_id="take", interactive=False, autoplay=True, loop=True)
                        info = gr.Markdown(elem_classes=["take-info"], elem_id="take-info")
                        take_id = gr.State(None)
                        with gr.Row():
                            upscale_btn = gr.Button("Approve & upscale", elem_id="upscale")
                            pro_btn = gr.Button("Re-render with Pro", elem_id="rerender-pro")

            # ---------------------------------------------------------------- Compare tab
            with gr.Tab("Compare", id="compare"):
                with gr.Row():
                    with gr.Column(scale=3):
                        c_prompt = gr.Textbox(label="Prompt", lines=2, elem_id="compare-prompt")
                        c_image = gr.Image(label="First frame (optional)", type="filepath", height=160)
                    with gr.Column(scale=2):
                        c_variants = gr.CheckboxGroup(
                            choices=[(v.label, n) for n, v in variants.items()],
                            value=list(variants)[:3],
                            label="Variants (two or three)",
                            elem_id="compare-variants",
                        )
                        with gr.Row():
                            c_seed = gr.Number(value=-1, label="Seed (same for all)", precision=0)
                            c_resolution = gr.Dropdown(choices=resolutions, value="draft", label="Resolution")
                            c_seconds = gr.Slider(
                                0.4,
                                shared.max_seconds,
                                value=1.0,
                                step=0.1,
                                label="Duration (s)",
                            )
                        compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-run")
                c_ids = gr.State([])
                c_videos, c_infos, c_buttons = [], [], []
                with gr.Row():
                    for i in range(3):
                        with gr.Column():
                            c_videos.append(
                                gr.Video(
                                    label=f"Take {i + 1}", interactive=False, elem_id=f"compare-video-{i}", loop=True
                                )
                            )
                            c_infos.append(gr.Markdown(elem_classes=["take-info"]))
                            c_buttons.append(gr.Button("Approve & upscale this one", elem_id=f"compare-upscale-{i}"))
                c_final = gr.Video(label="Upscaled", interactive=False, elem_id="compare-final")
                c_final_info = gr.Markdown(elem_classes=["take-info"])

            # ---------------------------------------------------------------- Takes tab
            with gr.Tab("Takes", id="takes") as takes_tab:
                with gr.Row():
                    refresh_btn = gr.Button("Refresh", size="sm")
                    show_live = gr.Checkbox(value=False, label="Show live-mode previews")
                gallery = gr.Gallery(
                    label="Takes, newest first",
                    columns=6,
                    height=300,
                    object_fit="contain",
                    elem_id="takes-gallery",
                    allow_preview=False,
                )
                table = gr.Dataframe(
                    headers=TABLE_HEADERS, interactive=False, wrap=True, max_height=320, elem_id="takes-table"
                )
                shown_ids = gr.State([])
                table_ids = gr.State([])
                selected = gr.State(None)
                with gr.Row():
                    with gr.Column(scale=3):
                        t_video = gr.Video(label="Take", interactive=False, elem_id="takes-video")
                    with gr.Column(scale=2):
                        t_info = gr.Markdown("Pick a take.", elem_classes=["take-info"])
                        t_prompt = gr.Markdown()
                        with gr.Row():
                            t_approve = gr.Button("Approve", size="sm")
                            t_reuse = gr.Button("Reuse settings", size="sm")
                            t_delete = gr.Button("Delete", size="sm", variant="stop")
                        t_download = gr.DownloadButton("Download mp4", visible=False)

        # ==================================================================== wiring: Studio tab
        settings = [prompt, negative, image, variant, seed, randomize, resolution, seconds, fps, steps, guidance]
        result = [preview, video, info, seed, take_id, variant]

        def studio_updates(kind, value):
            none = [gr.update()] * len(result)
            if kind == "preview":
                none[0] = value.image
            elif kind == "take":
                none[1:] = [
                    str(value.path("video")),
                    take_markdown(value),
                    value.seed,
                    value.id,
                    gr.update(choices=variant_choices()),
                ]
            elif kind == "stopped":
                gr.Info(value)
            elif kind == "error":
                none[2] = f"**⚠ {value}**"
            return none

        def run_draft(
            prompt_text,
            negative_text,
            image_path,
            variant_name,
            seed_value,
            randomize_value,
            res,
            secs,
            fps_value,
            steps_value,
            guidance_value,
            request: gr.Request,
            progress=gr.Progress(),
        ):
            values = (prompt_text, negative_text, image_path, variant_name, seed_value, randomize_value)
            values += (res, secs, fps_value, steps_value, guidance_value)
            studio.cancel_live(request.session_hash)  # a deliberate Draft owns the result panel
            try:
                job = studio.draft_job(request_from(*values))
            except StudioError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            for kind, value in sessions.relay(job, request.session_hash, progress):
                yield studio_updates(kind, value)

        draft_btn.click(
            run_draft,
            settings,
            result,
            show_progress_on=[video],
            concurrency_id="gpu",
            api_visibility="private",
        )

        def run_final(mode):
            def handler(current, request: gr.Request, progress=gr.Progress()):
                if not current:
                    raise gr.Error("Draft something first, then approve it.", print_exception=False)
                job = studio.upscale_job(current, mode=mode)
                for kind, value in sessions.relay(job, request.session_hash, progress):
                    yield studio_updates(kind, value)

            return handler

        for button, mode in ((upscale_btn, "latent"), (pro_btn, "pro")):
            button.click(
                run_final(mode),
                [take_id],
                result,
                show_progress_on=[video],
                concurrency_id="gpu",
                api_visibility="private",
            )

        async def live_draft(prompt_text, image_path, live_on, seed_value, randomize_value, request: gr.Request):
            # Async, so a keystroke waiting out the debounce holds no worker thread.
            session = request.session_hash
            if not live_on or not (prompt_text or "").strip() and not image_path:
                yield [gr.skip()] * len(result)
                return
            stroke = sessions.stroke(session)
            await asyncio.sleep(LIVE_DEBOUNCE_S)
            if sessions.latest(session) != stroke:
                yield [gr.skip()] * len(result)  # a newer keystroke will draft instead
                return
            try:
                if randomize_value or seed_value is None or int(seed_value) < 0:
                    live_seed = sessions.live_seed(session)
                else:
                    live_seed = int(seed_value)
                job = studio.live_job(session, studio.live_request(prompt_text, image_path or None, live_seed))
            except StudioError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            events = sessions.relay(job, session, lambda *a, **k: None)
            try:
                while (item := await asyncio.to_thread(next, events, None)) is not None:
                    kind, value = item
                    if kind == "stopped":
                        return  # superseded by a newer live draft: it owns the outputs now
                    yield studio_updates(kind, value)
            finally:
                job.cancel()  # the page went away or a newer draft took over
                with contextlib.suppress(ValueError):  # still running in its thread: it ends on the cancel
                    events.close()

        live_inputs = [prompt, image, live, seed, randomize]
        for trigger in (prompt.change, image.change):
            trigger(
                live_draft,
                live_inputs,
                result,
                trigger_mode="multiple",
                show_progress="hidden",
                concurrency_limit=None,
                api_visibility="private",
            )

        def stop(request: gr.Request):
            sessions.stop(request.session_hash)

        stop_btn.click(stop, None, None, api_visibility="private", concurrency_limit=None)

        def variant_defaults(name):
            spec = variants[name]
            return spec.sampling.num_steps, spec.sampling.guidance, spec.sampling.fps

        variant.change(
            variant_defaults, [variant], [steps, guidance, fps], api_visibility="private", concurrency_limit=None
        )
        for trigger in (seconds.change, fps.change):
            trigger(frames_note, [seconds, fps], [frames_info], api_visibility="private", concurrency_limit=None)

        # ==================================================================== wiring: Compare tab
        compare_outputs = [c_ids, *c_videos, *c_infos]

        def run_compare(
            prompt_text, image_path, chosen, seed_value, res, secs, request: gr.Request, progress=gr.Progress()
        ):
            if not chosen or len(chosen) < 2:
                raise gr.Error("Pick two or three variants to compare.", print_exception=False)
            req = RenderRequest(
                prompt=prompt_text or "",
                image=image_path or None,
                seed=-1 if seed_value is None else int(seed_value),
                resolution=None if res in (None, "draft") else res,
                seconds=secs,
            )
            ids: list[str] = []
            videos = [None] * 3
            infos = ["Waiting…" if i < len(chosen) else "" for i in range(3)]
            yield [ids, *videos, *infos]
            for kind, value in sessions.relay(studio.compare_job(req, list(chosen)), request.session_hash, progress):
                if kind == "take":
                    i = len(ids)
                    ids = [*ids, value.id]
                    videos[i] = str(value.path("video"))
                    infos[i] = take_markdown(value)
                    yield [ids, *videos, *infos]

        compare_btn.click(
            run_compare,
            [c_prompt, c_image, c_variants, c_seed, c_resolution, c_seconds],
            compare_outputs,
            show_progress_on=c_videos,
            concurrency_id="gpu",
            api_visibility="private",
        )

        def upscale_compared(index):
            def handler(ids, request: gr.Request, progress=gr.Progress()):
                if index >= len(ids):
                    raise gr.Error("That take is not rendered yet.", print_exception=False)
                for kind, value in sessions.relay(studio.upscale_job(ids[index]), request.session_hash, progress):
                    if kind == "take":
                        yield str(value.path("video")), take_markdown(value)

            return handler

        for i, button in enumerate(c_buttons):
            button.click(
                upscale_compared(i),
                [c_ids],
                [c_final, c_final_info],
                show_progress_on=[c_final],
                concurrency_id="gpu",
                api_visibility="private",
            )

        # ==================================================================== wiring: Takes tab
        def list_takes(include_live):
            takes = [t for t in studio.takes() if include_live or t.kind != "live"]
            with_poster = [t for t in takes if t.path("poster").exists()]
            items = [
                (str(t.path("poster")), ("✓ " if t.approved else "") + f"{t.kind} · {t.variant}") for t in with_poster
            ]
            return items, [table_row(t) for t in takes], [t.id for t in with_poster], [t.id for t in takes]

        def select_in_gallery(ids, evt: gr.SelectData):
            return show_take(ids, evt.index)

        def select_in_table(ids, evt: gr.SelectData):
            return show_take(ids, evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index)

        def show_take(ids, index):
            if not isinstance(index, int) or not 0 <= index < len(ids):
                raise gr.Error("That take is no longer listed: press Refresh.", print_exception=False)
            take = visible(lambda: studio.take(ids[index]))
            ok = take.status == "ok"
            return (
                take.id,
                str(take.path("video")) if ok else None,
                take_markdown(take) + f"\n\ncreated {take.created[:19].replace('T', ' ')} UTC",
                f"> {take.prompt}" if take.prompt else "_(no prompt: first frame only)_",
                gr.update(value=str(take.path("video")) if ok else None, visible=ok),
            )

        def approve_selected(current, include_live):
            if not current:
                raise gr.Error("Pick a take first.", print_exception=False)
            take = visible(lambda: studio.approve(current, not studio.take(current).approved))
            return (take_markdown(take), *list_takes(include_live))

        def delete_selected(current, include_live):
            if not current:
                raise gr.Error("Pick a take first.", print_exception=False)
            visible(lambda: studio.delete(current))
            return (None, None, f"Deleted {current}.", "", gr.update(visible=False), *list_takes(include_live))

        def reuse_selected(current):
            if not current:
                raise gr.Error("Pick a take first.", print_exception=False)
            take = visible(lambda: studio.take(current))
            first_frame = str(take.path("image")) if take.image and take.path("image").exists() else None
            return (
                take.prompt,
                take.negative_prompt,
                first_frame,
                take.variant if take.variant in variants else gr.update(),
                take.seed,
                False,
                max(0.4, round(take.seconds, 1)),
                take.fps,
                take.settings.get("steps_override") or variants[take.variant].sampling.num_steps
                if take.variant in variants
                else gr.update(),
                take.guidance,
                gr.Tabs(selected="studio"),
            )

        list_outputs = [gallery, table, shown_ids, table_ids]
        for trigger in (refresh_btn.click, takes_tab.select, show_live.change):
            trigger(list_takes, [show_live], list_outputs, api_visibility="private", concurrency_limit=None)
        page.load(list_takes, [show_live], list_outputs, api_visibility="private")
        shown = [selected, t_video, t_info, t_prompt, t_download]
        gallery.select(select_in_gallery, [shown_ids], shown, api_visibility="private")
        table.select(select_in_table, [table_ids], shown, api_visibility="private")
        t_approve.click(approve_selected, [selected, show_live], [t_info, *list_outputs], api_visibility="private")
        t_delete.click(
            delete_selected,
            [selected, show_live],
            [selected, t_video, t_info, t_prompt, t_download, *list_outputs],
            api_visibility="private",
        )
        t_reuse.click(
            reuse_selected,
            [selected],
            [prompt, negative, image, variant, seed, randomize, seconds, fps, steps, guidance, tabs],
            api_visibility="private",
        )

        # ==================================================================== API endpoints
        api.add_endpoints(studio)
    return page


def launch(studio, *, host: str, port: int, auth=None, share: bool = False, block: bool = True) -> gr.Blocks:
    """Serve the studio (blocking unless `block=False`, then call `.close()` on the page returned).

    Only the outputs folder and the shipped assets are served as files (plus Gradio's own cache).
    """
    page = build(studio)
    page.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    page.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        share=share,
        # Only the take folders and the example photos; not takes.db, not the rest of the disk.
        allowed_paths=[str(studio.store.takes_dir), str(ASSETS)],
        blocked_paths=[str(studio.store.db_path), str(studio.store.root / ".staging")],
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block,
        css=CSS,
        quiet=not block,
        footer_links=["api"],
    )
    return page
