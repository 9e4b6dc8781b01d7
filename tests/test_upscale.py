"""Approve a draft and make its final: latent upscale x2 + refine, or re-render with Pro."""

from __future__ import annotations

import pytest
from conftest import FIRST_FRAMES, small
from safetensors.torch import load_file

from ltx_studio.core.events import Preview
from ltx_studio.library import media


def test_approve_and_upscale_a_draft_the_new_take_is_2x_and_points_at_its_parent(studio):
    draft = studio.render(small(frames=17))
    events = []

    final = studio.upscale(draft.id, on_event=events.append)

    assert (final.width, final.height, final.frames) == (2 * draft.width, 2 * draft.height, draft.frames)
    assert final.parent == draft.id and final.kind == "upscale"
    assert (final.seed, final.prompt, final.variant) == (draft.seed, draft.prompt, draft.variant)
    assert media.read_mp4(final.path("video"))[0].shape == (17, 128, 192, 3)
    assert tuple(load_file(str(final.path("latents")))["latents"].shape) == (1, 128, 3, 4, 6)
    assert "upsample" in final.timings
    assert any(isinstance(e, Preview) for e in events)
    assert studio.take(draft.id).approved
    assert [t.id for t in studio.store.children(draft.id)] == [final.id]


def test_an_image_to_video_draft_upscales_with_its_first_frame(studio):
    draft = studio.render(small(image=FIRST_FRAMES / "coffee.png", width=96, height=64))
    final = studio.upscale(draft.id)
    assert final.image == "first_frame.png"
    # The final is conditioned on the photo itself (600x400), re-fitted at 2x, not on the draft's small copy.
    assert media.load_image(final.path("image")).size == (600, 400)


def test_re_render_with_pro_keeps_the_settings_at_full_resolution(studio, demo):
    draft = studio.render(small(variant="fast"))

    final = studio.upscale(draft.id, mode="pro")

    pro = demo.variants["pro"]
    assert final.variant == "pro" and final.kind == "pro" and final.parent == draft.id
    assert final.seed == draft.seed and final.prompt == draft.prompt
    assert final.width * final.height >= 0.9 * pro.full_size[0] * pro.full_size[1]
    assert abs(final.width / final.height - draft.width / draft.height) < 0.1
    assert final.guidance == pro.sampling.guidance


def test_re_render_with_pro_at_a_chosen_size(studio):
    draft = studio.render(small())
    final = studio.upscale(draft.id, mode="pro", width=192, height=128)
    assert (final.width, final.height) == (192, 128)


def test_a_draft_too_large_for_2x_says_so_and_points_at_pro(studio):
    from ltx_studio.core.errors import BadInput

    draft = studio.render(small(width=768, height=512))
    with pytest.raises(BadInput, match="too large for a 2x upscale .* Re-render with Pro"):
        studio.upscale(draft.id)
    assert [t.id for t in studio.takes()] == [draft.id] and not studio.take(draft.id).approved


def test_a_take_from_another_model_set_is_not_upscaled_with_this_one(studio, tmp_path):
    import json

    from ltx_studio.core.errors import BadInput

    draft = studio.render(small())
    record = json.loads(draft.path("record").read_text())
    record["model_set"] = "ltxv"
    draft.path("record").write_text(json.dumps(record))
    studio.store._insert(studio.store.get(draft.id).__class__.from_record(record, draft.path("record").parent))
    with pytest.raises(BadInput, match="made with model set 'ltxv'"):
        studio.upscale(draft.id)


def test_re_render_with_pro_uses_pro_steps_not_the_drafts(studio, demo):
    draft = studio.render(small(steps=3))
    final = studio.upscale(draft.id, mode="pro")
    pro, refine = demo.variants["pro"].sampling, demo.variants["distilled"].sampling
    assert draft.steps == 3 and final.steps == pro.steps + len(
        refine.refine_sigmas
    )  # two stages: dev, distilled refine
    assert [s["variant"] for s in final.settings["stages"]] == ["pro", "distilled"]
