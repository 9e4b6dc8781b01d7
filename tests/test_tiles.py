"""A denoise in spatial tiles (models/families/tiles.py): the blend, the plan, and a render that uses it."""

from __future__ import annotations

from dataclasses import replace

import torch
from recording import recording

from ltx_studio.models.families.tiles import spans, tile_plan, tiled
from ltx_studio.models.policy import activation_bytes
from ltx_studio.render.request import RenderRequest


def test_the_tiles_cover_the_canvas_and_their_weights_sum_to_one():
    assert spans(68) == [(0, 40), (28, 68)] and spans(120) == [(0, 66), (54, 120)]  # diffusers' 4K epilogue tiles
    for height, width in [(4, 6), (16, 24), (68, 120)]:
        total = torch.zeros(3 * height * width)
        for index, weight in tile_plan(3, height, width):
            total.index_add_(0, index, weight)
        assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


class _Doubler(torch.nn.Module):
    """A transformer stand-in whose prediction of each token is twice the token: what tiles must not change."""

    def forward(self, hidden_states, audio_hidden_states=None, video_coords=None, return_dict=True, **kwargs):
        assert video_coords.shape[2] == hidden_states.shape[1]  # each tile's positions are its tokens'
        return hidden_states * 2, audio_hidden_states


def test_a_prediction_the_tiles_agree_on_comes_through_unchanged():
    model, hidden = _Doubler(), torch.randn(2, 3 * 8 * 10 + 5, 16)  # 5 tokens appended after the grid
    coords = torch.randn(2, 3, hidden.shape[1], 2)
    with tiled(model, 3, 8, 10) as tiles:
        video, audio = model(hidden, audio_hidden_states=torch.ones(2, 7, 4), video_coords=coords, return_dict=False)
    assert tiles == 4 and torch.allclose(video, hidden * 2, atol=1e-5) and torch.allclose(audio, torch.ones(2, 7, 4))
    assert "forward" not in model.__dict__  # the class's own forward again


def test_a_render_too_large_for_the_room_denoises_in_tiles(studio, monkeypatch):
    policy = studio.manager.policy
    whole = activation_bytes(384, 256, 9, tiled=False)
    monkeypatch.setattr(studio.manager, "policy", replace(policy, room_bytes=whole - 1, vae_tiling=False))
    assert studio.manager.policy.denoise_tiles_for(384, 256, 9) == 4  # whole it does not fit; in tiles it does
    transformer = studio.manager.get("fast").transformer
    seen = []
    handle = transformer.transformer_blocks[0].register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs["hidden_states"].shape[1]), with_kwargs=True
    )
    try:
        with recording(studio, "fast") as calls:
            take = studio.render(
                RenderRequest(prompt="a wide harbour", frames=9, width=384, height=256, variant="fast")
            )
    finally:
        handle.remove()
    assert take.frames == 9 and calls
    assert len(seen) == 4 * len(calls)  # each step's transformer call ran once per tile
    assert max(seen) < calls[0].main_tokens  # over a part of the canvas each time
    monkeypatch.setattr(studio.manager, "policy", replace(policy, room_bytes=whole // 4, vae_tiling=False))
    assert studio.manager.policy.denoise_tiles_for(384, 256, 9) == 0  # not even in tiles
