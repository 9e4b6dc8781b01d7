"""Finishing passes as data: a set's `passes` table in variants.toml, one entry per pass.

A pass works on a clip that exists (a take, or any uploaded video) and makes a new take from it:
- `temporal`: the frame rate x2 or x4 (a temporal x2 latent upsampler, once or twice, then a short refine
  at the new rate); with `slow = true` the same frames play at the source's rate (slow motion).
- `ic`: an IC-LoRA with the source as its reference video (repair: deblur, decompression, restore,
  colorize; a clean plate; an alpha matte with `output = "matte"`).
- `hdr`: the HDR IC-LoRA (the source as reference), decoded from LogC3 to linear light: a 10-bit HDR
  file beside an SDR take.

Each entry names its weights ("owner/repo/file.safetensors" in the HF cache, or `tiny:NAME` on a demo set,
built offline) and says in one line what it is for (`about`, shown where passes are listed)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import BadInput

PASS_KINDS = ("temporal", "ic", "hdr")
OUTPUTS = ("video", "matte")
PROMPTS = ("optional", "required", "none")
FACTORS = (2, 4)


@dataclass(frozen=True)
class Pass:
    """One finishing pass of a set (see the module's docstring)."""

    name: str
    kind: str
    about: str
    lora: str | None = None  # ic, hdr: the IC-LoRA ("owner/repo/file" or tiny:)
    upsampler: str | None = None  # temporal: the x2 temporal latent upsampler ("owner/repo/file" or tiny:)
    slow: bool = False  # temporal: play the new frames at the source's rate (slow motion, sound dropped)
    prompt: str = "optional"  # "required": the pass needs a prompt (a clean plate: what to remove)
    default_prompt: str = ""  # the prompt when none is given and the source has none
    output: str = "video"  # "matte": the decoded clip is an alpha matte (alpha.mov beside it)
    variant: str | None = None  # the variant whose transformer runs it (None: the set's default)
    steps: int | None = None  # the refine's steps (temporal) or the render's (None: the variant's)

    @property
    def factors(self) -> tuple[int, ...]:
        return FACTORS if self.kind == "temporal" else (1,)


def parse_passes(data, where: str, origin: str, variants) -> dict[str, Pass]:
    """A set's `passes` table ({name: {kind, about, ...}}) as Pass values, or BadInput with one line."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"{origin}: {where}.passes must be a table of passes")
    found = {}
    for name, raw in data.items():
        at = f"{origin}: {where}.passes.{name}"
        if not isinstance(raw, dict):
            raise BadInput(f"{at} must be a table (kind, about, ...)")
        unknown = set(raw) - {f for f in Pass.__dataclass_fields__ if f != "name"}
        if unknown:
            raise BadInput(f"{at}: unknown key {sorted(unknown)[0]!r}")
        try:
            found[name] = one = Pass(name=name, **raw)
        except TypeError as exc:
            raise BadInput(f"{at}: {exc}") from None
        _check(one, at, variants)
    return found


def _check(one: Pass, at: str, variants) -> None:
    if one.kind not in PASS_KINDS:
        raise BadInput(f"{at}.kind {one.kind!r} is not one of: {', '.join(PASS_KINDS)}")
    if not isinstance(one.about, str) or not one.about.strip():
        raise BadInput(f"{at}.about must say in one line what the pass is for")
    if one.output not in OUTPUTS or one.prompt not in PROMPTS:
        raise BadInput(f"{at}: output is one of {', '.join(OUTPUTS)}; prompt one of {', '.join(PROMPTS)}")
    weights = one.upsampler if one.kind == "temporal" else one.lora
    key = "upsampler" if one.kind == "temporal" else "lora"
    if not isinstance(weights, str) or not _weights_name(weights):
        raise BadInput(f"{at}.{key} must be a Hub file (owner/repo/file.safetensors) or tiny:NAME on a demo set")
    if one.variant is not None and one.variant not in variants:
        raise BadInput(f"{at}.variant {one.variant!r} is not one of the set's variants")
    if one.steps is not None and (not isinstance(one.steps, int) or one.steps < 1):
        raise BadInput(f"{at}.steps must be a whole number of steps, 1 or more")


def _weights_name(name: str) -> bool:
    return name.startswith("tiny:") or (name.count("/") >= 2 and name.endswith(".safetensors"))
