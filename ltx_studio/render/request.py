"""What a person asks for: a `RenderRequest`, loose and unchecked (plan.py checks and snaps it).

Its own module, importing nothing heavy, so the page and scripts build requests without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from ..library.sound import Soundtrack


@dataclass
class RenderRequest:
    """What a person asks for. Anything left None takes the variant's default."""

    prompt: str = ""
    negative_prompt: str | None = None
    variant: str | None = None
    seed: int = -1  # -1: random; the seed used is always recorded
    width: int | None = None
    height: int | None = None
    resolution: str | None = None  # a preset of sizing.RESOLUTIONS, instead of width/height
    frames: int | None = None
    seconds: float | str | None = None  # instead of frames; "auto": the model picks (LTX-2.5's duration head)
    fps: int | None = None
    steps: int | None = None
    guidance: float | None = None
    image: str | Path | Image.Image | None = None  # first frame
    audio: bool = True  # the soundtrack, for model sets that make one (LTX-2); False: a silent mp4
    typed_prompt: str | None = None  # what the person typed, when `prompt` is its enhanced rewrite
    keyframes: list = field(default_factory=list)  # {image, seconds, strength}: images the clip passes through
    video: str | Path | list | None = None  # a source video (file or frames) to restyle or continue
    video_strength: float = 1.0
    video_frames: int | None = None  # use at most this many of the source video's first frames
    loras: list = field(default_factory=list)  # "NAME[:WEIGHT]", (name, weight) or {"lora", "weight"}: loras.choose
    reference: str | Path | list | None = None  # IC-LoRA control (LTX-2): depth, pose or edges video
    reference_strength: float = 1.0
    camera: str | None = None  # a camera move (camera.NAMES): the set's camera-control LoRA
    soundtrack: str | Path | Soundtrack | None = None  # audio-to-video (LTX-2): the picture follows this sound
    soundtrack_start: float = 0.0  # seconds into the soundtrack
