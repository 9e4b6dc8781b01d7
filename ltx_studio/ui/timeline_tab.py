"""The Timeline tab: a film of shots against one soundtrack, in the page's card language.

The strip (timeline_view.py) shows the shots in order, each as wide as it is long, the song's waveform
under them with the cuts. A click picks a shot into the editor below it; Save shot, Add shot, Bridge
to next (gap fill), Duplicate, Delete and the arrows each make a new version of the film (the older ones stay, with their
takes). Render film queues one job that renders every shot without a take, shot by shot, its progress
on a line here (and its card in the Studio feed); Re-render shot and Render stale shots make a new
version first. Once every shot fits, the film plays in one player with its sound, and Export gives the
mp4 and the .otio edit. A film belongs to whoever made it; closing the tab leaves its job running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import StudioError
from ..jobs.ops import FilmRender, FilmShot
from ..library import media
from . import timeline_view as view
from .relay import Shared
from .studio_tab.prompt_bar import camera_choices, first_frame_input, note

if TYPE_CHECKING:
    from ..studio import Studio

NEW_SHOT_S = 2.0


@dataclass
class Timeline:
    """The Timeline tab's components."""

    tab: gr.Tab
    film: gr.State  # the film's id shown
    picked: gr.State  # the picked shot's number (1-based; 0: none)
    pick: gr.Dropdown
    new_btn: gr.Button
    soundtrack: gr.Audio
    strip: gr.HTML
    note: gr.Markdown
    prompt: gr.Textbox
    seconds: gr.Number
    begins: gr.Radio
    camera: gr.Dropdown
    reference: gr.Image
    buttons: dict[str, gr.Button]
    player: gr.Video
    files: gr.File
    segment: list[gr.Number]  # retake from, to (seconds into the shot); extend by


def build_timeline_tab(studio: Studio, shared: Shared) -> Timeline:
    with gr.Tab("Timeline", id="timeline") as tab:
        with gr.Row():
            with gr.Column(scale=3):
                pick = gr.Dropdown(label="Film", choices=[], value=None, elem_id="film-pick")
                new_btn = gr.Button("New film", elem_id="film-new", variant="secondary", size="sm")
            soundtrack = gr.Audio(label="Soundtrack", type="filepath", sources=["upload"], elem_id="film-soundtrack",
                                  scale=3, editable=False)  # fmt: skip
        strip = gr.HTML(view.strip_html(studio, None), elem_id="film-strip", js_on_load=view.ON_LOAD,
                        apply_default_css=False, padding=False)  # fmt: skip
        film_note = gr.Markdown("", elem_id="film-note", visible=False)
        with gr.Row():
            prompt = gr.Textbox(label="Shot", lines=2, scale=4, elem_id="shot-prompt",
                                placeholder="What happens in this shot")  # fmt: skip
            with gr.Column(scale=2, min_width=220):
                seconds = gr.Number(label="Seconds", value=NEW_SHOT_S, minimum=0.1, maximum=60, elem_id="shot-seconds")
                begins = gr.Radio(["cut", "continue", "bridge"], value="cut", label="Begins", elem_id="shot-begins")
            with gr.Column(scale=2, min_width=200):
                camera = gr.Dropdown(camera_choices(studio), value="", label="Camera move", elem_id="shot-camera")
                reference = first_frame_input(label="Reference (a subject sheet, or the cut's first frame)", height=110,
                                              elem_id="shot-reference", sources=["upload"])  # fmt: skip
        names = ("Save shot", "Add shot", "Bridge to next", "Duplicate", "Delete", "◀ Move", "Move ▶", "Re-render shot")
        with gr.Row():
            buttons = {name: gr.Button(name, size="sm", variant="secondary", min_width=90) for name in names}
        with gr.Accordion("Retake or extend this shot", open=False, elem_id="shot-edit"):
            with gr.Row(equal_height=True):
                retake_from = gr.Number(label="Retake from (s)", value=0.0, minimum=0, elem_id="shot-retake-start")
                retake_to = gr.Number(label="to (s)", value=0.5, minimum=0, elem_id="shot-retake-end")
                buttons["Retake segment"] = gr.Button("Retake segment", size="sm", variant="secondary")
                extend_by = gr.Number(label="Extend by (s)", value=1.0, minimum=0.1, maximum=60, elem_id="shot-extend")
                buttons["Extend shot"] = gr.Button("Extend shot", size="sm", variant="secondary")
        with gr.Row():
            buttons["Render film"] = gr.Button("Render film", variant="primary", elem_id="film-render")
            buttons["Render stale shots"] = gr.Button("Render stale shots", variant="secondary")
            buttons["Export"] = gr.Button("Export", variant="secondary", elem_id="film-export")
        player = gr.Video(label="Film", interactive=False, elem_id="film-player", height=360)
        files = gr.File(label="Exported: mp4 and .otio edit", file_count="multiple", interactive=False,
                        elem_id="film-files", visible=False)  # fmt: skip
    tab = Timeline(tab, gr.State(""), gr.State(0), pick, new_btn, soundtrack, strip, film_note, prompt, seconds, begins,
                   camera, reference, buttons, player, files, [retake_from, retake_to, extend_by])  # fmt: skip
    _wire(studio, shared, tab)
    return tab


def _wire(studio: Studio, shared: Shared, t: Timeline) -> None:
    common = {"api_visibility": "private", "show_progress": "hidden"}
    outputs = [t.film, t.picked, t.pick, t.strip, t.note, t.prompt, t.seconds, t.begins, t.camera, t.player, t.files,
               t.soundtrack]  # fmt: skip
    fields = [t.prompt, t.seconds, t.begins, t.camera, t.reference]

    def shown(viewer, film_id, picked, said="", player=None, files=None, song=False) -> list:
        """Every output for the film `film_id` with shot `picked` in the editor, and a line to say; the
        Film list shows the films `viewer` may see (None: everyone's, as the Takes tab does)."""
        film = studio.film(film_id) if film_id else None
        picked = min(max(picked, 1), len(film["shots"])) if film else 0
        shot = _record_shot(studio, film, picked) if film else None
        editor = [gr.skip()] * 4
        if shot is not None:
            editor = [shot["prompt"], shot["seconds"], shot["begins"], shot["options"].get("camera", "")]
        return [
            film_id, picked, gr.update(choices=view.film_choices(studio, viewer), value=film_id or None),
            view.strip_html(studio, film, picked), _line(said), *editor,
            player if player is not None else gr.skip(),
            gr.update(value=files, visible=True) if files else gr.skip(),
            _song(studio, film_id) if song else gr.skip(),
        ]  # fmt: skip

    def refused(exc: Exception) -> list:
        """A refusal's one line under the strip; the film and the editor untouched."""
        return [gr.skip()] * 4 + [note(str(exc).splitlines()[0])] + [gr.skip()] * 7

    def mine(who: str, film_id: str) -> str:
        if not film_id:
            raise StudioError("make a film first: write its first shot, then New film")
        if not studio.may_act(who, studio.films.store.get(film_id).owner):
            raise StudioError(f"film {film_id} belongs to someone else: only its owner or an admin may change it")
        return film_id

    def opened(chosen, browser_id, request: gr.Request):
        viewer = shared.listed(browser_id, request)
        try:
            job = studio.jobs.film_job(chosen)  # a render that outlived the tab that started it
            said = f"Rendering: {job.stage or job.state} (job {job.id}; open the film again to see it)" if job else ""
            return shown(viewer, chosen, 1, said, player=_player(studio, chosen), song=True)
        except StudioError as exc:
            return refused(exc)

    def pick(film_id, browser_id, request: gr.Request, evt: gr.EventData):
        return shown(shared.listed(browser_id, request), film_id, int(evt.shot))

    def new_film(prompt, seconds, begins, camera, reference, song, browser_id, request: gr.Request):
        from ..render.film import film_from

        who, viewer = shared.owner(browser_id, request), shared.listed(browser_id, request)
        shot = {"prompt": prompt or "", "seconds": seconds or NEW_SHOT_S, "camera": camera or None}
        if reference:
            shot["reference"] = reference
        data = {"title": (prompt or "film").strip()[:40], "shots": [shot], **({"soundtrack": song} if song else {})}
        try:
            made = studio.make_film(film_from(data, Path("/"), "the film"), owner=who)
        except StudioError as exc:
            return refused(exc)
        return shown(viewer, made["id"], 1)

    def edit(action: str):
        def run(film_id, picked, prompt, seconds, begins, camera, reference, browser_id, request: gr.Request):
            who, viewer, films = (
                shared.owner(browser_id, request),
                shared.listed(browser_id, request),
                studio.films.edits,
            )
            try:
                film_id = mine(who, film_id)
                if action == "Save shot":
                    options = dict(_record_shot(studio, studio.film(film_id), picked)["options"])
                    options.pop("camera", None)
                    changes = {"prompt": prompt or "", "seconds": float(seconds or NEW_SHOT_S), "begins": begins,
                               "options": {**options, **({"camera": camera} if camera else {})}}  # fmt: skip
                    if reference:
                        changes["reference"] = Path(reference)
                    films.edit_shot(film_id, picked, **changes)
                elif action == "Add shot":
                    films.insert_shot(film_id, picked + 1, prompt or "", float(seconds or NEW_SHOT_S), begins)
                    if camera:
                        films.edit_shot(film_id, picked + 1, options={"camera": camera})
                    picked += 1
                elif action == "Bridge to next":  # gap fill: from this shot's last frame to the next one's first
                    films.bridge(film_id, picked, prompt or "", float(seconds or 1.0))
                    picked += 1
                elif action == "Duplicate":
                    films.duplicate_shot(film_id, picked)
                    picked += 1
                elif action == "Delete":
                    films.delete_shot(film_id, picked)
                else:
                    picked = picked - 1 if action == "◀ Move" else picked + 1
                    films.move_shot(film_id, picked + (1 if action == "◀ Move" else -1), picked)
            except StudioError as exc:
                return refused(exc)
            return shown(viewer, film_id, picked)

        return run

    def soundtrack_changed(film_id, picked, song, browser_id, request: gr.Request):
        who, viewer = shared.owner(browser_id, request), shared.listed(browser_id, request)
        if not film_id:
            return [gr.skip()] * len(outputs)
        try:
            studio.films.edits.set_soundtrack(mine(who, film_id), Path(song) if song else None)
        except StudioError as exc:
            return refused(exc)
        return shown(viewer, film_id, picked)

    def render(action: str):
        def run(film_id, picked, browser_id, request: gr.Request):
            who, viewer = shared.owner(browser_id, request), shared.listed(browser_id, request)
            try:
                film_id = mine(who, film_id)
                if action == "Re-render shot":
                    studio.rerender_film(film_id, [picked], owner=who)
                elif action == "Render stale shots":
                    studio.rerender_film(film_id, [], stale=True, owner=who)
                job = studio.submit(FilmRender(film_id), owner=who)
            except StudioError as exc:
                yield refused(exc)
                return
            events = shared.follow(job, request.session_hash)  # Stop reaches it from here
            yield shown(viewer, film_id, picked, "Rendering: queued")
            for kind in events:
                record = studio.job(job.id)
                said = f"Rendering: {record.stage or record.state}"
                if kind == "preview":  # a step: the line alone (the strip changes when a shot lands)
                    yield [gr.skip()] * 4 + [_line(said)] + [gr.skip()] * 7
                else:
                    yield shown(viewer, film_id, picked, said)
            record = studio.job(job.id)
            said = "" if record.state == "done" else f"⚠ The film's job {record.state}: {record.error or 'stopped'}"
            yield shown(viewer, film_id, picked, said, player=_player(studio, film_id))

        return run

    def edit_take(action: str):
        """A retake of a segment of the picked shot, or an extension of it: one job of the queue that also
        makes the film's new version with it (so a tab closed meanwhile loses nothing)."""

        def run(film_id, picked, start, end, by, browser_id, request: gr.Request):
            who, viewer = shared.owner(browser_id, request), shared.listed(browser_id, request)
            kind = "retake" if action == "Retake segment" else "extend"
            try:
                op = FilmShot(mine(who, film_id), picked, kind, float(start or 0), float(end or 0), float(by or 0))
                job = studio.submit(op, owner=who)
            except StudioError as exc:
                yield refused(exc)
                return
            events = shared.follow(job, request.session_hash)  # Stop reaches it from here
            yield shown(viewer, film_id, picked, f"{action}: queued")
            for kind in events:
                said = f"{action}: {studio.job(job.id).stage or kind}"
                yield [gr.skip()] * 4 + [_line(said)] + [gr.skip()] * 7
            record = studio.job(job.id)
            said = "" if record.state == "done" else f"⚠ {action} {record.state}: {record.error or 'stopped'}"
            yield shown(viewer, film_id, picked, said, player=_player(studio, film_id))

        return run

    def export(film_id, picked, browser_id, request: gr.Request):
        who, viewer = shared.owner(browser_id, request), shared.listed(browser_id, request)
        try:
            written = studio.export_film(mine(who, film_id))
        except (StudioError, OSError) as exc:  # a full disk too: one line, the film untouched
            return refused(exc)
        return shown(viewer, film_id, picked, player=written["mp4"], files=[written["mp4"], written["otio"]])

    def listed(browser_id, request: gr.Request):
        choices = view.film_choices(studio, shared.listed(browser_id, request))
        return gr.update(choices=choices)

    t.tab.select(listed, [shared.browser], [t.pick], **common)
    t.pick.input(opened, [t.pick, shared.browser], outputs, **common)
    t.strip.click(pick, [t.film, shared.browser], outputs, **common)
    t.new_btn.click(new_film, [*fields, t.soundtrack, shared.browser], outputs, **common)
    for name in ("Save shot", "Add shot", "Bridge to next", "Duplicate", "Delete", "◀ Move", "Move ▶"):
        t.buttons[name].click(edit(name), [t.film, t.picked, *fields, shared.browser], outputs, **common)
    t.soundtrack.input(soundtrack_changed, [t.film, t.picked, t.soundtrack, shared.browser], outputs, **common)
    for name in ("Retake segment", "Extend shot"):
        t.buttons[name].click(edit_take(name), [t.film, t.picked, *t.segment, shared.browser], outputs,
                              concurrency_limit=None, **common)  # fmt: skip
    t.buttons["Export"].click(export, [t.film, t.picked, shared.browser], outputs, **common)
    for name in ("Render film", "Render stale shots", "Re-render shot"):
        t.buttons[name].click(
            render(name), [t.film, t.picked, shared.browser], outputs, concurrency_limit=None, **common
        )


def _record_shot(studio: Studio, film: dict, number: int) -> dict | None:
    """The picked shot as the film's record keeps it (its options too)."""
    if not number:
        return None
    return studio.films.store.get(film["id"], film["version"]).record["shots"][number - 1]


def _line(text: str) -> dict:
    """The line under the strip: what is happening (a refusal is a `note`, with its sign)."""
    return gr.update(value=text, visible=bool(text))


def _song(studio: Studio, film_id: str | None) -> str | None:
    """The film's soundtrack as it keeps it, for the Soundtrack player (None: it has none)."""
    if not film_id:
        return None
    track = studio.films.store.get(film_id).record.get("soundtrack")
    return str(studio.store.root / track["file"]) if track else None


def _player(studio: Studio, film_id: str | None) -> str | None:
    """The film as one mp4 for the player, when every shot has a take that fits (else nothing to play)."""
    if not film_id:
        return None
    film = studio.film(film_id)
    if any(not shot["take"] or shot["stale"] for shot in film["shots"]):
        return None
    try:
        path = studio.films.exports / f"{film['id']}-v{film['version']}.mp4"
        if not path.exists():
            studio.export_film(film["id"])
        return str(path) if media.probe_mp4(path)["frames"] else None
    except (StudioError, OSError):
        return None
