"""Gradio Blocks layout and wiring. No torch, no diffusers: it only talks to Studio."""

from __future__ import annotations

import gradio as gr

from .render import RenderRequest


def build(studio) -> gr.Blocks:
    with gr.Blocks(title="LTX Studio") as demo:
        gr.Markdown("# LTX Studio")
        if studio.model_set.is_demo:
            gr.Markdown("**Demo model set:** tiny random models, so the output is noise.")
        prompt = gr.Textbox(label="Prompt", elem_id="prompt")
        draft = gr.Button("Draft", variant="primary")
        video = gr.Video(label="Take", elem_id="take", interactive=False)

        def run(text):
            take = studio.render(RenderRequest(prompt=text))
            return str(take.path("video"))

        draft.click(run, prompt, video, api_name="draft")
    return demo


def launch(studio, *, host: str, port: int, auth=None, share: bool = False) -> None:
    build(studio).queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, auth=auth, share=share, allowed_paths=[str(studio.store.root)]
    )
