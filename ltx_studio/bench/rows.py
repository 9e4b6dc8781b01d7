"""What the studio bench's comparisons are made of: a `Row` (every timed run of A and B, and what they say)
and the `StudioSetup` every comparison runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .measure import Samples, interleaved

if TYPE_CHECKING:
    from ..models.manager import PipelineManager
    from ..render.plan import RenderPlan
    from ..render.request import RenderRequest
    from ..studio import Studio


@dataclass
class Row:
    """One comparison: every timed run of A and B, the ratio of their medians, a goal (a ratio) and peak memory."""

    case: str
    a_label: str
    b_label: str
    samples: Samples
    goal: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        s = self.samples
        resolution = s.resolution
        pair = s.pair_ratios
        return {
            "case": self.case,
            "a": {"label": self.a_label, **_rounded(Samples.summary(s.a)), "seconds": [round(x, 5) for x in s.a]},
            "b": {"label": self.b_label, **_rounded(Samples.summary(s.b)), "seconds": [round(x, 5) for x in s.b]},
            "ratio": round(s.ratio, 4),  # median of A / median of B
            "pair_ratio_range": [round(min(pair), 4), round(max(pair), 4)] if pair else None,
            "resolution": None if resolution is None else round(resolution, 4),  # +- on the ratio, ~95%
            "goal": self.goal,
            "verdict": s.verdict(self.goal),
            "note": self.note,
            "peak_rss_mb": round(s.peak_rss_mb, 1),
            **self.extra,
        }


def _rounded(summary: dict) -> dict:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in summary.items()}


@dataclass
class StudioSetup:
    """What every comparison runs on: one Studio over a loaded model set, one request and its plan."""

    studio: Studio
    request: RenderRequest
    plan: RenderPlan
    pipe: object
    outputs: Path
    repeat: int
    warmup: int

    @property
    def manager(self) -> PipelineManager:
        return self.studio.manager

    def compare(self, a, b) -> Samples:
        return interleaved(a, b, self.repeat, self.warmup)
