"""What every command shares: the common flags, the studio they open, how they print, and the progress bar."""

from __future__ import annotations

import argparse
import json
import os
import sys


def common(parser: argparse.ArgumentParser, *, variants_flag: bool = True) -> None:
    parser.add_argument("--model-set", help="model set (default: the newest set on disk with CUDA, else demo)")
    flags = ["--variants-file"] + (["--variants"] if variants_flag else [])
    parser.add_argument(*flags, dest="variants_file", metavar="FILE", help="a variants TOML overriding shipped sets")
    parser.add_argument("--outputs", help="takes folder (default: $LTX_STUDIO_OUTPUTS or ./outputs)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        metavar="[VARIANT=]PATH",
        help="a single-file checkpoint you already have (e.g. ComfyUI's ltx-2.3-22b-distilled.safetensors) "
        "as the set's transformer; repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def outputs(args) -> str:
    return args.outputs or os.environ.get("LTX_STUDIO_OUTPUTS") or "outputs"


def print_result(args, data, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def progress_printer(args):
    from ..core.events import Progress

    if args.quiet:
        return None

    def show(event) -> None:
        if isinstance(event, Progress) and event.message:
            sys.stderr.write(f"[{event.stage}] {event.message}\n")

    return show


def open_studio(args):
    from ..studio import Studio

    checkpoints = getattr(args, "checkpoint", None)
    return Studio(
        model_set_name=args.model_set, variants_file=args.variants_file, outputs=outputs(args), checkpoints=checkpoints
    )


class Bar:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.finished, self.enabled = total, 0, enabled

    def show(self, event) -> None:
        if not self.enabled:
            return
        filled = int(self.finished / self.total * 30)
        stage = f"{event.stage} {min(max(event.fraction, 0.0), 1.0):.0%}"
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.finished}/{self.total} {stage}"[:79].ljust(79))
        sys.stderr.flush()

    def done(self, take) -> None:
        self.finished += 1

    def line(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")
        print(text, flush=True)

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")
