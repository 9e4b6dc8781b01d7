"""Timing and memory for every bench: interleaved A/B medians, peak resident memory, the machine."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable


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


def interleaved(
    a: Callable[[], object], b: Callable[[], object], repeat: int, warmup: int
) -> tuple[float, float, float]:
    """Median seconds of `a()` and `b()` run alternately (warm-up first), and the peak RSS in MB.

    Each callable may return its own measured seconds (to leave out work the other side skips);
    otherwise its wall time counts.
    """
    times = {a: [], b: []}
    with PeakRSS() as rss:
        for i in range(warmup + repeat):
            for fn in (a, b) if i % 2 == 0 else (b, a):
                started = time.perf_counter()
                measured = fn()
                elapsed = measured if isinstance(measured, float) else time.perf_counter() - started
                if i >= warmup:
                    times[fn].append(elapsed)
    return statistics.median(times[a]), statistics.median(times[b]), rss.peak / 2**20


def machine_info(device: str | None = None) -> dict:
    """CPU, core count, Python, torch, the GPU `device` names (if any) and today's date, for the record."""
    import os
    import platform

    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    info |= {"python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device) if str(device).startswith("cuda") else 0)
    info["date"] = time.strftime("%Y-%m-%d")
    return info
