"""What a card's buttons do: each acts on its own card's take (or job), never on "whatever is shown".

Approve, Approve & upscale, Re-render with Pro, Variations, Delete (with Undo), Cancel and Dismiss
act at once; Extend…, Retake… and Add sound… open the action panel with that take's range and
choices. A job an action starts is followed like a draft: its card shows where it is. An action the
studio refuses is one line on that card; nothing else on the page changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from ...core.errors import StudioError
from ...jobs.ops import AddSound, Batch, Extend, Finish, Retake, Upscale
from ...render.request import RenderRequest
from .parts import ActionPanel

if TYPE_CHECKING:
    from ...library.takes import Take
    from ...studio import Studio
    from ..relay import Shared
    from .parts import StudioTab

VARIATIONS = 4  # seeds a card's Variations renders
PANEL_ACTIONS = ("extend", "retake", "sound", "finish")
RETAKE_WHAT = [("Picture and sound", "both"), ("Picture only", "video"), ("Sound only", "audio")]


def build_action_panel() -> ActionPanel:
    """The panel (hidden until a card opens it) for the actions that take parameters."""
    with gr.Group(visible=False, elem_id="action-panel") as group:
        title = gr.Markdown(elem_id="action-title")
        with gr.Row(visible=False) as extend_row:
            extend_seconds = gr.Number(value=2.0, label="Extend by (s)", minimum=0.3, maximum=60, elem_id="extend-by")
            extend_back = gr.Checkbox(value=False, label="before its start", elem_id="extend-back")
        with gr.Column(visible=False) as retake_row:
            with gr.Row():
                start = gr.Slider(0, 5, value=0, step=0.01, label="Retake from (s)", elem_id="retake-start")
                end = gr.Slider(0, 5, value=1, step=0.01, label="to (s)", elem_id="retake-end")
            what = gr.Radio(RETAKE_WHAT, value="both", label="Retake", elem_id="retake-what")
        with gr.Row(visible=False) as sound_row:
            gr.Markdown("The picture stays as it is; its sound is made for it.")
        with gr.Column(visible=False) as finish_row:
            finish_pass = gr.Dropdown([], label="Pass", elem_id="finish-pass")
            finish_about = gr.Markdown(elem_id="finish-about")
            with gr.Row():
                finish_factor = gr.Radio([("x2", "2"), ("x4", "4")], value="2", label="Frames", elem_id="finish-factor")
                finish_exr = gr.Checkbox(value=False, label="OpenEXR frames too", elem_id="finish-exr")
        prompt = gr.Textbox(label="What happens (empty: the take's prompt)", lines=1, elem_id="action-prompt")
        with gr.Row():
            run_btn = gr.Button("Go", variant="primary", elem_id="action-run")
            close_btn = gr.Button("Close", elem_id="action-close")
        take_id = gr.State(None)
        action = gr.State(None)
    return ActionPanel(group, take_id, title, extend_row, extend_seconds, extend_back, retake_row, start, end, what,
                       sound_row, prompt, run_btn, close_btn, action, finish_row, finish_pass, finish_about,
                       finish_factor, finish_exr)  # fmt: skip


def pass_fields(studio: Studio, name: str | None) -> list:
    """The Finish panel's fields for the chosen pass: what it is for, x2/x4 where it has them, EXR for HDR,
    and the prompt box's label as keywords (a clean plate needs one)."""
    one = studio.model_set.passes.get(name or "")
    if one is None:
        return [gr.update(value=""), gr.update(visible=False), gr.update(visible=False), {}]
    needs = {"required": "The scene without what it removes (needed)", "none": "Prompt (this pass needs none)"}
    return [
        gr.update(value=one.about),
        gr.update(visible=one.kind == "temporal"),
        gr.update(visible=one.kind == "hdr"),
        {"label": needs.get(one.prompt, "What the clip shows (empty: the take's prompt)")},
    ]


def open_panel(studio: Studio, action: str, take: Take) -> list:
    """The panel's updates for `action` on `take` (in `ActionPanel.shown`'s order)."""
    seconds = round(take.frames / take.fps, 2)
    choices = RETAKE_WHAT if take.audio else RETAKE_WHAT[:2]
    if not studio.model_set.has_audio:
        choices = [("Picture only", "video")]
    titles = {
        "extend": f"**Extend take {take.id}** ({take.seconds:.2f} s): new frames follow on from it.",
        "retake": f"**Retake part of take {take.id}** ({seconds:g} s): everything in the range is made anew "
        "(its edges move out to whole latent frames of 8 frames); the rest stays the take's own.",
        "sound": f"**Add sound to take {take.id}**",
        "finish": f"**Finish take {take.id}** ({take.frames} frames at {take.fps} fps): a new take, this one its parent.",
    }
    labels = {"extend": "Extend", "retake": "Retake", "sound": "Add sound", "finish": "Finish"}
    passes = [(f"{p.name}", p.name) for p in studio.model_set.passes.values()]
    first = passes[0][1] if passes else None
    about, factor, exr, prompt_label = pass_fields(studio, first)
    return [
        gr.update(visible=True),
        take.id,
        action,
        titles[action],
        gr.update(visible=action == "extend"),
        gr.update(visible=action == "retake"),
        gr.update(visible=action == "sound"),
        gr.update(maximum=seconds, value=round(seconds / 3, 2)),
        gr.update(maximum=seconds, value=round(2 * seconds / 3, 2)),
        gr.update(choices=choices, value=choices[0][1]),
        gr.update(value="", label=prompt_label["label"])
        if action == "finish" and "label" in prompt_label
        else gr.update(
            value="",
            label="What it should sound like (empty: the take's prompt)"
            if action == "sound"
            else "What happens (empty: the take's prompt)",
        ),  # fmt: skip
        gr.update(value=labels[action]),
        gr.update(visible=action == "finish"),
        gr.update(choices=passes, value=first),
        about,
        factor,
        exr,
    ]


def variations_of(take: Take) -> RenderRequest:
    """The request a take was rendered from, as far as its record says, with a new seed."""
    settings = take.settings
    camera = (settings.get("camera") or {}).get("name")
    camera_lora = (settings.get("camera") or {}).get("lora")
    return RenderRequest(
        prompt=take.prompt,
        negative_prompt=take.negative_prompt or None,
        variant=take.variant,
        width=take.width,
        height=take.height,
        frames=take.frames,
        fps=take.fps,
        image=str(take.path("image")) if take.image and take.path("image").exists() else None,
        audio=take.audio,
        loras=[(lora["name"], lora["weight"]) for lora in settings.get("loras") or [] if lora["name"] != camera_lora],
        camera=camera,
    )


def wire_card_actions(studio: Studio, shared: Shared, tab: StudioTab) -> None:
    """The feed's clicks, and the action panel's Go and Close."""
    board, panel = shared.board, tab.panel
    hidden = [gr.skip()] * len(panel.shown)

    def act(browser_id, request: gr.Request, evt: gr.EventData):
        session, who = request.session_hash, shared.owner(browser_id, request)
        action, take_id, job_id = evt.act, evt.take, evt.job
        key = take_id or job_id
        board.note(session, key, "")
        try:
            if action in PANEL_ACTIONS:
                take = studio.take(take_id)
                yield [*open_panel(studio, action, take), shared.feed_html(who, session)]
                return
            job = _act_now(studio, shared, action, take_id, job_id, who, session)
        except StudioError as exc:
            board.note(session, key, str(exc))
            job = None
        events = shared.follow(job, session) if job is not None else ()  # Stop reaches it from here
        yield [*hidden, shared.feed_html(who, session)]
        for _ in events:
            yield [*hidden, shared.feed_html(who, session)]

    outputs = [*panel.shown, tab.feed]
    common = {"api_visibility": "private", "concurrency_limit": None, "show_progress": "hidden"}
    tab.feed.click(act, [shared.browser], outputs, trigger_mode="multiple", **common)

    def run_panel(action, take_id, seconds, backward, start, end, what, prompt, chosen, factor, exr, browser_id,
                  request: gr.Request):  # fmt: skip
        session, who = request.session_hash, shared.owner(browser_id, request)
        board.note(session, take_id, "")
        prompt = (prompt or "").strip() or None
        ops = {
            "extend": lambda: Extend(take_id, float(seconds or 2.0), prompt=prompt, backward=bool(backward)),
            "retake": lambda: Retake(take_id, start, end, prompt=prompt, what=what),
            "sound": lambda: AddSound(take_id, prompt=prompt, files=False),
            "finish": lambda: Finish(
                take_id, chosen or "", factor=_factor(studio, chosen, factor), prompt=prompt, exr=bool(exr), files=False
            ),  # fmt: skip
        }
        try:
            job = studio.submit(ops[action](), owner=who)
        except (StudioError, KeyError) as exc:
            board.note(session, take_id or "", str(exc) if isinstance(exc, StudioError) else "Pick a take first.")
            yield [gr.skip(), shared.feed_html(who, session)]
            return
        events = shared.follow(job, session)  # Stop reaches it from here, before the page draws its card
        yield [gr.update(visible=False), shared.feed_html(who, session)]
        for _ in events:
            yield [gr.skip(), shared.feed_html(who, session)]

    panel.run_btn.click(
        run_panel,
        [
            panel.action,
            panel.take_id,
            panel.extend_seconds,
            panel.extend_back,
            panel.start,
            panel.end,
            panel.what,
            panel.prompt,
            panel.finish_pass,
            panel.finish_factor,
            panel.finish_exr,
            shared.browser,
        ],  # fmt: skip
        [panel.group, tab.feed],
        trigger_mode="multiple",
        **common,
    )
    panel.close_btn.click(lambda: gr.update(visible=False), None, [panel.group], queue=False, api_visibility="private")
    panel.finish_pass.change(
        lambda name: [*pass_fields(studio, name)[:3], gr.update(**pass_fields(studio, name)[3])], [panel.finish_pass],
        [panel.finish_about, panel.finish_factor, panel.finish_exr, panel.prompt], **common,
    )  # fmt: skip


def _factor(studio: Studio, name: str | None, factor) -> int | None:
    """The x2/x4 choice, for the passes that take one."""
    one = studio.model_set.passes.get(name or "")
    return int(factor or 2) if one is not None and one.kind == "temporal" else None


def _act_now(studio: Studio, shared: Shared, action: str, take_id: str, job_id: str, who: str, session: str):
    """Run an action that needs no parameters; returns the job it started, if any (StudioError: refused)."""
    board = shared.board
    if action == "approve":
        take = studio.take(take_id)
        studio.approve(take_id, not take.approved, owner=who)
    elif action in ("upscale", "pro"):
        return studio.submit(Upscale(take_id, mode="latent" if action == "upscale" else "pro"), owner=who)
    elif action == "variations":
        requests, refused = studio.prepare_batch(variations_of(studio.take(take_id)), None, VARIATIONS)
        if not requests:
            raise StudioError("; ".join(refused)[:300] or "nothing to render")
        return studio.submit(Batch(requests), owner=who)
    elif action == "delete":
        take = studio.take(take_id)
        if not studio.may_act(who, take.owner):
            raise StudioError(f"take {take_id} belongs to someone else: only they (or an admin) may delete it")
        board.delete_later(
            take_id,
            who,
            lambda: studio.delete(take_id, owner=who),
            lambda message: board.note(session, take_id, message),
        )
    elif action == "undo":
        if not board.undo(take_id, who):
            raise StudioError(f"take {take_id} is deleted already (or was not deleted by you)")
    elif action == "cancel":
        studio.cancel(job_id, owner=who)
    elif action == "dismiss":
        board.dismiss(session, job_id)
    else:
        raise StudioError(f"unknown action {action!r}")
    return None
