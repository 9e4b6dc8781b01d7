"""Benchmarks that print their figures: python -m ltx_studio bench [--arch ARCH] [--json].

Without --arch: the studio against itself and against bare diffusers on one loaded model set
(default `demo`), every comparison measured side by side in one run, interleaved, median of
--repeat runs after --warmup, reported as a ratio:

- overhead   the studio's draft path vs a bare `LTXConditionPipeline` call with identical arguments
- switch     a cached variant switch vs a cold load of the same transformer (and bytes loaded)
- prompt     a render with a cached prompt embedding vs one that runs the text encoder
- preview    seconds per denoising step with the live preview on vs off

With --arch tiny|ltxv-2b|ltxv-13b: real-size architectures with random weights (same FLOPs as real
weights) run the studio's full draft path (text encoding, denoise, decode, mp4 write) per stage,
with peak memory, for each speed lever on and off (--levers).

Modules: `studio` (the comparisons without --arch), `arch` (the --arch runs), `levers` (which
configurations to sweep, judging them against the baseline, --save), `measure` (timing, peak
memory, the machine), `cli` (flags and printing).
"""

from __future__ import annotations

import sys

from ..commandline import EXIT_BAD_INPUT, quiet_libraries
from ..errors import StudioError
from .arch import arch_bench
from .cli import build_parser, flag_problem, print_figures
from .studio import studio_bench

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run the bench the flags ask for and print its figures; bad input is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    problem = flag_problem(args)
    if problem:
        return _fail(problem)
    quiet_libraries()
    try:
        if args.arch:
            if args.device.startswith("cuda") and not _cuda_available():
                return _fail("no CUDA device here; use --device cpu (with --arch tiny)")
            data = arch_bench(args)
        else:
            args.width, args.height, args.frames = args.width or 384, args.height or 256, args.frames or 25
            data = studio_bench(args)
    except StudioError as exc:
        return _fail(str(exc))
    print_figures(data, args.json)
    if "error" in data.get("chosen", {}):
        return _fail(f"not saved: {data['chosen']['error']}")
    return 0


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return EXIT_BAD_INPUT
