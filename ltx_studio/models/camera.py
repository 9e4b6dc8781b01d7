"""Camera moves: dolly in/out/left/right, jib up/down, static. Each is a camera-control LoRA named in
the model set's `cameras` table (data in variants.toml), applied through the LoRA machinery (loras.py:
no transformer reload; read once per process). LTX-2 sets use Lightricks' camera-control LoRAs
(trained on LTX-2 19B, used on LTX-2.3 too); the demo sets get tiny ones built offline, so the same
path runs in tests. A camera LoRA is never downloaded here: a missing one is one line with the command.
"""

from __future__ import annotations

from ..core.errors import BadInput
from .set_loras import set_lora
from .variants import CAMERA_MOVES as NAMES


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
    what = f"the {name} camera move"
    return set_lora(model_set, source, what, tiny_name=f"camera-{name}", seed=1000 + NAMES.index(name))
