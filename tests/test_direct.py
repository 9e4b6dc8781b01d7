"""Direct the shot: keyframes, extend a take, video-to-video, on both families' tiny sets. Real
diffusers code, nothing mocked; picture comparisons go through the stored latents and mp4s."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIRST_FRAMES, small
from safetensors.torch import load_file

from ltx_studio.core.errors import BadInput
from ltx_studio.library import media
from ltx_studio.models.families import get_family
from ltx_studio.render.request import RenderRequest
from ltx_studio.studio import Studio

ROCKET, COFFEE = str(FIRST_FRAMES / "rocket.jpg"), str(FIRST_FRAMES / "coffee.png")


@pytest.fixture(scope="module")
def ltxv_studio(tmp_path_factory):
    return Studio(model_set_name="demo-ltxv", outputs=tmp_path_factory.mktemp("ltxv"))


def latents(take):
    return load_file(str(take.path("latents")))["latents"]


@pytest.mark.parametrize("which", ["ltx2", "ltxv"])
def test_a_last_keyframe_steers_the_end_and_lands_where_the_take_says(which, studio, ltxv_studio):
    studio = studio if which == "ltx2" else ltxv_studio
    first_only = studio.render(small(frames=25, image=ROCKET))
    both = studio.render(small(frames=25, image=ROCKET, keyframes=[{"image": COFFEE, "seconds": 1.0}]))
    assert not latents(first_only)[:, :, -1].equal(latents(both)[:, :, -1])  # the end follows the last frame
    index, frame = get_family(which).keyframe_index(24, 25)
    assert both.settings["keyframes"] == [
        {"name": "coffee.png", "seconds": 1.0, "frame": frame, "strength": 1.0, "file": "keyframe-0.png"}
    ]
    pro = studio.upscale(both.id, mode="pro", width=96, height=64)  # a Pro re-render passes through it too
    assert [k["frame"] for k in pro.settings["keyframes"]] == [frame] and pro.parent == both.id
    assert both.snapped["keyframes"] == [{"asked": 24, "used": frame}]
    assert frame == (24 if which == "ltxv" else 17)  # LTX-2's guides sit at (k - 1) * 8 + 1 for latent k < 4
    assert studio.keyframe_landing(1.0, 25, 24) == (frame, round(frame / 24, 3))  # what the page says beforehand


def test_the_page_can_say_where_a_keyframe_lands_before_anything_loads(tmp_path):
    studio = Studio(model_set_name="demo", outputs=tmp_path)
    assert studio.keyframe_landing(1.0, 25, 24) == (17, 0.708)  # LTX-2: the last guide sits 7 frames early
    assert studio.keyframe_landing(0.0, 25, 24) == (0, 0.0)
    assert studio.keyframe_landing(0.5, 24, 24) == (9, 0.375)  # 24 frames render as 25, as the plan snaps them
    with pytest.raises(BadInput, match="outside the clip"):
        studio.keyframe_landing(2.0, 25, 24)
    assert studio.manager.cached_variants() == []  # the family's rule alone: no model was loaded


def test_extend_forward_then_backward_joins_the_clip_with_its_sound(studio):
    source = studio.render(small(frames=25, seed=5))
    longer = studio.extend(source.id, 1.0)
    longest = studio.extend(longer.id, 1.0, backward=True, prompt="the cat turns around")
    assert (source.frames, longer.frames, longest.frames) == (25, 49, 73)
    assert (longer.parent, longest.parent, longest.kind) == (source.id, longer.id, "extend")
    assert longest.prompt == "the cat turns around" and longer.seed == source.seed
    assert longer.settings["extend"] == {
        "source": source.id, "seconds": 1.0, "backward": False, "overlap": 17, "new": 24,
    }  # fmt: skip
    src, fwd, back = (media.read_mp4(t.path("video"))[0].astype(np.int16) for t in (source, longer, longest))
    other = media.read_mp4(studio.render(small(frames=25, seed=6)).path("video"))[0].astype(np.int16)
    # The source's frames open the forward take and close the backward one, bit for bit: their packets are
    # copied, not encoded again, so a chain of extensions loses no generation (it lost 6.7 grey levels a link).
    assert np.array_equal(fwd[:25], src) and np.array_equal(back[-49:], fwd)
    assert np.abs(fwd[25:] - other[:24]).mean() > 1  # and the new frames are new
    for take in (longer, longest):
        sound = media.probe_mp4(take.path("video"))["audio"]
        assert take.audio and abs(sound["seconds"] - take.frames / take.fps) <= 1 / take.fps


def test_an_ltxv_take_extends_silently(ltxv_studio):
    source = ltxv_studio.render(small(frames=17))
    longer = ltxv_studio.extend(source.id, 0.5)
    assert longer.frames == 17 + 16 - 0 and not longer.audio  # overlap 17, then 16 new frames
    assert media.probe_mp4(longer.path("video"))["frames"] == longer.frames


def test_video_to_video_follows_the_clip_the_test_wrote(studio, tmp_path):
    rng = np.random.default_rng(0)
    clip = tmp_path / "clip.mp4"
    media.write_mp4(clip, rng.integers(0, 255, (30, 64, 96, 3), dtype=np.uint8), 30, {}, None, None)
    take = studio.render(small(frames=None, video=str(clip), video_strength=0.8, prompt="in watercolour"))
    assert take.frames == 17  # 30 frames at 30 fps = 24 at 24 fps, cut to 8k+1
    assert take.settings["video"]["name"] == "clip.mp4" and take.settings["video"]["strength"] == 0.8
    assert len(take.settings["video"]["sha256"]) == 64


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(keyframes=[{"image": COFFEE, "seconds": 5.0}]), "outside the clip"),
        (dict(keyframes=[{"image": "nope.png", "seconds": 0.2}]), "image not found"),
        (dict(keyframes=[{"image": COFFEE, "seconds": 0.2, "strength": 3}]), "strength must be in"),
        (dict(video="nope.mp4"), "video not found"),
    ],
)
def test_bad_keyframes_and_videos_are_one_line(studio, changes, message):
    with pytest.raises(BadInput, match=message) as raised:
        studio.render(small(**changes))
    assert "\n" not in str(raised.value)


def test_a_file_that_is_not_a_video_and_an_extension_past_the_limit_are_one_line(studio, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    with pytest.raises(BadInput, match="^fake.mp4 is not a video"):
        studio.render(small(video=str(fake)))
    source = studio.render(small())
    with pytest.raises(BadInput, match="limit: at most"):
        studio.extend(source.id, 30)
    assert [t.id for t in studio.takes()][-1] == source.id  # nothing lost


def test_the_cli_takes_keyframes_and_extends(tmp_path, capsys):
    from ltx_studio.cli import main

    common = ["--model-set", "demo", "--outputs", str(tmp_path), "--json"]
    assert main(["render", *common, "--prompt", "x", "--width", "96", "--height", "64", "--frames", "25",
                 "--keyframe", f"{ROCKET}@0", "--keyframe", f"{COFFEE}@1.0:0.7"]) == 0  # fmt: skip
    import json

    take = json.loads(capsys.readouterr().out)
    assert [k["strength"] for k in take["settings"]["keyframes"]] == [1.0, 0.7]
    assert main(["extend", take["id"], "--seconds", "0.4", *common]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 25 + 8
    assert main(["render", *common, "--prompt", "x", "--keyframe", "rocket.jpg"]) == 2
    assert "PATH@SECONDS" in capsys.readouterr().err


def test_an_extension_refuses_a_latent_upscale_in_one_line(studio):
    source = studio.render(RenderRequest(prompt="a cat", seed=1, width=96, height=64, frames=9))
    longer = studio.extend(source.id, 0.4)
    with pytest.raises(BadInput, match="is an extension: its latents hold only its new part"):
        studio.upscale(longer.id)
