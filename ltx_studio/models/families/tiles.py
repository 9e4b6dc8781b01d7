"""A denoise too large for the card, in spatial tiles: each step runs the LTX-2 transformer once per tile and
blends the tiles' predictions into one (the DFR epilogue's plan: diffusers' `dfr_layout.epilogue_tiles`).

Height and width are each cut in two, overlapping by `OVERLAP` latent cells; across an overlap the two tiles'
weights ramp linearly and sum to exactly one, so a prediction the tiles agree on comes through unchanged.
One sampler steps the whole canvas, so the tiles agree on their overlaps at every step. Tokens appended
after the clip's grid (keyframes, a reference) go to every tile and their predictions are averaged; the
sound's prediction is averaged over the tiles too. Positions stay absolute: RoPE sees only their differences,
so a tile's tokens attend to each other exactly as they would in the whole canvas.

The memory plan (models/policy.py) decides when a render is tiled; this holds the transformer's forward
in tiles for as long as the block runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

OVERLAP = 12  # latent cells each cut shares (dfr_layout.EPILOGUE_SPATIAL_OVERLAP)
SPLITS = 2  # per spatial axis: 4 tiles


def spans(size: int, parts: int = SPLITS, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    """[start, end) of `parts` windows over `size` cells, neighbours sharing `overlap` (less where too small)."""
    if parts <= 1 or size < 2 * parts:
        return [(0, size)]
    overlap = min(overlap, size // parts)
    step = (size - overlap) / parts
    return [(round(i * step), min(size, round(i * step + step + overlap))) for i in range(parts)]


def ramp(size: int, window: tuple[int, int], neighbours: list[tuple[int, int]]) -> torch.Tensor:
    """A window's weight along one axis: 1 inside, rising across the overlap with the window before it and
    falling across the one with the window after it (linear, so two overlapping windows sum to one)."""
    start, end = window
    weight = torch.zeros(size)
    weight[start:end] = 1.0
    for other in neighbours:
        if other == window:
            continue
        a, b = max(start, other[0]), min(end, other[1])
        if b <= a:
            continue
        rising = torch.linspace(0, 1, b - a + 2)[1:-1]
        weight[a:b] = rising if other[0] < start else rising.flip(0)
    return weight


def largest_tile(height: int, width: int) -> tuple[int, int]:
    """The latent (height, width) of the largest tile over a grid of that size."""
    return max(b - a for a, b in spans(height)), max(b - a for a, b in spans(width))


def tile_plan(frames: int, height: int, width: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(token indices, blend weights) of each tile over a latent grid packed frame by frame, row by row."""
    rows, cols = spans(height), spans(width)
    grid = torch.arange(frames * height * width).reshape(frames, height, width)
    plan = []
    for r in rows:
        for c in cols:
            weight = ramp(height, r, rows)[:, None] * ramp(width, c, cols)[None, :]
            index = grid[:, r[0] : r[1], c[0] : c[1]].reshape(-1)
            plan.append((index, weight[r[0] : r[1], c[0] : c[1]].expand(frames, -1, -1).reshape(-1)))
    return plan


PER_TOKEN = ("timestep", "sigma", "video_keyframes_mask", "perturbation_mask")  # video inputs that may be per token


def _take(name: str, value, index: torch.Tensor, count: int, dim: int = 1):
    """A video input restricted to the tokens `index` along `dim` where it is per token (length `count`), else
    as is (the sound's and the text's inputs are never cut, whatever their lengths)."""
    if name in PER_TOKEN and torch.is_tensor(value) and value.dim() > dim and value.shape[dim] == count:
        return value.index_select(dim, index.to(value.device))
    return value


@contextlib.contextmanager
def tiled(transformer, frames: int, height: int, width: int, step_cache=None) -> Iterator[int]:
    """Run `transformer`'s forward in spatial tiles over a (frames, height, width) latent grid while the block
    runs (its hooks, which hold tokens and record inputs, still see the whole canvas). Yields the tile count.
    A step cache (`step_cache`: its diffusers config) would compare one tile's blocks with another's: it is
    off while the block runs, and on again after."""
    plan = tile_plan(frames, height, width)
    if len(plan) == 1:
        yield 1
        return
    cached = step_cache is not None and getattr(transformer, "is_cache_enabled", False)
    if cached:
        transformer.disable_cache()
    whole = transformer.forward  # (whatever it is now: the class's, or an offload hook's wrapper)

    def forward(hidden_states, *args, **kwargs):
        batch, count = hidden_states.shape[:2]
        main = frames * height * width
        extra = torch.arange(main, count)
        coords = kwargs.get("video_coords")
        if coords is None:
            fps = kwargs.get("fps", 24.0)
            coords = transformer.rope.prepare_video_coords(batch, frames, height, width, hidden_states.device, fps=fps)
            if count > main:
                raise ValueError("tokens beyond the grid need their positions given (video_coords)")
        kwargs.pop("return_dict", None)
        video, sound = torch.zeros_like(hidden_states, dtype=torch.float32), None
        for index, weight in plan:
            tokens = torch.cat([index, extra])
            part = {key: _take(key, value, tokens, count) for key, value in kwargs.items()}
            part["video_coords"] = coords.index_select(2, tokens.to(coords.device))
            mask = kwargs.get("video_self_attention_mask")
            if torch.is_tensor(mask) and mask.shape[-1] == count:
                part["video_self_attention_mask"] = mask.index_select(-1, tokens.to(mask.device)).index_select(
                    -2, tokens.to(mask.device)
                )
            h, w = len(set((index // width % height).tolist())), len(set((index % width).tolist()))
            part.update(num_frames=frames, height=h, width=w)
            out_video, out_sound = whole(hidden_states.index_select(1, tokens.to(hidden_states.device)), *args,
                                         **part, return_dict=False)  # fmt: skip
            share = torch.cat([weight, torch.full((len(extra),), 1.0 / len(plan))]).to(out_video.device)
            video.index_add_(1, tokens.to(video.device), out_video.float() * share[None, :, None])
            if out_sound is not None:
                sound = out_sound.float() / len(plan) if sound is None else sound + out_sound.float() / len(plan)
        dtype = hidden_states.dtype
        return video.to(dtype), (sound.to(dtype) if sound is not None else None)

    own = transformer.__dict__.get("forward")  # an offload hook's wrapper, if one is there
    transformer.forward = forward
    try:
        yield len(plan)
    finally:
        if own is None:
            del transformer.forward  # the class's own again
        else:
            transformer.forward = own
        if cached:
            transformer.enable_cache(step_cache)
