"""Fault injection at real call sites, for reliability tests. Off unless LTX_STUDIO_FAULTS is set.

LTX_STUDIO_FAULTS is a comma-separated list of KIND@SITE[:COUNT]:
  KIND   oom (a CUDA out-of-memory error), enospc (a full disk), sleep=SECONDS, or hold=PATH: wait
         there until the file PATH exists (at most 10 minutes), so a test can stop or kill the process
         mid-render knowing it is there, instead of racing a sleep
  SITE   denoise, decode, write (after the video file, before the latents and the index)
  COUNT  how many times it fires in this process (default: every time)
Example: LTX_STUDIO_FAULTS=oom@denoise:1 makes the first denoise of the process run out of memory.
"""

from __future__ import annotations

import errno
import os
import threading
import time

HOLD_MAX_S = 600.0
_fired: dict[str, int] = {}
_lock = threading.Lock()


def inject(site: str) -> None:
    """Fire any fault configured for `site` (a no-op when LTX_STUDIO_FAULTS is unset)."""
    spec = os.environ.get("LTX_STUDIO_FAULTS")
    if not spec:
        return
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, _, rest = item.partition("@")
        where, _, count = rest.partition(":")
        if where != site:
            continue
        with _lock:
            fired = _fired.get(item, 0)
            if count and fired >= int(count):
                continue
            _fired[item] = fired + 1
        _fire(kind, site)


def _fire(kind: str, site: str) -> None:
    if kind == "oom":
        import torch

        raise torch.OutOfMemoryError(f"CUDA out of memory (injected at {site})")
    if kind == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {site})")
    if kind.startswith("sleep="):
        time.sleep(float(kind.split("=", 1)[1]))
        return
    if kind.startswith("hold="):
        gate, deadline = kind.split("=", 1)[1], time.monotonic() + HOLD_MAX_S
        os.makedirs(os.path.dirname(gate) or ".", exist_ok=True)
        open(f"{gate}.reached", "w").close()  # the test waits for this: the render is at the site now
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    raise ValueError(f"unknown fault {kind!r} in LTX_STUDIO_FAULTS")


def reset() -> None:
    """Forget how often faults fired (tests that change LTX_STUDIO_FAULTS call this)."""
    with _lock:
        _fired.clear()
