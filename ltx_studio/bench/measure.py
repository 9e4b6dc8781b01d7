"""Timing and memory for every bench: interleaved A/B samples and their spread, peak resident memory, the machine."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# A median ratio's 95% interval is about median +- 1.58 * IQR / sqrt(n) (McGill, Tukey and Larsen's
# notched box plots); it is computed over the ratios of the interleaved pairs, so slow drift of the
# machine (the same for both sides of a pair) does not widen it.
NOTCH = 1.58
MIN_RUNS_FOR_SPREAD = 4  # fewer runs give no usable quartiles: the row says so instead of guessing
RESOLVE = 0.03  # a row must resolve a 3% difference, or say that it does not


class PeakRSS:
    """Samples this process's resident memory every few milliseconds; `.peak` in bytes."""

    def __init__(self, every: float = 0.005):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096

    def __enter__(self):
        self.peak = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.now())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


@dataclass
class Samples:
    """The seconds of every timed run of both sides of a comparison, in the order they ran (pairs)."""

    a: list[float]
    b: list[float]
    peak_rss_mb: float = 0.0

    @staticmethod
    def summary(values: list[float]) -> dict:
        return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": len(values)}

    @property
    def ratio(self) -> float:
        """Median of A over median of B."""
        b = statistics.median(self.b)
        return statistics.median(self.a) / b if b else float("inf")

    @property
    def pair_ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.a, self.b, strict=True) if b]

    @property
    def resolution(self) -> float | None:
        """Half-width of the ratio's ~95% interval (relative, e.g. 0.02 = +-2%), or None with too few runs."""
        ratios = self.pair_ratios
        if len(ratios) < MIN_RUNS_FOR_SPREAD:
            return None
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        return NOTCH * (q3 - q1) / len(ratios) ** 0.5

    def verdict(self, goal: float | None) -> str:
        """What the spread lets us say: the goal met or missed, or the difference not distinguishable."""
        half = self.resolution
        if half is None:
            return f"too few runs to judge the spread (need {MIN_RUNS_FOR_SPREAD})"
        low, high = self.ratio - half, self.ratio + half
        if goal is not None and high <= goal:
            judged = f"meets <= {goal:g}"
        elif goal is not None and low > goal:
            judged = f"misses <= {goal:g}"
        elif goal is not None:
            judged = f"within the spread of <= {goal:g}: not distinguishable"
        elif low > 1:
            judged = "A slower"
        elif high < 1:
            judged = "A faster"
        else:
            judged = "no difference distinguishable"
        if half > RESOLVE:
            judged += f"; a {RESOLVE:.0%} difference is not distinguishable from this spread"
        return judged


def interleaved(a: Callable[[], object], b: Callable[[], object], repeat: int, warmup: int) -> Samples:
    """Seconds of `a()` and `b()` run alternately (warm-up first, order swapped every round), and the peak RSS.

    Each callable may return its own measured seconds (to leave out work the other side skips);
    otherwise its wall time counts.
    """
    times: dict[Callable, list[float]] = {a: [], b: []}
    with PeakRSS() as rss:
        for i in range(warmup + repeat):
            for fn in (a, b) if i % 2 == 0 else (b, a):
                started = time.perf_counter()
                measured = fn()
                elapsed = measured if isinstance(measured, float) else time.perf_counter() - started
                if i >= warmup:
                    times[fn].append(elapsed)
    return Samples(times[a], times[b], rss.peak / 2**20)


def machine_info(device: str | None = None) -> dict:
    """CPU, core count, Python, torch, diffusers, transformers, the GPU `device` names (if any), today's date
    and the code's commit, for the record."""
    import os
    import platform

    import diffusers
    import torch
    import transformers

    info = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    info |= {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__}
    info["transformers"] = transformers.__version__
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device) if str(device).startswith("cuda") else 0)
    info["date"] = time.strftime("%Y-%m-%d")
    info["commit"] = code_commit()
    return info


def code_commit() -> str:
    """The commit of the code that ran (with "+changes" when the work tree differs from it), or "unknown"."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=here.parent.parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")
