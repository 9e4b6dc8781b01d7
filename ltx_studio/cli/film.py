"""`python -m ltx_studio film`: a film from a shot list, rendered here shot by shot, then edited and exported.

film FILE [--json] [--no-render]     a shot list (.toml/.json) or an edit (.otio) as a new film, rendered
film render FILM_ID                  render the shots of its newest version that have no take
film rerender FILM_ID --shot N       a new version with shot N (1-based, repeatable) rendered again
film rerender FILM_ID --stale        ... with every stale shot rendered again
film export FILM_ID [--mp4 P] [--otio P]   one mp4 and/or an .otio edit (both into OUTPUTS/films/exports
                                     when neither is named)
film list | film show FILM_ID [--version V]
"""

from __future__ import annotations

import argparse
import sys

from ..core.errors import BadInput
from .common import Bar, open_studio, print_result, progress_printer

ACTIONS = ("render", "rerender", "retake", "extend", "export", "list", "show")


def add_parser(commands, common) -> None:
    film = commands.add_parser("film", help="a film of shots against one soundtrack: render, re-render, export")
    common(film)
    film.add_argument("target", help=f"a shot list (.toml, .json) or edit (.otio), or one of: {', '.join(ACTIONS)}")
    film.add_argument("film_id", nargs="?", help="the film (for render, rerender, export, show)")
    film.add_argument("--shot", type=int, action="append", default=[], help="rerender: shot N (1-based), repeatable")
    film.add_argument("--stale", action="store_true", help="rerender: every stale shot too")
    film.add_argument("--version", type=int, help="show or export: this version (default: the newest)")
    film.add_argument("--mp4", help="export: the film as one mp4")
    film.add_argument("--otio", help="export: the film as an OpenTimelineIO edit")
    film.add_argument("--no-render", action="store_true", help="make the film without rendering it")
    film.add_argument("--start", type=float, help="retake: the segment's start, seconds into the shot")
    film.add_argument("--end", type=float, help="retake: the segment's end, seconds into the shot")
    film.add_argument("--seconds", type=float, help="extend: how much longer")
    film.add_argument("--prompt", help="retake or extend: what happens (default: the shot's prompt)")


def cmd_film(args: argparse.Namespace) -> int:

    studio = open_studio(args)
    if args.target == "list":
        films = studio.film_list()
        print_result(args, films, "\n".join(_film_line(film) for film in films) or "no films yet")
        return 0
    if args.target in ACTIONS and not args.film_id:
        raise BadInput(f"film {args.target} needs a film id (python -m ltx_studio film list shows them)")
    if args.target == "show":
        film = studio.film(args.film_id, args.version)
    elif args.target == "export":
        written = studio.export_film(args.film_id, version=args.version, mp4=args.mp4, otio=args.otio)
        print_result(args, written, "\n".join(str(written[key]) for key in ("mp4", "otio") if key in written))
        return 0
    elif args.target == "rerender":
        if not args.shot and not args.stale:
            raise BadInput("film rerender needs --shot N (1-based) or --stale")
        film = studio.rerender_film(args.film_id, args.shot, stale=args.stale)
        film = _render(studio, args, film)
    elif args.target in ("retake", "extend"):
        film = _edit_shot(studio, args)
    elif args.target == "render":
        film = _render(studio, args, studio.film(args.film_id))
    else:
        film = studio.make_film(args.target)
        if not args.no_render:
            film = _render(studio, args, film)
    print_result(args, film, _film_text(film))
    return 0


def _edit_shot(studio, args) -> dict:
    """A retake of a segment of one shot, or an extension of it, as the film's new version."""
    if len(args.shot) != 1:
        raise BadInput(f"film {args.target} needs one --shot N (1-based)")
    shown = progress_printer(args)
    if args.target == "retake":
        if args.start is None or args.end is None:
            raise BadInput("film retake needs --start and --end (seconds into the shot)")
        return studio.retake_shot(args.film_id, args.shot[0], args.start, args.end, prompt=args.prompt, on_event=shown)
    if args.seconds is None:
        raise BadInput("film extend needs --seconds (how much longer)")
    return studio.extend_shot(args.film_id, args.shot[0], args.seconds, prompt=args.prompt, on_event=shown)


def _render(studio, args, film: dict) -> dict:
    """Render a version's shots without takes here, with a progress bar on a terminal."""
    from ..core.events import TakeDone

    todo = [shot for shot in film["shots"] if not shot["take"]]
    if not todo:
        return film
    bar = Bar(len(todo), sys.stderr.isatty() and not args.quiet)
    lines = None if bar.enabled else progress_printer(args)

    def show(event) -> None:
        if isinstance(event, TakeDone):
            bar.done(event.take)
        if bar.enabled:
            bar.show(event)
        elif lines is not None:
            lines(event)

    try:
        return studio.render_film(film["id"], version=film["version"], on_event=show)
    finally:
        bar.close()


def _film_line(film: dict) -> str:
    rendered = sum(1 for shot in film["shots"] if shot["take"])
    return (
        f"{film['id']} v{film['version']} {len(film['shots'])} shots ({rendered} rendered) "
        f"{film['seconds']:.2f} s {film['width']}x{film['height']}@{film['fps']}  {film['title']!r}"
    )


def _film_text(film: dict) -> str:
    lines = [_film_line(film)]
    for shot in film["shots"]:
        end = shot["start"] + shot["seconds"]
        stale = " STALE" if shot["stale"] else ""
        lines.append(
            f"  shot {shot['shot']:<2} {shot['begins']:8} {shot['start']:6.2f}-{end:6.2f} s  "
            f"{shot['take'] or '(not rendered)'}{stale}  {shot['prompt'][:50]!r}"
        )
    return "\n".join(lines)
