"""The bench's own flags, and which way its figures print (table, JSON, or Markdown for BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import json

from ..core.commandline import OneLineParser
from .arch import ARCHS
from .levers import LEVERS
from .report import format_arch, format_studio, markdown
from .studio import CASES

DEFAULT_REPEAT = 30  # on this shared 2-core CPU about +-3% on the overhead ratio (BENCHMARKS.md); rows say when not


def build_parser(description: str) -> argparse.ArgumentParser:
    """`python -m ltx_studio bench` flags; a usage error is one line and exit code 2. `description`: the
    first line of the bench package's docstring (handed in, so this module does not import its package)."""
    parser = OneLineParser(prog="python -m ltx_studio bench", description=description)
    parser.add_argument(
        "--model-set", default="demo", help="for the studio bench (default demo, LTX-2; demo-ltxv for LTX-Video)"
    )
    parser.add_argument("--variants-file", metavar="FILE")
    parser.add_argument("--variant", help="for the studio bench: a one-stage variant (default: the set's default)")
    parser.add_argument("--cases", help=f"for the studio bench: comma list of {', '.join(CASES)} (default all)")
    parser.add_argument("--arch", choices=sorted(ARCHS), help="real-size (or tiny) random-weight benchmark")
    parser.add_argument("--device", default="cuda", help="for --arch (cuda or cpu)")
    parser.add_argument(
        "--workers", type=int, help="drafts per minute through the queue with 1 worker and with N (one per GPU, or CPU)"
    )
    parser.add_argument("--drafts", type=int, default=8, help="for --workers: drafts per timed run (default 8)")
    parser.add_argument("--levers", help=f"comma list of {', '.join(LEVERS)} (attention=NAME)")
    parser.add_argument("--sweep", action="store_true", help="measure each lever alone against the baseline")
    parser.add_argument(
        "--save",
        action="store_true",
        help="with --sweep: store the fastest safe levers as this GPU class's default for the studio",
    )
    parser.add_argument("--no-preview", action="store_true", help="for --arch: time without live previews")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument(
        "--repeat", type=int, default=None, help=f"timed runs per side (default {DEFAULT_REPEAT}; 3 with --arch)"
    )
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 2; 1 with --arch)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default 1 for the studio bench: both sides alike, steady on a shared CPU; "
        "torch's own with --arch)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON document")
    output.add_argument("--markdown", action="store_true", help="the tables as BENCHMARKS.md holds them")
    return parser


def flag_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of flags argparse accepted, or None (fills the defaults in)."""
    if args.workers is not None and (args.workers < 2 or args.arch):
        return "--workers needs a count of 2 or more, and goes without --arch"
    if args.drafts < 1:
        return "--drafts must be at least 1"
    if args.repeat is None:
        args.repeat = 3 if args.arch or args.workers else DEFAULT_REPEAT
    if args.warmup is None:
        args.warmup = 1 if args.arch else 2
    if args.threads is None and not args.arch:
        args.threads = 1
    if args.repeat < 1 or args.warmup < 0:
        return "--repeat must be at least 1 and --warmup at least 0"
    if args.threads is not None and args.threads < 1:
        return "--threads must be at least 1"
    if args.cases and not set(args.cases.split(",")) <= set(CASES):
        unknown = ", ".join(sorted(set(args.cases.split(",")) - set(CASES)))
        return f"unknown case {unknown} (choose from: {', '.join(CASES)})"
    if args.arch == "ltx2-22b" and not args.device.startswith("cuda"):
        return "--arch ltx2-22b needs a GPU (--device cuda; 72 GB of bf16 weights); on the CPU use --arch ltx2-tiny"
    if args.save and not (args.arch and args.sweep):
        return "--save needs --arch and --sweep (it keeps what the sweep measured)"
    if args.save and (args.warmup < 1 or args.repeat < 3):
        return "--save needs --warmup 1 or more and --repeat 3 or more (a cold run is no figure)"
    if args.save and ARCHS[args.arch].tiny and args.device != "cpu":
        return f"--save with --arch {args.arch} only on --device cpu: a GPU's levers come from its real sizes"
    return None


def print_figures(data: dict, args: argparse.Namespace, argv: list[str]) -> None:
    """The figures of either bench on stdout: one JSON document, Markdown, or the plain table."""
    if args.json:
        print(json.dumps(data, indent=2))
    elif data["bench"] == "workers":
        from .report import provenance
        from .workers import format_workers

        print(
            "\n".join([*provenance(data, argv), "", "```", format_workers(data), "```"])
            if args.markdown
            else format_workers(data)
        )
    elif args.markdown:
        print(markdown(data, argv))
    else:
        print(format_arch(data) if data["bench"] == "arch" else format_studio(data))
