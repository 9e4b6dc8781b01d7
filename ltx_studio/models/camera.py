"""Camera moves: dolly in/out/left/right, jib up/down, static. Each is a camera-control LoRA named in
the model set's `cameras` table (data in variants.toml), applied through the LoRA machinery (loras.py:
no transformer reload; read once per process). LTX-2 sets use Lightricks' camera-control LoRAs
(trained on LTX-2 19B, used on LTX-2.3 too); the demo sets get tiny ones built offline, so the same
path runs in tests. A camera LoRA is never downloaded here: a missing one is one line with the command.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import BadInput, WeightsMissing

NAMES = ("dolly-in", "dolly-out", "dolly-left", "dolly-right", "jib-up", "jib-down", "static")
TINY_PREFIX = "tiny:"


def camera_lora(model_set, name: str) -> str:
    """The LoRA file (a path) of a camera move on `model_set`, or a one-line error."""
    name = (name or "").strip().lower()
    if name not in NAMES:
        raise BadInput(f"unknown camera move {name!r} (choose from: {', '.join(NAMES)})")
    if not model_set.cameras:
        with_cameras = "LTX-2 sets (ltx2, ltx2-19b, demo)"
        raise BadInput(f"model set {model_set.name!r} has no camera moves; they come with {with_cameras}")
    source = model_set.cameras.get(name)
    if source is None:
        raise BadInput(
            f"model set {model_set.name!r} has no {name!r} camera move (it has: {', '.join(model_set.cameras)})"
        )
    if source.startswith(TINY_PREFIX):
        from .tiny import ensure_camera_lora

        return str(ensure_camera_lora(model_set, name))
    from .loras import _hub_cached

    found = _hub_cached(source)
    if found is None or not Path(found).is_file():
        owner, repo, file = (source.split("/", 2) + ["", ""])[:3]
        repo = f"{owner}/{repo}"
        raise WeightsMissing(
            f"the {name} camera move needs {repo} ({file}), which is not on this machine: hf download {repo} {file}"
        )
    return str(found)
