"""The "will it fit" check: a render's size against the memory plan for this card and host (models/policy.py), checked
before anything is queued, so a request that cannot fit is one line naming the longest clip that does, not
an out-of-memory error minutes later. The plan's figures are estimates (policy.py says from what); a plan
not made for a device (the CPU, a policy built by hand) refuses nothing."""

from __future__ import annotations

from ..core.errors import BadInput


def check_fits(policy, width: int, height: int, frames: int, fps: float, *, guided: bool = False) -> None:
    """BadInput when a render of `frames` at `width`x`height` does not fit `policy`'s room on the device."""
    if policy.fits(width, height, frames, guided=guided):
        return
    most = policy.max_frames(width, height, guided=guided)
    room = f"{policy.room_bytes / 1024**3:.1f} GiB left for a render on {policy.device}"
    asked = f"{frames} frames ({(frames - 1) / fps:.2f} s) at {width}x{height}"
    if most:
        raise BadInput(
            f"{asked} does not fit this card's memory plan ({room}): the longest clip that fits at this size "
            f"is {most} frames ({(most - 1) / fps:.2f} s); make it shorter or smaller"
        )
    raise BadInput(
        f"{asked} does not fit this card's memory plan ({room}): no clip this large fits; choose a smaller size"
    )
