"""`python -m ltx_studio finish SOURCE --pass NAME`: a finishing pass on a take or a video file, run here.

finish SOURCE --pass NAME [--factor 2|4] [--prompt TEXT] [--exr] [--seed N] [--json]
finish --list                         the passes of the model set, a line each on what each is for
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import BadInput
from .common import open_studio, print_result, progress_printer


def add_parser(commands, common) -> None:
    finish = commands.add_parser(
        "finish", help="a finishing pass on a take or a video: frame rate, slow motion, HDR, repair, matte"
    )
    common(finish)
    finish.add_argument("source", nargs="?", help="a take id or a video file")
    finish.add_argument("--pass", dest="pass_name", help="the pass (finish --list shows the model set's)")
    finish.add_argument("--factor", help="frame rate or slow motion: 2 or 4 (default 2)")
    finish.add_argument("--prompt", help="what the clip shows (default: the take's); a clean plate needs one")
    finish.add_argument("--exr", action="store_true", help="hdr: OpenEXR frames too, for grading")
    finish.add_argument("--seed", type=int, default=-1)
    finish.add_argument("--list", action="store_true", help="list the model set's passes")


def cmd_finish(args: argparse.Namespace) -> int:
    studio = open_studio(args)
    passes = studio.model_set.passes
    if args.list:
        rows = [{"pass": p.name, "kind": p.kind, "about": p.about} for p in passes.values()]
        text = "\n".join(f"{p.name:14} {p.about}" for p in passes.values())
        print_result(args, rows, text or f"model set {studio.model_set.name} has no finishing passes")
        return 0
    if not args.source or not args.pass_name:
        raise BadInput("finish needs a source (a take id or a video file) and --pass NAME (finish --list shows them)")
    take = studio.finish(
        args.source, args.pass_name, factor=args.factor, prompt=args.prompt, seed=args.seed, exr=args.exr,
        on_event=progress_printer(args),
    )  # fmt: skip
    record = take.to_json()
    files = {what: str(Path(take.folder) / name) for what, name in take.settings.get("files", {}).items()}
    record.update(path=str(take.path("video")), files=files, **{"pass": take.settings["finish"]})
    lines = [f"{take.id} <- {take.parent or take.settings['finish']['source']}: {take.frames} frames at {take.fps} fps"]
    lines += [str(take.path("video")), *files.values()]
    print_result(args, record, "\n".join(lines))
    return 0
