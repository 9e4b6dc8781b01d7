"""Prompt enhancement: a short idea rewritten as the detailed audio-visual caption LTX-2 was trained
on, by diffusers' enhancer (Gemma 3) on the device. Same seed, same text."""

from __future__ import annotations

from ..core.errors import BadInput
from ..core.events import CancelToken, EventSink, Progress
from ..library.media import load_image
from .plan import MAX_PROMPT_CHARS, MAX_SEED, check_number
from .renderer import Renderer


def enhance(
    renderer: Renderer,
    prompt: str,
    *,
    image=None,
    seed: int = 10,
    on_event: EventSink | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Returns {"prompt": typed, "enhanced": rewritten, "seed", "model_set"}. With a first frame the
    image-to-video system prompt is used. LTX-Video sets have no enhancer (BadInput)."""
    mset = renderer.model_set
    prompt = (prompt or "").strip()
    if not prompt:
        raise BadInput("enhance needs a prompt: a short idea to expand")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadInput(f"prompt is too long: {len(prompt)} characters (at most {MAX_PROMPT_CHARS})")
    seed = check_number("seed", seed, int, 0, MAX_SEED)
    if not mset.has_audio:
        raise BadInput(f"prompt enhancement needs an LTX-2 model set; {mset.name!r} is LTX-Video")
    if image is not None and not hasattr(image, "width"):
        image = load_image(image)
    emit = on_event or (lambda event: None)
    with renderer.device(cancel, on_event):
        emit(Progress("enhance", 0.0, "Writing a detailed prompt"))
        pipe = renderer.manager.get(mset.default_variant)
        enhanced = renderer.manager.enhance_prompt(pipe, prompt, image, seed, mset.enhance_tokens)
        emit(Progress("enhance", 1.0))
    return {"prompt": prompt, "enhanced": enhanced, "seed": seed, "model_set": mset.name}
