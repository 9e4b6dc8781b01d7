"""Benchmarks that print their figures: python -m ltx_studio bench [--arch ARCH] [--json | --markdown].

Without --arch: the studio against itself and against bare diffusers on one loaded model set
(default `demo`, LTX-2; `demo-ltxv` for LTX-Video), every comparison measured side by side in one
run, interleaved, every run kept: min/median/max per side, the ratio of medians and how far the
spread lets it be trusted:

- overhead         the studio's draft (validation included) vs the same work as bare diffusers calls
- overhead e2e     the same, with the files written (the studio's mp4, latents, poster, index; the bare mp4)
- plain diffusers  the studio's draft vs diffusers as its docs call it (float frames and its writer)
- switch           a cached variant switch vs a cold load of the same transformer (and bytes loaded)
- prompt cache     a render with a cached prompt embedding vs one that runs the text encoder
- preview          seconds per denoising step with the live preview on vs off
- batch of 8       eight seeds as one batch job vs eight separate renders

With --workers N: drafts per minute through the queue with one worker process and with N.

With --arch tiny|ltxv-2b|ltxv-13b|ltx2-tiny|ltx2-22b: architectures with random weights (same FLOPs
as real weights) run the studio's full draft path (text encoding, denoise, decode, mp4 write) per
stage, with peak memory, for each speed lever on and off (--levers).

Modules: `studio` (the comparisons without --arch), `baseline` (the bare diffusers calls and the
same-work check), `arch` (the --arch runs), `ltx2_arch` (LTX-2.3 22B and Gemma 3 12B presets built
on the meta device), `levers` (which configurations to sweep, judging them, --save), `measure`
(timing, spread, peak memory, the machine), `report` (tables and Markdown), `cli` (flags).
"""

from __future__ import annotations

import sys

from ..core.commandline import EXIT_BAD_INPUT, quiet_libraries
from ..core.errors import StudioError
from .arch import arch_bench
from .cli import build_parser, flag_problem, print_figures
from .studio import studio_bench

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run the bench the flags ask for and print its figures; bad input is one line on stderr and exit code 2."""
    args = build_parser(__doc__.splitlines()[0]).parse_args(argv)  # the docstring's first line describes it
    problem = flag_problem(args)
    if problem:
        return _fail(problem)
    quiet_libraries()
    threads = _set_threads(args.threads)
    try:
        if args.workers:
            from .workers import workers_bench

            data = workers_bench(args)
        elif args.arch:
            if args.device.startswith("cuda") and not _cuda_available():
                return _fail("no CUDA device here; use --device cpu (with --arch tiny)")
            data = arch_bench(args)
        else:
            args.width, args.height, args.frames = args.width or 384, args.height or 256, args.frames or 25
            data = studio_bench(args)
    except StudioError as exc:
        return _fail(str(exc))
    finally:
        _set_threads(threads)
    data["machine"]["torch_threads"] = args.threads or threads
    print_figures(data, args, argv)
    if "error" in data.get("chosen", {}):
        return _fail(f"not saved: {data['chosen']['error']}")
    return 0


def _set_threads(count: int | None) -> int:
    """Set torch's CPU threads (when `count` is given); the count before, to put back."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    return before


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return EXIT_BAD_INPUT
