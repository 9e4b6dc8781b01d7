"""Entry point of `python app.py`: flags -> Studio -> Gradio UI -> launch."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from .core.commandline import OneLineParser, quiet_libraries
from .core.errors import StudioError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python app.py", description="LTX Studio in the browser.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--model-set", help="ltxv (default with CUDA) or demo (default without)")
    parser.add_argument(
        "--variants", dest="variants_file", metavar="FILE", help="a variants TOML overriding shipped sets"
    )
    parser.add_argument("--outputs", default=os.environ.get("LTX_STUDIO_OUTPUTS", "outputs"))
    parser.add_argument(
        "--checkpoint",
        action="append",
        metavar="[VARIANT=]PATH",
        help="a single-file checkpoint you already have (e.g. ComfyUI's ltx-2.3-22b-distilled.safetensors) "
        "as the set's transformer, so nothing is downloaded twice; repeatable",
    )
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD|FILE",
        help="protect the page, the API and MCP: one user (user:password, an admin) or a users file, one "
        "user:password a line, user:password:admin for an admin, # comments (see README)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to this host name (e.g. behind a proxy); repeatable. Other "
        "names are refused (DNS rebinding guard); localhost, 127.0.0.1 and [::1] always work, and with "
        "--host other machines may use any of its IP addresses",
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="open a public Gradio link (off by default; its host is allowed once the link is up)",
    )
    parser.add_argument(
        "--devices",
        help="one worker per device, rendering at once: cuda:0,cuda:1,... or all (every visible GPU); "
        "cpu,cpu tries two CPU workers (default: this process on its one device)",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the workers as Ray actors on a Ray cluster (auto: the one this machine joined; local: start one "
        "here), one per GPU there; needs pip install -r requirements-ray.txt (see docs/scale-out.md)",
    )
    parser.add_argument(
        "--parallel-final",
        type=int,
        metavar="N",
        help="render each final (upscale or Pro re-render) across N GPUs with context parallelism "
        "(unverified; see docs/scale-out.md)",
    )
    parser.add_argument(
        "--mcp",
        action="store_true",
        help="also serve the studio to MCP agents at /gradio_api/mcp/ (tools: draft, upscale, compare, extend, "
        "batch, takes, ...)",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="don't load (and compile) the draft variants in the background at start",
    )
    return parser


def start_warm_up(studio) -> threading.Thread:
    """Load the draft variants (and compile them, when compiling) while the page opens; drafts wait for it."""

    def run():
        started = time.perf_counter()
        sys.stderr.write(f"warming up: {studio.model_set.name} ({studio.manager.policy.describe()})\n")
        try:
            seconds = studio.warm_up()
        except Exception as exc:  # the first draft will meet and report the same problem
            sys.stderr.write(f"warm-up stopped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}\n")
            return
        done = ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()) or "nothing on disk yet"
        sys.stderr.write(f"warm: {done} (total {time.perf_counter() - started:.1f} s)\n")

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread


def exposure_warning(host: str, share: bool, auth) -> str | None:
    """What to warn about when the studio is reachable from other machines without a password."""
    if auth is not None or (not share and _is_loopback(host)):
        return None
    where = "a public share link" if share else f"{host}, reachable from other machines,"
    return f"serving {where} without --auth: anyone who can reach it can render and read every take"


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    quiet_libraries()
    try:
        from .jobs.workers import parse_devices
        from .studio import Studio
        from .ui.page import launch
        from .ui.server.doors import Users

        devices = parse_devices(args.devices)  # a bad device is one line, before anything loads
        auth = Users.parse(args.auth) if args.auth else None  # a bad users file too
        studio = Studio(
            model_set_name=args.model_set, variants_file=args.variants_file, outputs=args.outputs,
            checkpoints=args.checkpoint,
        )  # fmt: skip
        if args.checkpoint:  # for the worker processes and parallel ranks this process starts
            from .models.checkpoints import export

            export(studio.model_set.name, args.checkpoint)
        if args.parallel_final is not None:
            from .jobs.parallel import check_parallel_final

            if devices or args.ray:
                raise StudioError("--parallel-final goes without --devices and --ray (it uses the GPUs itself)")
            check_parallel_final(args.parallel_final, studio.manager.family)
            studio.start_jobs(parallel_final=args.parallel_final)
        studio.admins = auth.admins if auth else frozenset()  # who may see and cancel every job
        warning = exposure_warning(args.host, args.share, auth)
        if warning:
            sys.stderr.write(f"warning: {warning}\n")
        if devices or args.ray:
            where = f"Ray at {args.ray}" if args.ray else ", ".join(devices)
            sys.stderr.write(f"starting workers ({where})\n")
            studio.start_jobs(devices, ray=args.ray)  # each worker loads its own models with its first job
            sys.stderr.write("workers: " + ", ".join(w.name for w in studio.workers) + "\n")
        elif args.warmup:
            start_warm_up(studio)
        if args.mcp:
            sign_in = " (with HTTP basic credentials of --auth)" if auth else ""
            sys.stderr.write(
                f"MCP server: http://{args.host}:{args.port}/gradio_api/mcp/ (SSE: .../mcp/sse){sign_in}\n"
            )
        launch(
            studio, host=args.host, port=args.port, auth=auth, share=args.share, mcp=args.mcp,
            allow_hosts=args.allow_host,
        )  # fmt: skip
    except StudioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0
