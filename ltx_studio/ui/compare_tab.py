"""The Compare tab: one prompt and one seed through two or three variants, side by side.

Compare runs one Studio job that stores a take per variant and shows each as it lands; any of them
can then be approved and upscaled into the panel below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from ..jobs.ops import Compare, Upscale
from ..render.request import RenderRequest
from .keyframes import KeyframeStrip, build_keyframe_strip, keyframes_of, wire_first_last
from .lora_picker import LoraPicker, build_lora_picker, lora_request
from .relay import Shared, visible
from .take_text import take_markdown

if TYPE_CHECKING:
    from ..studio import Studio

SLOTS = 3  # the most variants compared at once

# Compare's players play, pause and seek together: what one does, the others follow (run once on load).
SYNC_JS = """
() => {
  let following = false;
  const others = (video) => [...document.querySelectorAll('#compare-slots video')].filter((v) => v !== video);
  const follow = (event) => {
    const video = event.target;
    if (following || !(video instanceof HTMLVideoElement) || !video.closest('#compare-slots')) return;
    following = true;
    for (const other of others(video)) {
      if (Math.abs(other.currentTime - video.currentTime) > 0.05) other.currentTime = video.currentTime;
      if (event.type === 'play') other.play().catch(() => {});
      if (event.type === 'pause') other.pause();
    }
    following = false;
  };
  for (const type of ['play', 'pause', 'seeked']) document.addEventListener(type, follow, true);
}
"""


@dataclass
class CompareTab:
    """The Compare tab's components (no other tab needs them: it only wires its own events)."""

    prompt: gr.Textbox
    image: gr.Image
    variants: gr.CheckboxGroup
    seed: gr.Number
    resolution: gr.Dropdown
    seconds: gr.Slider
    run_btn: gr.Button
    ids: gr.State  # the ids of the takes shown, in slot order
    videos: list[gr.Video]
    infos: list[gr.Markdown]
    upscale_btns: list[gr.Button]
    final: gr.Video
    final_info: gr.Markdown
    keyframes: KeyframeStrip
    loras: LoraPicker


def build_compare_tab(studio: Studio, shared: Shared) -> CompareTab:
    """The Compare tab with its events wired: compare the chosen variants, upscale one of the takes."""
    tab = _layout(studio, shared)
    _wire(studio, shared, tab)
    return tab


def _layout(studio: Studio, shared: Shared) -> CompareTab:
    with gr.Tab("Compare", id="compare"):
        with gr.Row():
            with gr.Column(scale=3):
                prompt = gr.Textbox(label="Prompt", lines=2, elem_id="compare-prompt")
                image = gr.Image(label="First frame (optional)", type="filepath", height=160)
                strip = build_keyframe_strip("compare-")
            with gr.Column(scale=2):
                variants = gr.CheckboxGroup(
                    choices=[(v.label, n) for n, v in shared.variants.items()],
                    value=list(shared.variants)[:SLOTS],
                    label="Variants (two or three)",
                    elem_id="compare-variants",
                )
                with gr.Row():
                    seed = gr.Number(value=-1, label="Seed (same for all)", precision=0)
                    resolution = gr.Dropdown(choices=shared.resolutions, value="draft", label="Resolution")
                    seconds = gr.Slider(0.4, shared.max_seconds, value=1.0, step=0.1, label="Duration (s)")
                loras = build_lora_picker(studio, "compare")
                run_btn = gr.Button("Compare", variant="primary", elem_id="compare-run")
        ids = gr.State([])
        videos, infos, upscale_btns = [], [], []
        with gr.Row(elem_id="compare-slots"):
            for i in range(SLOTS):
                with gr.Column():
                    videos.append(
                        gr.Video(label=f"Take {i + 1}", interactive=False, elem_id=f"compare-video-{i}", loop=True)
                    )
                    infos.append(gr.Markdown(elem_classes=["take-info"]))
                    upscale_btns.append(
                        gr.Button("Approve & upscale this one", elem_id=f"compare-upscale-{i}", visible=False)
                    )
        final = gr.Video(label="Upscaled", interactive=False, elem_id="compare-final")
        final_info = gr.Markdown(elem_classes=["take-info"])
    return CompareTab(
        prompt=prompt,
        image=image,
        variants=variants,
        seed=seed,
        resolution=resolution,
        seconds=seconds,
        run_btn=run_btn,
        ids=ids,
        videos=videos,
        infos=infos,
        upscale_btns=upscale_btns,
        final=final,
        final_info=final_info,
        keyframes=strip,
        loras=loras,
    )


def _wire(studio: Studio, shared: Shared, tab: CompareTab) -> None:
    """Compare: one job, its takes shown as they land; each slot's button upscales that take."""
    sessions = shared.sessions

    fields = [tab.prompt, tab.image, tab.variants, tab.seed, tab.resolution, tab.seconds]

    def run_compare(data: dict, request: gr.Request, progress=gr.Progress()):
        prompt_text, image_path, chosen, seed_value, res, secs = (data[c] for c in fields)
        rows = [data[c] for c in tab.loras.inputs]  # one (name, weight) per row of the LoRA picker
        if not chosen or len(chosen) < 2:
            raise gr.Error("Pick two or three variants to compare.", print_exception=False)
        req = RenderRequest(
            prompt=prompt_text or "",
            image=image_path or None,
            seed=-1 if seed_value is None else int(seed_value),
            resolution=None if res in (None, "draft") else res,
            seconds=secs,
            keyframes=keyframes_of([data[c] for c in tab.keyframes.inputs]),
            loras=visible(lambda: lora_request(studio, rows)),
        )
        ids: list[str] = []
        label = {name: variant.label for name, variant in shared.variants.items()}
        videos = [gr.update(value=None, label=label.get(chosen[i], chosen[i]) if i < len(chosen) else "—")
                  for i in range(SLOTS)]  # fmt: skip
        infos = ["Waiting…" if i < len(chosen) else "" for i in range(SLOTS)]
        buttons = [gr.update(visible=False)] * SLOTS  # offered once its take is there
        yield [ids, *videos, *infos, *buttons]
        job = visible(
            lambda: studio.submit(Compare(req, list(chosen)), owner=shared.owner(data[shared.browser], request))
        )
        for kind, value in sessions.relay(job, request.session_hash, progress):
            if kind == "take":
                i = len(ids)
                ids = [*ids, value.id]
                videos[i] = gr.update(value=str(value.path("video")), label=label.get(value.variant, value.variant))
                infos[i] = take_markdown(value)
                buttons[i] = gr.update(visible=True)
                yield [ids, *videos, *infos, *buttons]

    wire_first_last(tab.keyframes, tab.seconds, studio)
    tab.run_btn.click(
        run_compare,
        {*fields, *tab.keyframes.inputs, *tab.loras.inputs, shared.browser},  # a set: {component: value}
        [tab.ids, *tab.videos, *tab.infos, *tab.upscale_btns],
        show_progress_on=tab.videos,
        concurrency_limit=None,  # it follows a queued job
        api_visibility="private",
    )

    def upscale_compared(index):
        def handler(ids, browser_id, request: gr.Request, progress=gr.Progress()):
            if index >= len(ids):
                raise gr.Error("That take is not rendered yet.", print_exception=False)
            job = visible(lambda: studio.submit(Upscale(ids[index]), owner=shared.owner(browser_id, request)))
            for kind, value in sessions.relay(job, request.session_hash, progress):
                if kind == "take":
                    yield str(value.path("video")), take_markdown(value)

        return handler

    for i, button in enumerate(tab.upscale_btns):
        button.click(
            upscale_compared(i),
            [tab.ids, shared.browser],
            [tab.final, tab.final_info],
            show_progress_on=[tab.final],
            concurrency_limit=None,
            api_visibility="private",
        )
