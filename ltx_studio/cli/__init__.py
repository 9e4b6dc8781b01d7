"""Command line: python -m ltx_studio render|upscale|compare|extend|batch|film|enhance|takes|jobs|models|bench.

Every command takes --json to print one JSON document on stdout. Bad input of any kind exits
with code 2 and one line on stderr; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..core.commandline import EXIT_BAD_INPUT, OneLineParser, quiet_libraries
from ..core.errors import StudioError
from .common import Bar, common, open_studio, outputs, print_result, progress_printer
from .film import add_parser as add_film
from .film import cmd_film
from .finish import add_parser as add_finish
from .finish import cmd_finish


def _seconds(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds or auto") from None


def _render_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default="", help="what should happen in the video")
    parser.add_argument("--negative", dest="negative_prompt", help="negative prompt (default: the set's)")
    parser.add_argument("--image", help="first frame (any image Pillow reads)")
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--resolution", help="a preset: 540p, 720p, 1080p")
    parser.add_argument("--frames", type=int, help="frame count (snapped to 8k+1)")
    parser.add_argument(
        "--seconds", type=_seconds, help='duration, instead of --frames; "auto": LTX-2.5 picks it from the prompt'
    )
    parser.add_argument("--fps", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--seed", type=int, default=-1, help="-1 (default) picks one and records it")
    parser.add_argument("--no-audio", action="store_true", help="a silent mp4 (LTX-2 sets make sound by default)")
    parser.add_argument(
        "--keyframe",
        action="append",
        default=[],
        metavar="PATH@SECONDS[:STRENGTH]",
        help="an image the clip passes through at that time (repeatable; --image is a keyframe at 0)",
    )
    parser.add_argument("--video", help="a video to restyle or re-time (video-to-video)")
    parser.add_argument("--strength", type=float, default=1.0, help="how closely to follow --video (0-1]")
    parser.add_argument("--reference", help="LTX-2 IC-LoRA control: a depth / pose / edges video (with --lora)")
    parser.add_argument(
        "--audio",
        help="LTX-2 audio-to-video: the picture follows this soundtrack (wav, mp3, m4a, flac, or a video's sound); "
        "the clip lasts as long as the sound unless --frames/--seconds say otherwise",
    )
    parser.add_argument("--audio-start", type=float, default=0.0, help="seconds into --audio to start from")
    parser.add_argument(
        "--camera",
        help="a camera move: dolly-in, dolly-out, dolly-left, dolly-right, jib-up, jib-down, static (LTX-2 sets)",
    )
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="REPO_OR_PATH[:WEIGHT]",
        help="a LoRA (safetensors: a file, a name in $LTX_STUDIO_LORAS or OUTPUTS/loras, a cached Hub id); repeatable",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m ltx_studio", description="LTX Studio: fast drafts with LTX Video.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    render = commands.add_parser("render", help="render a draft take")
    common(render)
    _render_options(render)
    render.add_argument("--variant", help="fast, distilled or pro (default: the set's)")

    upscale = commands.add_parser("upscale", help="approve a draft and make its final")
    common(upscale)
    upscale.add_argument("take_id")
    upscale.add_argument("--mode", default="latent", help="latent (x2 upsampler + refine) or pro (re-render)")
    upscale.add_argument("--width", type=int)
    upscale.add_argument("--height", type=int)

    compare = commands.add_parser("compare", help="render one prompt with several variants, same seed")
    common(compare, variants_flag=False)
    _render_options(compare)
    compare.add_argument("--variants", dest="variant_list", default="fast,distilled,pro", help="comma-separated")

    extend = commands.add_parser("extend", help="continue a take past its end (or before its start)")
    common(extend)
    extend.add_argument("take_id")
    extend.add_argument("--seconds", type=float, required=True, help="how much longer")
    extend.add_argument("--prompt", help="what happens next (default: the take's prompt)")
    extend.add_argument("--backward", action="store_true", help="extend before the take's first frame")

    batch = commands.add_parser("batch", help="render a list of prompts (and/or several seeds of each) as takes")
    common(batch)
    _render_options(batch)
    batch.add_argument(
        "--prompts", metavar="FILE", help="one prompt per line, or a CSV with prompt,seed,seconds,first_frame columns"
    )
    batch.add_argument("--seeds", type=int, default=1, help="takes per prompt, each with its own seed (1-16)")
    batch.add_argument("--variant", help="fast, distilled or pro (default: the set's)")

    jobs = commands.add_parser("jobs", help="the server's job queue: list, or cancel a job")
    common(jobs)
    jobs.add_argument("action", choices=["list", "cancel"])
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--limit", type=int, default=50)

    takes = commands.add_parser("takes", help="list, show, approve or delete takes")
    common(takes)
    takes.add_argument("action", choices=["list", "show", "approve", "unapprove", "delete"])
    takes.add_argument("take_id", nargs="?")
    takes.add_argument("--limit", type=int)

    models = commands.add_parser("models", help="list, check or download model sets")
    common(models)
    models.add_argument("action", choices=["list", "check", "download"])
    models.add_argument("variant", nargs="?", help="for download: fast, distilled, pro or all")

    enhance = commands.add_parser("enhance", help="rewrite a short idea as a detailed LTX-2 prompt")
    common(enhance)
    enhance.add_argument("--prompt", required=True, help="the idea to expand")
    enhance.add_argument("--image", help="a first frame (image-to-video system prompt)")
    enhance.add_argument("--seed", type=int, default=10, help="same seed, same text (default 10)")

    soundtrack = commands.add_parser("soundtrack", help="give a silent clip (a take or a video file) its sound")
    common(soundtrack)
    soundtrack.add_argument("source", help="a take id or a video file")
    soundtrack.add_argument("--prompt", help="what it should sound like (default: the take's prompt)")
    soundtrack.add_argument("--seed", type=int, default=-1)

    retake = commands.add_parser("retake", help="regenerate one segment of a take; the rest stays as it is")
    common(retake)
    retake.add_argument("take_id")
    retake.add_argument("--start", type=float, required=True, help="segment start, seconds")
    retake.add_argument("--end", type=float, required=True, help="segment end, seconds")
    retake.add_argument("--prompt", help="what happens in the segment (default: the take's prompt)")
    retake.add_argument("--what", default="both", help="both (picture and sound), video or audio")
    retake.add_argument("--seed", type=int, default=-1)

    add_film(commands, common)
    add_finish(commands, common)
    commands.add_parser("bench", help="measure the studio (see BENCHMARKS.md and bench --help)")
    return parser


def _take_line(take) -> str:
    flags = (" approved" if take.approved else "") + (" MISSING FILES" if take.status != "ok" else "")
    parent = f" <- {take.parent}" if take.parent else ""
    total = take.timings.get("total")
    took = f" {total:.1f}s" if total is not None else ""
    sound = " sound" if take.audio else ""
    return (
        f"{take.id} {take.kind:7} {take.variant:9} {take.width}x{take.height} {take.frames}f seed {take.seed}"
        f"{took}{sound}{flags}{parent}  {take.prompt[:60]!r}"
    )


def _request(args, variant: str | None):
    from ..render.conditions import parse_keyframe
    from ..render.request import RenderRequest

    return RenderRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        variant=variant,
        seed=args.seed,
        width=args.width,
        height=args.height,
        resolution=args.resolution,
        frames=args.frames,
        seconds=args.seconds,
        fps=args.fps,
        steps=args.steps,
        guidance=args.guidance,
        audio=not args.no_audio,
        image=args.image,
        keyframes=[parse_keyframe(spec) for spec in args.keyframe],
        video=args.video,
        video_strength=args.strength,
        loras=args.lora,
        reference=args.reference,
        camera=args.camera,
        soundtrack=args.audio,
        soundtrack_start=args.audio_start,
    )


def cmd_render(args) -> int:
    studio = open_studio(args)  # loads no weights; the request is checked before any load
    take = studio.render(_request(args, args.variant), on_event=progress_printer(args), preview=False)
    track = take.settings.get("soundtrack") or {}
    if track.get("cut") and not args.quiet:
        sys.stderr.write(f"the soundtrack is longer than the clip: the take follows its first {track['seconds']:g} s\n")
    print_result(args, take.to_json(), f"{_take_line(take)}\n{take.path('video')}")
    return 0


def cmd_compare(args) -> int:
    variants = [v.strip() for v in args.variant_list.split(",") if v.strip()]
    studio = open_studio(args)
    takes = studio.compare(_request(args, None), variants, on_event=progress_printer(args))
    print_result(args, [t.to_json() for t in takes], "\n".join(_take_line(t) for t in takes))
    return 0


def cmd_upscale(args) -> int:
    studio = open_studio(args)  # an unknown id fails before any load
    take = studio.upscale(
        args.take_id, mode=args.mode, width=args.width, height=args.height, on_event=progress_printer(args)
    )
    print_result(args, take.to_json(), f"{_take_line(take)}\n{take.path('video')}")
    return 0


def cmd_extend(args) -> int:
    studio = open_studio(args)
    take = studio.extend(
        args.take_id, args.seconds, prompt=args.prompt, backward=args.backward, on_event=progress_printer(args)
    )
    print_result(args, take.to_json(), f"{_take_line(take)}\n{take.path('video')}")
    return 0


def cmd_soundtrack(args) -> int:
    studio = open_studio(args)
    take = studio.soundtrack(args.source, prompt=args.prompt, seed=args.seed, on_event=progress_printer(args))
    print_result(args, take.to_json(), f"{_take_line(take)}\n{take.path('video')}")
    return 0


def cmd_retake(args) -> int:
    studio = open_studio(args)
    take = studio.retake(
        args.take_id, args.start, args.end, prompt=args.prompt, what=args.what, seed=args.seed,
        on_event=progress_printer(args),
    )  # fmt: skip
    asked, used = take.snapped["retake"]["asked"], take.snapped["retake"]["used"]
    if asked != used and not args.quiet:  # edges snap outward to whole latent frames (8 frames)
        sys.stderr.write(
            f"segment snapped to the latent grid: {asked[0]:g}-{asked[1]:g} s -> {used[0]:g}-{used[1]:g} s\n"
        )
    print_result(args, take.to_json(), f"{_take_line(take)}\n{take.path('video')}")
    return 0


def cmd_batch(args) -> int:
    """Every render of the batch in this process; a row that cannot render is named and skipped.
    --json prints one JSON line per take as it lands; a terminal shows a progress bar."""
    from pathlib import Path

    from ..render.prompts import read_prompts

    rows, problems = None, []
    if args.prompts:
        path = Path(args.prompts).expanduser()
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise StudioError(f"cannot read the prompt list {path}: {getattr(exc, 'strerror', None) or exc}") from None
        rows, problems = read_prompts(text, base=path.parent)
        if not rows:
            raise StudioError(problems[0] if problems else f"no prompts in {path}")
    elif not args.prompt and not args.image:
        raise StudioError("batch needs --prompts FILE, or --prompt (with --seeds N)")
    studio = open_studio(args)
    requests, refused = studio.prepare_batch(_request(args, args.variant), rows, args.seeds)
    problems += refused
    for line in problems:
        sys.stderr.write(f"skipped {line}\n")
    if not requests:
        raise StudioError("no row of the batch can render (see above)")
    bar = Bar(len(requests), enabled=not args.quiet and sys.stderr.isatty())

    def on_event(event) -> None:
        from ..core.events import Progress, TakeDone

        if isinstance(event, TakeDone):
            bar.done(event.take)
            if args.json:
                print(json.dumps(event.take.to_json()), flush=True)
            elif not args.quiet:
                bar.line(_take_line(event.take))
        elif isinstance(event, Progress):
            bar.show(event)

    takes, failures = studio.batch(requests, on_event=on_event)
    bar.close()
    for line in failures:
        sys.stderr.write(f"failed {line}\n")
    if not args.json:
        print(f"{len(takes)} of {len(requests)} takes made" + (f"; {len(problems)} rows skipped" if problems else ""))
    if problems or failures:
        sys.stderr.write(f"error: {len(problems) + len(failures)} row(s) did not render (see above)\n")
        return EXIT_BAD_INPUT
    return 0


def cmd_jobs(args) -> int:
    """The queue of the studio serving this outputs folder: read from its database; a cancel is
    asked for through it (a queued job never runs; the server stops a running one after its step)."""
    from ..core.errors import BadInput
    from ..jobs.queue import JobQueue, describe
    from ..library.takes import TakeStore

    jobs = JobQueue(TakeStore(outputs(args)))
    if args.action == "list":
        listed = jobs.list(limit=args.limit)
        queued = [job.id for job in listed if job.state == "queued"]
        lines = [describe(job, queued.index(job.id) + 1 if job.id in queued else None) for job in listed]
        print_result(args, [job.to_json() for job in listed], "\n".join(lines) or "no jobs yet")
        return 0
    if not args.job_id:
        raise BadInput("jobs cancel needs a job id (python -m ltx_studio jobs list shows them)")
    record = jobs.request_cancel(args.job_id)
    said = "cancelled" if record.state == "cancelled" else "stopping: the studio stops it after the current step"
    print_result(args, record.to_json(), f"{record.id}: {said}")
    return 0


def cmd_enhance(args) -> int:
    studio = open_studio(args)
    result = studio.enhance(args.prompt, image=args.image, seed=args.seed, on_event=progress_printer(args))
    print_result(args, result, result["enhanced"])
    return 0


def cmd_takes(args) -> int:
    from ..core.errors import BadInput
    from ..library.takes import TakeStore

    store = TakeStore(outputs(args))
    if args.action == "list":
        takes = store.list(args.limit)
        print_result(args, [t.to_json() for t in takes], "\n".join(_take_line(t) for t in takes) or "no takes yet")
        return 0
    if not args.take_id:
        raise BadInput(f"takes {args.action} needs a take id")
    if args.action == "show":
        take = store.get(args.take_id)
        print_result(args, take.to_json(), json.dumps(take.to_json(), indent=2))
    elif args.action in ("approve", "unapprove"):
        take = store.approve(args.take_id, args.action == "approve")
        print_result(args, take.to_json(), _take_line(take))
    else:
        store.delete(args.take_id)
        print_result(args, {"deleted": args.take_id}, f"deleted {args.take_id}")
    return 0


def cmd_models(args) -> int:
    from ..models import download as models

    if args.action == "list":
        data = models.describe_sets(args.variants_file)
        print_result(args, data, models.format_sets(data))
    elif args.action == "check":
        data = models.check(args.variants_file, args.model_set)
        print_result(args, data, models.format_check(data))
    else:
        data = models.download(args.variants_file, args.model_set, args.variant, quiet=args.quiet)
        print_result(args, data, "\n".join(f"{k}: {v}" for k, v in data["components"].items()))
    return 0


COMMANDS = {
    "enhance": cmd_enhance,
    "render": cmd_render,
    "compare": cmd_compare,
    "upscale": cmd_upscale,
    "extend": cmd_extend,
    "takes": cmd_takes,
    "batch": cmd_batch,
    "jobs": cmd_jobs,
    "models": cmd_models,
    "soundtrack": cmd_soundtrack,
    "retake": cmd_retake,
    "film": cmd_film,
    "finish": cmd_finish,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # bench has its own flags (see bench/cli.py)
        from .. import bench

        return bench.main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        quiet_libraries()
        return COMMANDS[args.command](args)
    except StudioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("stopped\n")
        return 130


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
