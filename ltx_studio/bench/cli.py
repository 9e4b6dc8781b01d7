"""The bench's own flags, and how its figures print: a table per bench, or one JSON document (--json)."""

from __future__ import annotations

import argparse
import json

from ..commandline import OneLineParser
from .arch import ARCH_CASES
from .levers import LEVERS, SAFE_STEP_ERROR


def build_parser() -> argparse.ArgumentParser:
    """`python -m ltx_studio bench` flags; a usage error is one line and exit code 2."""
    from .. import bench  # the package's docstring is the bench's description

    parser = OneLineParser(prog="python -m ltx_studio bench", description=bench.__doc__.splitlines()[0])
    parser.add_argument(
        "--model-set",
        default="demo-ltxv",
        help="for the studio bench (default demo-ltxv; its bare baseline is LTX-Video)",
    )
    parser.add_argument("--variants-file", metavar="FILE")
    parser.add_argument("--arch", choices=sorted(ARCH_CASES), help="real-size (or tiny) random-weight benchmark")
    parser.add_argument("--device", default="cuda", help="for --arch (cuda or cpu)")
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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser


def flag_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of flags argparse accepted, or None."""
    if args.repeat < 1 or args.warmup < 0:
        return "--repeat must be at least 1 and --warmup at least 0"
    if args.save and not (args.arch and args.sweep):
        return "--save needs --arch and --sweep (it keeps what the sweep measured)"
    if args.save and (args.warmup < 1 or args.repeat < 3):
        return "--save needs --warmup 1 or more and --repeat 3 or more (a cold run is no figure)"
    if args.save and args.arch == "tiny" and args.device != "cpu":
        return "--save with --arch tiny only on --device cpu: a GPU's levers come from its real sizes"
    return None


def print_figures(data: dict, as_json: bool) -> None:
    """The figures of either bench on stdout: one JSON document, or its table."""
    text = format_arch(data) if data["bench"] == "arch" else format_studio(data)
    print(json.dumps(data, indent=2) if as_json else text)


def format_studio(data: dict) -> str:
    """The studio bench's table: one line per comparison (plus the bytes a switch loads)."""
    lines = [
        f"studio bench · {data['model_set']}/{data['variant']} · {data['size']} · {data['steps']} steps · "
        f"{data['policy']} · median of {data['repeat']} after {data['warmup']} warm-up",
        f"{'case':14} {'A':40} {'A s':>9} {'B':32} {'B s':>9} {'A/B':>7} {'goal':>10} {'peak MB':>8}",
    ]
    for r in data["rows"]:
        lines.append(
            f"{r['case']:14} {r['a']['label']:40} {r['a']['seconds']:9.4f} {r['b']['label']:32} "
            f"{r['b']['seconds']:9.4f} {r['ratio']:7.3f} {r['goal']:>10} {r['peak_rss_mb']:8.0f}"
        )
        if "bytes_loaded_per_switch" in r:
            lines.append(
                f"{'':14} bytes loaded per switch {r['bytes_loaded_per_switch']:,} "
                f"(shared components not reloaded: {r['shared_bytes_not_reloaded']:,})"
            )
    return "\n".join(lines)


def format_arch(data: dict) -> str:
    """The arch bench's table: per configuration and case, the times, the judgement and the stages (and the choice)."""
    lines = [
        f"arch bench · {data['arch']} on {data['device']} · median of {data['repeat']} after {data['warmup']} warm-up"
        f" · safe = one step within {data['safe_step_error']:.0%} of the baseline's"
    ]
    for r in data["results"]:
        if r.get("unavailable"):
            lines.append(f"{r['levers']:24} {r['case']:30} unavailable here")
            lines += [f"{'':24} note: {note}" for note in r["notes"]]
            continue
        stages = " ".join(f"{k} {v:.3f}" for k, v in r["stages"].items())
        gpu = f" · peak GPU {r['peak_gpu_gb']} GB" if r["peak_gpu_gb"] is not None else ""
        warm = f" · first run {r['warmup_seconds']:.2f} s" if r["warmup_seconds"] is not None else ""
        lines.append(
            f"{r['levers']:24} {r['case']:30} {r['size']:14} {r['seconds']:8.3f} s · {r['seconds_per_step'] * 1000:.1f} ms/step "
            f"(FLOP bound {r['flop_bound_seconds_per_step'] * 1000:.3f}){gpu} · peak RSS {r['peak_rss_gb']} GB{warm}"
        )
        lines.append(f"{'':24} {_judgement(r)} · warm-up {r['warm_up_seconds']:.2f} s")
        lines.append(f"{'':24} {stages}")
        lines += [f"{'':24} note: {note}" for note in r["notes"]]
    chosen = data.get("chosen") or {}
    if "error" in chosen:
        lines.append(f"not saved: {chosen['error']}")
    elif chosen:
        lines.append(
            f"chosen for {chosen['gpu_class']} ({chosen['gpu']}): {chosen['chosen']} · {chosen['chosen_seconds']:.3f} s "
            f"vs baseline {chosen['baseline_seconds']:.3f} s (runs {chosen['baseline_noise']:.1%} apart) on {chosen['case']}"
            f" · saved to {chosen['file']}"
        )
    return "\n".join(lines)


def _judgement(row: dict) -> str:
    if row["step_error"] is None:
        return "no baseline for this case to compare with"
    psnr = "identical" if row["psnr_db"] is None else f"PSNR {row['psnr_db']:g} dB"
    verdict = "safe" if row["safe"] else "NOT safe" if row["step_error"] > SAFE_STEP_ERROR else "not judged"
    return (
        f"vs baseline: one step {row['step_error']:.2%} -> {verdict}; "
        f"whole draft: video {psnr}, latents {row['latent_rel_error']:.2%} apart"
    )
